"""requests.csv through the engine: per-stage tallies, percentiles and handoffs, no per-row Python.

Rows a crash cut short, or whose numbers do not parse or are not finite, are left out (a crash
can cut at most the last rows). Percentiles are exact order statistics with linear interpolation
between closest ranks (numpy's default), never Locust's buckets.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from profiler.base.errors import RunFolderError
from profiler.base.servertiming import is_token
from profiler.runfolder.engine.arrays import RequestArrays
from profiler.runfolder.engine.read import READ_ERRORS, damaged, read_tolerant
from profiler.runfolder.engine.timing_v1 import FIXED_COLUMNS, parse_other_column, parse_raw_timing
from profiler.runfolder.records import (
    FLAG_CHUNKED,
    FLAG_COOKIE,
    FLAG_EVENT_STREAM,
    FLAG_TIMED,
    KIND_MAIN,
    KIND_PROBE,
    REQUEST_COLUMNS,
    REQUEST_COLUMNS_V1,
    REQUEST_COLUMNS_V2,
    ROUTE_COLUMNS,
    SLOT_COLUMNS,
    STREAM_COLUMNS,
    UNSENT,
)

PERCENTILES = (50, 90, 95, 99)
_TYPES: dict[str, pl.DataType | type[pl.DataType]] = {
    "start": pl.Float64,
    "latency_ms": pl.Float64,
    "ttfb_ms": pl.Float64,
    "status": pl.Int32,
    "bytes": pl.Int64,
    "stage": pl.Int32,
    "server_ms": pl.Float64,
    "timing_malformed": pl.Int32,
    **dict.fromkeys(SLOT_COLUMNS, pl.Float64),
    **dict.fromkeys(STREAM_COLUMNS, pl.Float64),
}
_REQUIRED = ("start", "latency_ms", "ttfb_ms", "status", "stage", "kind")
# A reading is damaged when negative, not finite, or past 2**40 (no response is a terabyte nor a
# duration 35 years; a larger `bytes` would overflow its stage's Int64 sum, 1e308 ms a float sum).
# A damaged latency leaves its row out; a damaged optional reading (bytes, Server-Timing's) reads
# as missing, the row kept.
_MAX_READING = 2**40
_MAX_STATUS = 999  # three digits; 0: no response


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
    errors: dict[str, int]  # failures of the requests sent, by kind, most frequent first (unsent apart)
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


def _measure(name: str) -> pl.Expr:
    return pl.col(name).is_finite() & pl.col(name).is_between(0, _MAX_READING, closed="left")


def _bounded(frame: pl.DataFrame) -> pl.DataFrame:
    readings = [c for c, dtype in frame.schema.items() if dtype.is_numeric() and c not in _REQUIRED]
    return frame.with_columns(pl.when(_measure(c)).then(pl.col(c)).alias(c) for c in readings)


def _reader(header: tuple[str, ...], slot_names: dict[int, str]) -> Callable[[Path | bytes], pl.DataFrame]:
    """Read only the columns the analysis uses (the used handoff slots; the raw header only from
    format 1, where it is the data), strings as categories: a million rows stay near 80 MB."""
    v1 = header == REQUEST_COLUMNS_V1
    wanted = [c for c in header if c != "server_timing" and (c not in SLOT_COLUMNS or int(c[1:]) in slot_names)]
    wanted += ["server_timing"] if v1 else []
    types = {c: _TYPES.get(c, pl.String if c in ("h_other", "server_timing") else pl.Categorical) for c in header}

    def read(source: Path | bytes) -> pl.DataFrame:
        lazy = pl.scan_csv(source, schema=types, ignore_errors=True, truncate_ragged_lines=True, low_memory=True)
        text = [c for c in ("error", "kind", "flags", "h_other", "server_timing", *ROUTE_COLUMNS) if c in wanted]
        return (
            lazy.select(wanted)
            .filter(
                *(pl.col(c).is_not_null() for c in _REQUIRED),
                pl.col("start").is_finite(),
                _measure("latency_ms"),
                _measure("ttfb_ms"),
                pl.col("status").is_between(0, _MAX_STATUS),
                pl.col("stage") >= 0,
            )
            .with_columns(pl.col(text).fill_null(""))
            .collect()
        )

    return read


def _load(path: Path, slot_names: dict[int, str]) -> pl.DataFrame:
    with path.open("rb") as fh:
        header = tuple(fh.readline().decode("utf-8", "replace").strip().split(","))
    if header not in (REQUEST_COLUMNS, REQUEST_COLUMNS_V2, REQUEST_COLUMNS_V1):
        raise RunFolderError(f"'{path}' does not have the expected columns.", "was it written by profiler?")
    # Slot names come from handoffs.jsonl: one that is no token (damage), or that names a column
    # of the file already (an app's `start;dur=5`), is left out rather than overwrite that column.
    slot_names = {slot: name for slot, name in slot_names.items() if is_token(name) and name not in FIXED_COLUMNS}
    frame = read_tolerant(path, _reader(header, slot_names))
    if header != REQUEST_COLUMNS:  # written before routes and streams were recorded: one unnamed route
        new = [pl.lit("", pl.Categorical).alias(c) for c in ROUTE_COLUMNS]
        frame = frame.with_columns(*new, *(pl.lit(None, pl.Float64).alias(c) for c in STREAM_COLUMNS))
    if header == REQUEST_COLUMNS_V1:
        return _bounded(parse_raw_timing(frame))
    return _bounded(parse_other_column(frame.rename({f"h{slot}": name for slot, name in slot_names.items()})))


# Which rows are which. Unsent: open-model arrivals the generator could not send (no latency).
_PROBE = pl.col("kind") == KIND_PROBE
_SENT = (pl.col("kind") == KIND_MAIN) & (pl.col("error") != UNSENT)
_UNSENT = (pl.col("kind") == KIND_MAIN) & (pl.col("error") == UNSENT)
# A route as Locust names it: "METHOD name" ("" in folders written before routes were recorded).
ROUTE = pl.concat_str([pl.col(c).cast(pl.String) for c in ROUTE_COLUMNS], separator=" ").str.strip_chars()
_FAILED = (pl.col("error") != "") | (pl.col("status") == 0) | (pl.col("status") >= 400)


class RequestTable:
    """All requests of a run, in memory as columns (one copy); every figure is one grouped query."""

    def __init__(self, frame: pl.DataFrame) -> None:
        fixed = set(REQUEST_COLUMNS) | {"server_timing"}
        self.handoff_names = tuple(sorted(c for c in frame.columns if c not in fixed))
        self._rows = frame
        self._compute()

    @classmethod
    def read(cls, path: Path, slot_names: dict[int, str]) -> RequestTable:
        if not path.exists() or path.stat().st_size == 0:
            return cls.empty()
        try:
            return cls(_load(path, slot_names))
        except READ_ERRORS as e:  # rows polars read yet cannot compute on (a polars defect): one line
            raise damaged(path, e) from None

    @classmethod
    def empty(cls) -> RequestTable:
        return cls(pl.DataFrame(schema={c: _TYPES.get(c, pl.String) for c in REQUEST_COLUMNS}))

    def _sent(self, *columns: str) -> pl.DataFrame:
        return self._rows.filter(_SENT).select(columns) if columns else self._rows.filter(_SENT)

    def _queries(self) -> list[pl.LazyFrame]:
        rows = self._rows.lazy()
        sent = rows.filter(_SENT)
        flags = pl.col("flags").cast(pl.String)
        tallies = sent.group_by("stage").agg(
            pl.len().alias("count"),
            _FAILED.sum().alias("failed"),
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
        timed = sent.filter(pl.col("server_ms").is_not_null())
        unattributed = (pl.col("latency_ms") - pl.col("server_ms")).clip(lower_bound=0.0)
        # Internal names start with "/", which no handoff name (an HTTP token) can.
        exprs = [pl.len().alias("/timed"), pl.col("latency_ms").sum().alias("/latency")]
        exprs += _tally_exprs(unattributed, "/unattributed")
        exprs += [e for name in self.handoff_names for e in _tally_exprs(pl.col(name), name)]
        return [
            tallies,
            rows.filter(_PROBE).group_by("stage").agg(*_dist_exprs("latency_ms", "")),
            rows.filter(_UNSENT).group_by("stage").len(),
            sent.group_by("stage", "status").len(),
            sent.filter(pl.col("error") != "").group_by("stage", "error").len(),
            timed.select(exprs).with_columns(pl.lit(None, pl.Int32).alias("stage")),
            timed.group_by("stage").agg(exprs),
        ]

    def _compute(self) -> None:
        """Every per-stage figure in one go: polars runs the queries side by side over the rows."""
        t, p, u, st, er, whole, by_stage = pl.collect_all(self._queries())
        self._tallies = _tallies(
            {int(r["stage"]): r for r in t.iter_rows(named=True)},
            {int(r["stage"]): r for r in p.iter_rows(named=True)},
            {int(k): int(v) for k, v in u.iter_rows()},
            _counts(st),
            _counts(er),
        )
        self._handoffs: dict[int | None, StageHandoffs] = {}
        for r in [*whole.iter_rows(named=True), *by_stage.iter_rows(named=True)]:
            if r["/timed"]:
                found = {n: h for n in self.handoff_names if (h := _tally(r, n)) is not None}
                stage = None if r["stage"] is None else int(r["stage"])
                self._handoffs[stage] = StageHandoffs(
                    int(r["/timed"]), _f(r["/latency"]), found, _tally(r, "/unattributed")
                )

    def routes(self) -> dict[str, int]:
        """Each route's main requests sent, most first."""
        counts = self._sent().group_by(ROUTE.alias("route")).len().sort("len", "route", descending=[True, False])
        return {str(route): int(n) for route, n in counts.iter_rows()}

    def sent_frame(self) -> pl.DataFrame:  # the stream figures' source (engine/streams.py)
        return self._sent()

    def for_route(self, route: str) -> RequestTable:
        """The same table over one route's main requests (probes apart: they are no route)."""
        return RequestTable(self._rows.filter((pl.col("kind") == KIND_MAIN) & (route == ROUTE)))

    def stages(self) -> dict[int, StageTally]:
        """Every stage that has requests (sent or not), by index."""
        return self._tallies

    def percentile(self, stage: int, pct: float) -> float | None:
        values = self._sent("stage", "latency_ms").filter(pl.col("stage") == stage).get_column("latency_ms")
        return float(values.quantile(pct / 100, "linear")) if values.len() else None  # type: ignore[arg-type]

    def handoffs(self, by_stage: bool = False) -> dict[int | None, StageHandoffs]:
        """Server-Timing over the whole run (key None), or per stage (keys: stage indexes)."""
        return {k: v for k, v in self._handoffs.items() if (k is not None) == by_stage}

    def values(self, stage: int, column: str) -> list[Any]:
        """One column of a stage's sent main requests, in file order (None where absent)."""
        if column not in self._rows.columns:
            return []
        return self._sent("stage", column).filter(pl.col("stage") == stage).get_column(column).to_list()

    def arrays(self, stage: int) -> RequestArrays:
        """A stage's sent main requests as numpy columns (for resampling)."""
        rows = self._sent().filter(pl.col("stage") == stage)
        return RequestArrays.of(rows, _FAILED, self.handoff_names)

    def first_latencies(self, n: int) -> tuple[float, ...]:
        """The run's first `n` requests' latencies, in the order they were sent."""
        first = self._sent("start", "latency_ms").bottom_k(n, by="start").sort("start")
        return tuple(first.get_column("latency_ms").to_list())

    def completed_in(self, windows: Sequence[tuple[float, float]]) -> tuple[tuple[int, int], ...]:
        """For each (start, end) window: the answered requests (any status) whose last byte came in it,
        whichever stage sent them, and how many succeeded (by completion: never above what was served)."""
        done = (pl.col("start") + pl.col("latency_ms") / 1000.0).alias("done")
        answered = self._sent().filter(pl.col("status") > 0).select(done, (~_FAILED).alias("ok"))
        starts = pl.Series([w[0] for w in windows], dtype=pl.Float64)
        ends = pl.Series([w[1] for w in windows], dtype=pl.Float64)

        def within(times: pl.Series) -> list[int]:
            times = times.sort()
            before_end = times.search_sorted(ends, side="left").cast(pl.Int64)
            return (before_end - times.search_sorted(starts, side="left").cast(pl.Int64)).clip(0).to_list()

        every = within(answered.get_column("done"))
        ok = within(answered.filter(pl.col("ok")).get_column("done"))
        return tuple(zip(every, ok, strict=True))

    def started_by(self, times: Sequence[float]) -> tuple[int, ...]:
        """For each time, how many requests had been sent by then."""
        starts = self._sent("start").get_column("start").sort()
        return tuple(int(i) for i in starts.search_sorted(pl.Series(list(times), dtype=pl.Float64), side="right"))


def _counts(frame: pl.DataFrame) -> dict[int, dict[Any, int]]:
    out: dict[int, dict[Any, int]] = {}
    for stage, key, n in frame.sort("len", descending=True).iter_rows():
        out.setdefault(int(stage), {})[key] = n
    return out


def _tallies(
    by_stage: dict[int, dict[str, Any]],
    probes: dict[int, dict[str, Any]],
    unsent: dict[int, int],
    statuses: dict[int, dict[Any, int]],
    errors: dict[int, dict[Any, int]],
) -> dict[int, StageTally]:
    out: dict[int, StageTally] = {}
    for stage in sorted(set(by_stage) | set(unsent) | set(probes)):
        r = by_stage.get(stage)
        out[stage] = StageTally(
            stage=stage,
            count=int(r["count"]) if r else 0,
            failed=int(r["failed"]) if r else 0,
            unsent=unsent.get(stage, 0),
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
