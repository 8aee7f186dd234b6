"""The run's requests through the engine: per-stage tallies, percentiles and handoffs, no per-row Python.

The rows are scanned from requests.parquet (engine/columnar.py builds it from requests.csv and
checks them once), never held whole. Counts, sums and extremes are streamed group-bys over the
run. An exact order statistic needs its values at hand, so percentiles read the columns they need
of one stage at a time (the file is written stage by stage, and its row groups' statistics let the
scan skip the other stages): memory follows the largest stage, not the run. Percentiles are exact
order statistics with linear interpolation between closest ranks (numpy's default), never
Locust's buckets.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from profiler.runfolder.engine.arrays import RequestArrays, SpanArrays
from profiler.runfolder.engine.columnar import TYPES, columnar
from profiler.runfolder.engine.order import Bounds, streamed_percentiles
from profiler.runfolder.engine.payload import PayloadTally, payload_tally
from profiler.runfolder.engine.read import READ_ERRORS, damaged
from profiler.runfolder.engine.tallies import (
    EMPTY,
    PERCENTILES,
    Distribution,
    HandoffTally,
    StageHandoffs,
    StageTally,
    number,
)
from profiler.runfolder.records import (
    FLAG_CHUNKED,
    FLAG_COOKIE,
    FLAG_EVENT_STREAM,
    FLAG_TIMED,
    KIND_MAIN,
    KIND_PROBE,
    REQUEST_COLUMNS,
    ROUTE_COLUMNS,
    UNSENT,
)

# Which rows are which. Unsent: open-model arrivals the generator could not send (no latency).
_PROBE = pl.col("kind") == KIND_PROBE
_MAIN = pl.col("kind") == KIND_MAIN
_SENT = _MAIN & (pl.col("error") != UNSENT)
_UNSENT = _MAIN & (pl.col("error") == UNSENT)
_FAILED = (pl.col("error") != "") | (pl.col("status") == 0) | (pl.col("status") >= 400)
_UNATTRIBUTED = "/unattributed"  # internal names start with "/", which no handoff name (an HTTP token) can
_HANDOFF_PCTS = (50, 95)
# Rows whose columns are read into memory for their percentiles (16 MB a column); past it, streamed.
_HELD = 1 << 21
_BATCH = 1 << 18  # rows of one column handed to numpy at a time (2 MB of floats)


def _collect(lazy: pl.LazyFrame) -> pl.DataFrame:
    return lazy.collect(engine="streaming")


def _order_stats(
    rows: pl.LazyFrame,
    columns: Sequence[str],
    pcts: Sequence[float],
    count: int,
    bounds: Mapping[str, Bounds] | None = None,
) -> dict[str, tuple[float, ...] | None]:
    """Exact percentiles of the rows' columns (None for one with no value). Up to _HELD rows, those
    columns alone are read into memory and numpy selects each one's percentiles in one pass; past
    it (a long stage, the whole run), each column is narrowed by streamed counts (engine/order.py),
    from the `bounds` of its finite values where known."""
    if count > _HELD:
        known = bounds or {}
        return {name: streamed_percentiles(rows, name, pcts, known.get(name)) for name in columns}
    frame = _collect(rows.select(columns))
    out: dict[str, tuple[float, ...] | None] = {}
    for name in columns:
        values = frame.get_column(name).drop_nulls().drop_nans()
        out[name] = tuple(float(v) for v in np.percentile(values.to_numpy(), pcts)) if values.len() else None
    return out


def _route(method: object, name: object) -> str:
    """A route as Locust names it: "METHOD name" ("" in folders written before routes were recorded)."""
    return f"{method or ''} {name or ''}".strip()


class RequestTable:
    """All requests of a run, as a scan of columns; every figure is a query over the columns it needs."""

    def __init__(self, rows: pl.LazyFrame) -> None:
        names = rows.collect_schema().names()
        fixed = set(REQUEST_COLUMNS) | {"server_timing"}
        self.handoff_names = tuple(sorted(c for c in names if c not in fixed))
        self._columns = frozenset(names)
        self._rows = rows
        self._route_pairs: dict[str, list[tuple[str, str]]] | None = None
        self._memo: dict[tuple[object, ...], Any] = {}  # answers over the sent rows, shared by _main_only's copy
        self._compute()

    @classmethod
    def read(cls, path: Path, slot_names: dict[int, str]) -> RequestTable:
        if not path.exists() or path.stat().st_size == 0:
            return cls.empty()
        try:
            return cls(columnar(path, slot_names))
        except READ_ERRORS as e:  # rows polars read yet cannot compute on (a polars defect): one line
            raise damaged(path, e) from None

    @classmethod
    def empty(cls) -> RequestTable:
        return cls(pl.LazyFrame(schema={c: TYPES.get(c, pl.String) for c in REQUEST_COLUMNS}))

    def of_kind(self, kind: str) -> pl.LazyFrame:
        """The rows of one kind (a WebSocket run's handshakes and sessions: engine/connections.py)."""
        return self._rows.filter(pl.col("kind") == kind)

    def sent(self) -> pl.LazyFrame:  # the stream figures' source (engine/streams.py)
        return self._rows.filter(_SENT)

    def _stage(self, stage: int, rows: pl.LazyFrame | None = None) -> pl.LazyFrame:
        return (self.sent() if rows is None else rows).filter(pl.col("stage") == stage)

    def _sums(self) -> list[pl.LazyFrame]:
        """Counts, sums and extremes per stage, streamed whatever the run's length: one scan for the
        sent, probe, unsent and timed rows (each a condition inside the aggregation), one per count."""
        sent, flags, latency = self.sent(), pl.col("flags").cast(pl.String), pl.col("latency_ms")
        timed = _SENT & pl.col("server_ms").is_not_null()

        def of(rows: pl.Expr, value: pl.Expr) -> pl.Expr:
            return pl.when(rows).then(value)

        per_stage = self._rows.group_by("stage").agg(
            _SENT.sum().alias("count"),
            (_SENT & _FAILED).sum().alias("failed"),
            *(e for c in ("latency_ms", "ttfb_ms") for e in (of(_SENT, pl.col(c)).mean().alias(c), of(_SENT, pl.col(c)).max().alias(f"{c}|max"))),
            of(_SENT, pl.col("bytes").fill_null(0)).sum().alias("bytes"),
            *((_SENT & flags.str.contains(f, literal=True)).sum().alias(f) for f in (FLAG_COOKIE, FLAG_CHUNKED, FLAG_EVENT_STREAM)),
            (_SENT & flags.str.contains(FLAG_TIMED, literal=True)).sum().alias("timed"),
            of(_SENT, pl.col("timing_malformed").fill_null(0)).sum().alias("malformed"),
            of(_SENT, pl.col("start")).max().alias("last_start"),
            _PROBE.sum().alias("probe|len"),
            of(_PROBE, latency).mean().alias("probe|latency_ms"),
            of(_PROBE, latency).max().alias("probe|latency_ms|max"),
            _UNSENT.sum().alias("unsent"),
            timed.sum().alias("/timed"),
            of(timed, latency).sum().alias("/latency"),
            *(e for n in self.handoff_names for e in (of(_SENT, pl.col(n)).count().alias(n), of(_SENT, pl.col(n)).sum().alias(f"{n}|sum"))),
            of(timed, self._unattributed()).count().alias(_UNATTRIBUTED),
            of(timed, self._unattributed()).sum().alias(f"{_UNATTRIBUTED}|sum"),
            # The bounds of each handoff's finite values over the rows its percentiles read: the whole
            # run's streamed percentiles start from them instead of a scan of their own.
            *(e for n, v in self._handoff_values() for e in (
                of(timed & v.is_finite(), v).count().alias(f"{n}|n"),
                of(timed & v.is_finite(), v).min().alias(f"{n}|lo"),
                of(timed & v.is_finite(), v).max().alias(f"{n}|hi"),
            )),
        )  # fmt: skip
        return [
            per_stage,
            sent.group_by("stage", "status").len(),
            sent.filter(pl.col("error") != "").group_by("stage", "error").len(),
        ]

    def _handoff_values(self) -> list[tuple[str, pl.Expr]]:
        return [(n, pl.col(n).cast(pl.Float64)) for n in self.handoff_names] + [
            (_UNATTRIBUTED, self._unattributed().cast(pl.Float64))
        ]

    @staticmethod
    def _unattributed() -> pl.Expr:
        return (pl.col("latency_ms") - pl.col("server_ms")).clip(lower_bound=0.0).alias(_UNATTRIBUTED)

    def _compute(self) -> None:
        """Every per-stage figure: the sums, streamed, then each stage's percentiles."""
        # One at a time: collect_all would hold every query's columns at once (~900 MB at 10M rows).
        t, st, er = (_collect(query) for query in self._sums())
        stages = t.iter_rows(named=True)
        rows = {int(r["stage"]): r for r in stages if r["count"] or r["probe|len"] or r["unsent"]}
        sums = {stage: r for stage, r in rows.items() if r["count"]}
        probes = {
            stage: {
                "len": r["probe|len"],
                "latency_ms": r["probe|latency_ms"],
                "latency_ms|max": r["probe|latency_ms|max"],
            }
            for stage, r in rows.items()
            if r["probe|len"]
        }
        unsent = {stage: int(r["unsent"]) for stage, r in rows.items() if r["unsent"]}
        statuses, errors = _counts(st), _counts(er)
        self._tallies: dict[int, StageTally] = {}
        for stage in sorted(set(sums) | set(unsent) | set(probes)):
            r = sums.get(stage)
            main = _order_stats(self._stage(stage), ("latency_ms", "ttfb_ms"), PERCENTILES, r["count"]) if r else {}
            probe = self._stage(stage, self._rows.filter(_PROBE))
            probe_pcts = (
                _order_stats(probe, ("latency_ms",), PERCENTILES, probes[stage]["len"]) if stage in probes else {}
            )
            self._tallies[stage] = StageTally(
                stage=stage,
                count=int(r["count"]) if r else 0,
                failed=int(r["failed"]) if r else 0,
                unsent=unsent.get(stage, 0),
                latency=_dist(r, "latency_ms", main["latency_ms"]) if r else EMPTY,
                ttfb=_dist(r, "ttfb_ms", main["ttfb_ms"]) if r else EMPTY,
                bytes_total=int(r["bytes"]) if r else 0,
                statuses={int(k): v for k, v in statuses.get(stage, {}).items()},
                errors={str(k): v for k, v in errors.get(stage, {}).items()},
                cookie=int(r[FLAG_COOKIE]) if r else 0,
                chunked=int(r[FLAG_CHUNKED]) if r else 0,
                event_stream=int(r[FLAG_EVENT_STREAM]) if r else 0,
                timed=int(r["timed"]) if r else 0,
                malformed_timing=int(r["malformed"]) if r else 0,
                last_start=float(r["last_start"]) if r else None,
                probe=_dist(probes[stage], "latency_ms", probe_pcts["latency_ms"]) if stage in probes else None,
            )  # fmt: skip
        self._handoffs = self._handoff_tallies({stage: r for stage, r in sums.items() if r["/timed"]})

    def _handoff_tallies(self, sums: dict[int, dict[str, Any]]) -> dict[int | None, StageHandoffs]:
        """Each stage's handoffs, and the whole run's (key None): sums add up, percentiles are read again."""
        names = (*self.handoff_names, _UNATTRIBUTED)
        timed = self.sent().filter(pl.col("server_ms").is_not_null()).with_columns(self._unattributed())
        out: dict[int | None, StageHandoffs] = {}
        for stage in [*sums, None] if sums else []:
            rows = timed if stage is None else timed.filter(pl.col("stage") == stage)
            groups = list(sums.values()) if stage is None else [sums[stage]]
            count = {n: sum(int(g[n]) for g in groups) for n in names}
            total = {n: math.fsum(number(g[f"{n}|sum"]) for g in groups) for n in names}
            used = [n for n in names if count[n]]
            bounds = {n: _bounds(groups, n) for n in used}
            pcts = _order_stats(rows, used, _HANDOFF_PCTS, max((count[n] for n in used), default=0), bounds)
            found = {n: _handoff(count[n], total[n], pcts[n]) for n in used}
            out[stage] = StageHandoffs(
                sum(int(g["/timed"]) for g in groups),
                math.fsum(number(g["/latency"]) for g in groups),
                {n: h for n, h in found.items() if n != _UNATTRIBUTED},
                found.get(_UNATTRIBUTED),
            )
        return out

    def routes(self) -> dict[str, int]:
        """Each route's main requests sent, most first."""
        counts: dict[str, int] = {}
        self._route_pairs = {}
        for method, name, n in _collect(self.sent().group_by(*ROUTE_COLUMNS).len()).iter_rows():
            route = _route(method, name)
            counts[route] = counts.get(route, 0) + int(n)
            self._route_pairs.setdefault(route, []).append((str(method), str(name)))
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def for_route(self, route: str) -> RequestTable:
        """The same table over one route's main requests (probes apart: they are no route)."""
        if self._route_pairs is None:
            self.routes()
        key = ("route", route)  # the routes section and the signals both ask: computed once
        if key not in self._memo:
            if list(self._route_pairs or {}) == [route]:
                # the one route: the same figures without the probes, not read again
                self._memo[key] = self._main_only()
            else:
                pairs = (self._route_pairs or {}).get(route, [])
                of_route = pl.any_horizontal(
                    pl.lit(False), *((pl.col("method") == m) & (pl.col("name") == n) for m, n in pairs)
                )
                self._memo[key] = RequestTable(self._rows.filter(_MAIN & of_route))
        table: RequestTable = self._memo[key]
        return table

    def _main_only(self) -> RequestTable:
        """This table over its main requests: the probes' figures dropped, with the stages only they had."""
        table = copy.copy(self)
        table._rows, table._route_pairs = self._rows.filter(_MAIN), None
        table._tallies = {s: replace(t, probe=None) for s, t in self._tallies.items() if t.count or t.unsent}
        return table

    def payload(self) -> PayloadTally:
        """Bytes and caching over the answered main requests of the whole run (engine/payload.py)."""
        key = ("payload",)
        if key not in self._memo:
            self._memo[key] = payload_tally(self._rows.filter(_SENT))
        found: PayloadTally = self._memo[key]
        return found

    def stages(self) -> dict[int, StageTally]:
        """Every stage that has requests (sent or not), by index."""
        return self._tallies

    def percentile(self, stage: int, pct: float) -> float | None:
        tally = self._tallies.get(stage)
        found = _order_stats(self._stage(stage), ("latency_ms",), [pct], tally.count if tally else 0)["latency_ms"]
        return found[0] if found else None

    def handoffs(self, by_stage: bool = False) -> dict[int | None, StageHandoffs]:
        """Server-Timing over the whole run (key None), or per stage (keys: stage indexes)."""
        return {k: v for k, v in self._handoffs.items() if (k is not None) == by_stage}

    def values(self, stage: int, column: str) -> list[Any]:
        """One column of a stage's sent main requests, in file order (None where absent)."""
        if column not in self._columns:
            return []
        return _collect(self._stage(stage).select(column)).get_column(column).to_list()

    def arrays(self, stage: int) -> RequestArrays:
        """A stage's sent main requests as numpy columns (for resampling)."""
        rows = self._stage(stage).select("start", "latency_ms", "status", "error", *self.handoff_names)
        return RequestArrays.of(_collect(rows), _FAILED, self.handoff_names)

    def span(self, start: float, end: float) -> SpanArrays:
        """The sent main requests started within [start, end], as numpy columns in start order."""
        rows = (
            self.sent().filter(pl.col("start").is_between(start, end)).select("start", "latency_ms", "status", "error")
        )
        return SpanArrays.of(_collect(rows), _FAILED)

    def first_latencies(self, n: int) -> tuple[float, ...]:
        """The run's first `n` requests' latencies, in the order they were sent."""
        first = _collect(self.sent().select("start", "latency_ms").bottom_k(n, by="start")).sort("start")
        return tuple(first.get_column("latency_ms").to_list())

    def completed_in(self, windows: Sequence[tuple[float, float]]) -> tuple[tuple[int, int], ...]:
        """For each (start, end) window: the answered requests (any status) whose last byte came in it,
        whichever stage sent them, and how many succeeded (by completion: never above what was served)."""
        if not windows:
            return ()
        key = ("completed_in", tuple(windows))
        if key not in self._memo:
            self._memo[key] = self._completed_in(windows)
        done: tuple[tuple[int, int], ...] = self._memo[key]
        return done

    def _completed_in(self, windows: Sequence[tuple[float, float]]) -> tuple[tuple[int, int], ...]:
        done = pl.col("start") + pl.col("latency_ms") / 1000.0
        inside = [done.is_between(start, end, closed="left") for start, end in windows]
        sums = [e for i, w in enumerate(inside) for e in (w.sum().alias(f"a{i}"), (w & ~_FAILED).sum().alias(f"o{i}"))]
        row = _collect(self.sent().filter(pl.col("status") > 0).select(sums)).row(0, named=True)
        return tuple((int(row[f"a{i}"] or 0), int(row[f"o{i}"] or 0)) for i in range(len(windows)))

    def started_by(self, times: Sequence[float]) -> tuple[int, ...]:
        """For each time, how many requests had been sent by then (one streamed count per time)."""
        if not times:
            return ()
        key = ("started_by", tuple(times))
        if key not in self._memo:  # the whole run's table and its one route's share the answer
            edges = np.unique(np.asarray(times, dtype=np.float64))
            # Each request counts from the first time at or after its start on. A batch of starts at
            # a time: polars' search_sorted is not streamed, and over 10M rows it held ~90 MB.
            per_edge = np.zeros(len(edges) + 1, dtype=np.int64)
            starts = self.sent().select(pl.col("start").drop_nulls())
            for batch in starts.collect_batches(chunk_size=_BATCH, maintain_order=False):
                first = np.searchsorted(edges, batch.get_column("start").to_numpy(), side="left")
                per_edge += np.bincount(first, minlength=len(edges) + 1)
            running = np.cumsum(per_edge)[np.searchsorted(edges, np.asarray(times, dtype=np.float64))]
            self._memo[key] = tuple(int(n) for n in running)
        started: tuple[int, ...] = self._memo[key]
        return started


def _bounds(groups: Sequence[dict[str, Any]], name: str) -> Bounds:
    """Finite values of a handoff over the stages' sums: how many, the least and the greatest."""
    held = [g for g in groups if g[f"{name}|n"]]
    if not held:
        return (0, 0.0, 0.0)
    return (
        sum(int(g[f"{name}|n"]) for g in held),
        min(g[f"{name}|lo"] for g in held),
        max(g[f"{name}|hi"] for g in held),
    )


def _dist(sums: dict[str, Any], column: str, pcts: tuple[float, ...] | None) -> Distribution:
    p50, p90, p95, p99 = pcts or (0.0,) * len(PERCENTILES)
    count = int(sums["count"] if "count" in sums else sums["len"])
    return Distribution(count, max(0.0, number(sums[column])), p50, p90, p95, p99, number(sums[f"{column}|max"]))


def _handoff(count: int, total: float, pcts: tuple[float, ...] | None) -> HandoffTally:
    p50, p95 = pcts or (0.0, 0.0)
    return HandoffTally(count=count, p50=p50, p95=p95, mean=total / count, total=total)


def _counts(frame: pl.DataFrame) -> dict[int, dict[Any, int]]:
    out: dict[int, dict[Any, int]] = {}
    for stage, key, n in frame.sort("len", descending=True).iter_rows():
        out.setdefault(int(stage), {})[key] = n
    return out
