"""requests.csv through the engine: per-stage tallies, percentiles and handoffs, no per-row Python.

Rows a crash cut short, or whose numbers do not parse or are not finite, are left out (a crash
can cut at most the last rows). Percentiles are exact order statistics with linear interpolation
between closest ranks (numpy's default), never Locust's buckets.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from profiler.runfolder.engine.read import read_tolerant
from profiler.runfolder.engine.timing_v1 import parse_other_column, parse_raw_timing
from profiler.runfolder.records import (
    FLAG_CHUNKED,
    FLAG_COOKIE,
    FLAG_EVENT_STREAM,
    FLAG_TIMED,
    KIND_MAIN,
    KIND_PROBE,
    REQUEST_COLUMNS,
    REQUEST_COLUMNS_V1,
    SLOT_COLUMNS,
    UNSENT,
)

PERCENTILES = (50, 90, 95, 99)
_TYPES: dict[str, type[pl.DataType]] = {
    "start": pl.Float64,
    "latency_ms": pl.Float64,
    "ttfb_ms": pl.Float64,
    "status": pl.Int64,
    "bytes": pl.Int64,
    "stage": pl.Int32,
    "server_ms": pl.Float64,
    "timing_malformed": pl.Int64,
    **dict.fromkeys(SLOT_COLUMNS, pl.Float64),
}
_REQUIRED = ("start", "latency_ms", "ttfb_ms", "status", "stage", "kind")


@dataclass(frozen=True, slots=True)
class Distribution:
    """Exact order statistics of a set of durations (ms); all 0 when there are none."""

    count: int
    mean: float
    p50: float
    p90: float
    p95: float
    p99: float
    max: float


@dataclass(frozen=True, slots=True)
class StageTally:
    """The main requests sent in one stage (probe requests apart, in `probe`)."""

    stage: int
    count: int  # requests sent and finished (with a latency), failed or not
    failed: int
    unsent: int  # open-model arrivals the generator could not send
    latency: Distribution
    ttfb: Distribution
    bytes_total: int
    statuses: dict[int, int]
    errors: dict[str, int]  # by kind, most frequent first; unsent arrivals included
    cookie: int  # responses that set a cookie
    chunked: int
    event_stream: int
    timed: int  # responses that carried Server-Timing
    malformed_timing: int
    last_start: float | None
    probe: Distribution | None


@dataclass(frozen=True, slots=True)
class HandoffTally:
    count: int
    p50: float
    p95: float
    mean: float
    total: float


@dataclass(frozen=True, slots=True)
class StageHandoffs:
    """Server-Timing over one group of stages: each handoff, and the client time left over."""

    timed: int  # requests whose server time is known
    latency_total: float  # their client latency, summed
    handoffs: dict[str, HandoffTally]
    unattributed: HandoffTally | None


def _f(value: object) -> float:
    return float(value) if isinstance(value, int | float) and value == value else 0.0  # None/NaN -> 0


def _dist_exprs(col: str, prefix: str) -> list[pl.Expr]:
    c = pl.col(col)
    return [
        c.count().alias(f"{prefix}n"),
        c.mean().alias(f"{prefix}mean"),
        *(c.quantile(p / 100, "linear").alias(f"{prefix}p{p}") for p in PERCENTILES),
        c.max().alias(f"{prefix}max"),
    ]


def _dist(row: dict[str, object], prefix: str) -> Distribution:
    return Distribution(
        count=int(_f(row[f"{prefix}n"])),
        mean=max(0.0, _f(row[f"{prefix}mean"])),
        p50=_f(row[f"{prefix}p50"]),
        p90=_f(row[f"{prefix}p90"]),
        p95=_f(row[f"{prefix}p95"]),
        p99=_f(row[f"{prefix}p99"]),
        max=_f(row[f"{prefix}max"]),
    )


def _csv_reader(columns: tuple[str, ...]) -> object:
    types = {c: _TYPES.get(c, pl.String) for c in columns}

    def read(source: Path | bytes) -> pl.DataFrame:
        return pl.read_csv(
            source,
            schema=types,
            has_header=True,
            ignore_errors=True,  # a number that does not parse becomes null: the row is dropped
            truncate_ragged_lines=True,
            columns=[c for c in columns if c != "server_timing" or columns == REQUEST_COLUMNS_V1],
        )

    return read


def _load(path: Path, slot_names: dict[int, str]) -> pl.DataFrame:
    with path.open("rb") as fh:
        header = tuple(fh.readline().decode("utf-8", "replace").strip().split(","))
    if header not in (REQUEST_COLUMNS, REQUEST_COLUMNS_V1):
        from profiler.errors import RunFolderError

        raise RunFolderError(f"'{path}' does not have the expected columns.", "was it written by profiler?")
    frame: pl.DataFrame = read_tolerant(path, _csv_reader(header))  # type: ignore[arg-type]
    text = [c for c in ("error", "kind", "flags", "h_other", "server_timing") if c in frame.columns]
    frame = frame.with_columns(pl.col(text).fill_null("")).filter(
        *(pl.col(c).is_not_null() for c in _REQUIRED),
        pl.col("start").is_finite(),
        pl.col("latency_ms").is_finite() & (pl.col("latency_ms") >= 0),
        pl.col("ttfb_ms").is_finite() & (pl.col("ttfb_ms") >= 0),
    )
    if header == REQUEST_COLUMNS_V1:
        return parse_raw_timing(frame)
    frame = frame.rename({f"h{slot}": name for slot, name in slot_names.items()}).drop(
        [c for c in SLOT_COLUMNS if int(c[1:]) not in slot_names]
    )
    return parse_other_column(frame)


class RequestTable:
    """All requests of a run, in memory as columns; every figure comes from one grouped query."""

    def __init__(self, frame: pl.DataFrame) -> None:
        fixed = set(REQUEST_COLUMNS) | {"server_timing"}
        self.handoff_names = tuple(sorted(c for c in frame.columns if c not in fixed))
        kind = pl.col("kind")
        self._probe = frame.filter(kind == KIND_PROBE).select("stage", "latency_ms")
        main = frame.filter(kind == KIND_MAIN)
        self._unsent = main.filter(pl.col("error") == UNSENT).group_by("stage").len()
        self._errors = main.filter(pl.col("error") != "").group_by("stage", "error").len()
        self._main = main.filter(pl.col("error") != UNSENT)

    @classmethod
    def read(cls, path: Path, slot_names: dict[int, str]) -> RequestTable:
        if not path.exists() or path.stat().st_size == 0:
            return cls.empty()
        return cls(_load(path, slot_names))

    @classmethod
    def empty(cls) -> RequestTable:
        return cls(pl.DataFrame(schema={c: _TYPES.get(c, pl.String) for c in REQUEST_COLUMNS}))

    @property
    def count(self) -> int:
        return self._main.height

    def stages(self) -> dict[int, StageTally]:
        """Every stage that has requests (sent or not), by index."""
        failed = (pl.col("error") != "") | (pl.col("status") == 0) | (pl.col("status") >= 400)
        flags = pl.col("flags")
        tallies = self._main.group_by("stage").agg(
            pl.len().alias("count"),
            failed.sum().alias("failed"),
            *_dist_exprs("latency_ms", "l"),
            *_dist_exprs("ttfb_ms", "t"),
            pl.col("bytes").fill_null(0).sum().alias("bytes"),
            *(
                flags.str.contains(f, literal=True).sum().alias(f)
                for f in (FLAG_COOKIE, FLAG_CHUNKED, FLAG_EVENT_STREAM)
            ),
            flags.str.contains(FLAG_TIMED, literal=True).sum().alias("timed"),
            pl.col("timing_malformed").fill_null(0).sum().alias("malformed"),
            pl.col("start").max().alias("last_start"),
        )
        by_stage = {int(r["stage"]): r for r in tallies.iter_rows(named=True)}
        probes = {
            int(r["stage"]): r
            for r in self._probe.group_by("stage").agg(*_dist_exprs("latency_ms", "")).iter_rows(named=True)
        }
        unsent = dict(self._unsent.iter_rows())
        statuses = self._counts(self._main.group_by("stage", "status").len())
        errors = self._counts(self._errors)
        out: dict[int, StageTally] = {}
        for stage in sorted(set(by_stage) | set(unsent) | set(probes)):
            r = by_stage.get(stage)
            out[stage] = StageTally(
                stage=stage,
                count=int(r["count"]) if r else 0,
                failed=int(r["failed"]) if r else 0,
                unsent=int(unsent.get(stage, 0)),
                latency=_dist(r, "l") if r else _EMPTY,
                ttfb=_dist(r, "t") if r else _EMPTY,
                bytes_total=int(r["bytes"]) if r else 0,
                statuses={int(k): v for k, v in statuses.get(stage, {}).items()},
                errors={str(k): v for k, v in errors.get(stage, {}).items()},
                cookie=int(r[FLAG_COOKIE]) if r else 0,
                chunked=int(r[FLAG_CHUNKED]) if r else 0,
                event_stream=int(r[FLAG_EVENT_STREAM]) if r else 0,
                timed=int(r["timed"]) if r else 0,
                malformed_timing=int(r["malformed"]) if r else 0,
                last_start=float(r["last_start"]) if r else None,
                probe=_dist(probes[stage], "") if stage in probes else None,
            )
        return out

    @staticmethod
    def _counts(frame: pl.DataFrame) -> dict[int, dict[Any, int]]:
        out: dict[int, dict[Any, int]] = {}
        for stage, key, n in frame.sort("len", descending=True).iter_rows():
            out.setdefault(int(stage), {})[key] = n
        return out

    def percentile(self, stage: int, pct: float) -> float | None:
        values = self._main.filter(pl.col("stage") == stage).get_column("latency_ms")
        return float(values.quantile(pct / 100, "linear")) if values.len() else None  # type: ignore[arg-type]

    def handoffs(self, stages: Sequence[int] | None = None) -> StageHandoffs:
        """Server-Timing over the given stages (all when None)."""
        rows = self._main if stages is None else self._main.filter(pl.col("stage").is_in(list(stages)))
        timed = rows.filter(pl.col("server_ms").is_not_null())
        if timed.height == 0:
            return StageHandoffs(0, 0.0, {}, None)
        latency_total = float(timed.get_column("latency_ms").sum())
        unattributed = (pl.col("latency_ms") - pl.col("server_ms")).clip(lower_bound=0.0)
        exprs = [_tally_exprs(unattributed, "~unattributed")]
        exprs += [_tally_exprs(pl.col(name), name) for name in self.handoff_names]
        (r,) = timed.select(*[e for group in exprs for e in group]).iter_rows(named=True)
        handoffs = {n: t for n in self.handoff_names if (t := _tally(r, n)) is not None}
        return StageHandoffs(timed.height, latency_total, handoffs, _tally(r, "~unattributed"))

    def values(self, stage: int, column: str) -> list[Any]:
        """One column of a stage's sent main requests, in file order (None where absent)."""
        if column not in self._main.columns:
            return []
        return self._main.filter(pl.col("stage") == stage).get_column(column).to_list()

    def first_latencies(self, n: int) -> tuple[float, ...]:
        """The run's first `n` requests' latencies, in the order they were sent."""
        return tuple(self._main.sort("start").head(n).get_column("latency_ms").to_list())

    def started_by(self, times: Sequence[float]) -> tuple[int, ...]:
        """For each time, how many requests had been sent by then."""
        starts = self._main.get_column("start").sort()
        return tuple(int(i) for i in starts.search_sorted(pl.Series(list(times), dtype=pl.Float64), side="right"))


def _tally_exprs(expr: pl.Expr, name: str) -> list[pl.Expr]:
    return [
        expr.count().alias(f"{name}|n"),
        expr.quantile(0.5, "linear").alias(f"{name}|p50"),
        expr.quantile(0.95, "linear").alias(f"{name}|p95"),
        expr.sum().alias(f"{name}|sum"),
    ]


def _tally(r: dict[str, object], name: str) -> HandoffTally | None:
    n = int(_f(r[f"{name}|n"]))
    if n == 0:
        return None
    total = math.fsum([_f(r[f"{name}|sum"])])
    return HandoffTally(count=n, p50=_f(r[f"{name}|p50"]), p95=_f(r[f"{name}|p95"]), mean=total / n, total=total)


_EMPTY = Distribution(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
