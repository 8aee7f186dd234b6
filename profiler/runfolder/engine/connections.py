"""A WebSocket run's handshakes and sessions per stage, through the engine (records.KIND_CONNECT,
records.KIND_SESSION): what analysis/connections/ reads, as typed tallies."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from profiler.runfolder.connections import KIND_CONNECT, KIND_SESSION
from profiler.runfolder.engine.requests import RequestTable
from profiler.runfolder.records import error_kind

_PCTS = (0.5, 0.95, 0.99)


@dataclass(frozen=True, slots=True)
class HandshakeTally:
    """A stage's handshakes: attempts, those that failed (by cause), and the time to open the others."""

    attempts: int
    failed: int
    causes: dict[str, int] = field(default_factory=dict)  # error_kind (http-4xx, refused, timeout, tls...) -> count
    statuses: dict[int, int] = field(default_factory=dict)  # the HTTP status of refused handshakes
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None


@dataclass(frozen=True, slots=True)
class SessionTally:
    """The sessions opened in a stage, as they ended: closed by us, or dropped (by the server's
    close frame, with its code, or broken without one)."""

    ended: int
    dropped: int
    codes: dict[int, int] = field(default_factory=dict)  # close code of the dropped -> count
    duration_p50_s: float | None = None
    duration_max_s: float | None = None


def _num(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def handshakes(table: RequestTable) -> dict[int, HandshakeTally]:
    rows = table.of_kind(KIND_CONNECT).select("stage", "latency_ms", "status", "error").collect()
    out: dict[int, HandshakeTally] = {}
    for (stage,), part in rows.group_by("stage"):
        bad = part.filter(pl.col("error") != "")
        good = part.filter(pl.col("error") == "").get_column("latency_ms")
        causes: dict[str, int] = {}
        for error, status in bad.select("error", "status").iter_rows():
            kind = error_kind(str(error), int(status or 0))
            causes[kind] = causes.get(kind, 0) + 1
        statuses = {int(s): int(n) for s, n in bad.filter(pl.col("status") > 0).group_by("status").len().iter_rows()}
        q = [_num(good.quantile(p, "linear")) if good.len() else None for p in _PCTS]
        out[int(stage)] = HandshakeTally(part.height, bad.height, causes, statuses, *q)
    return out


def sessions(table: RequestTable) -> dict[int, SessionTally]:
    rows = table.of_kind(KIND_SESSION).select("stage", "latency_ms", "status", "error").collect()
    out: dict[int, SessionTally] = {}
    for (stage,), part in rows.group_by("stage"):
        dropped = part.filter(pl.col("error") != "")
        codes = {int(c): int(n) for c, n in dropped.group_by("status").len().iter_rows()}
        length = part.get_column("latency_ms") / 1000.0
        out[int(stage)] = SessionTally(part.height, dropped.height, codes, _num(length.median()), _num(length.max()))
    return out
