"""A stage's requests as numpy columns, for what resamples them (compare's bootstrap): polars
selects, numpy resamples, and no DataFrame leaves the engine."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl
from numpy.typing import NDArray


@dataclass(frozen=True)
class RequestArrays:
    """One stage's sent main requests: latency (ms), failure, completion time (s), and each
    handoff's duration (ms) over the requests that reported it."""

    latency_ms: NDArray[np.float64]
    failed: NDArray[np.bool_]
    done_s: NDArray[np.float64]
    handoffs: dict[str, NDArray[np.float64]] = field(default_factory=dict)

    @classmethod
    def of(cls, rows: pl.DataFrame, failed: pl.Expr, handoff_names: tuple[str, ...]) -> RequestArrays:
        latency = rows.get_column("latency_ms").fill_null(0.0).to_numpy().astype(np.float64)
        answered = rows.filter(pl.col("status") > 0)
        done = (answered.get_column("start") + answered.get_column("latency_ms") / 1000.0).to_numpy()
        return cls(
            latency_ms=latency,
            failed=rows.select(failed).to_series().fill_null(True).to_numpy().astype(np.bool_),
            done_s=np.sort(done.astype(np.float64)),
            handoffs={n: rows.get_column(n).drop_nulls().to_numpy().astype(np.float64) for n in handoff_names},
        )


@dataclass(frozen=True)
class SpanArrays:
    """The sent main requests started in a span of time, in start order: what a timeline's events
    are read from (analysis/transients/). Times are epoch seconds."""

    start_s: NDArray[np.float64]
    latency_ms: NDArray[np.float64]
    failed: NDArray[np.bool_]
    answered: NDArray[np.bool_]  # a response came (status > 0), failed or not
    status: NDArray[np.int64]

    @classmethod
    def of(cls, rows: pl.DataFrame, failed: pl.Expr) -> SpanArrays:
        rows = rows.sort("start")
        return cls(
            start_s=rows.get_column("start").to_numpy().astype(np.float64),
            latency_ms=rows.get_column("latency_ms").fill_null(0.0).to_numpy().astype(np.float64),
            failed=rows.select(failed).to_series().fill_null(True).to_numpy().astype(np.bool_),
            answered=(rows.get_column("status").fill_null(0) > 0).to_numpy().astype(np.bool_),
            status=rows.get_column("status").fill_null(0).to_numpy().astype(np.int64),
        )

    def __len__(self) -> int:
        return int(self.start_s.size)
