"""report.json's `connections` from a WebSocket run's folder: per stage the connections held, the
handshakes, the round trips, the frames and the sessions dropped; per connection the target's
memory, descriptors, threads and CPU, fitted over the climb (docs/connections.md)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from profiler.analysis.connections.fit import held_at, per_connection
from profiler.base.config import MIB
from profiler.base.websocket import is_websocket
from profiler.runfolder.connections import ConnectionTick
from profiler.runfolder.engine.connections import HandshakeTally, SessionTally, handshakes, sessions
from profiler.runfolder.read import RunData, StageWindow
from profiler.schema.connections import ConnectionsSection, ConnectionStage

KIB = 1024.0


def _hold_start(run: RunData, w: StageWindow, before: int) -> float:
    """When the stage's ramp at the connect rate ended: its hold starts there."""
    rate = run.meta.config.connect_rate
    ramp = abs((w.users or 0) - before) / rate if rate else 0.0
    return min(w.start + ramp, w.end)


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def _rate(ticks: Sequence[ConnectionTick], name: str) -> float | None:
    """Per second between the first and the last tick of a window."""
    if len(ticks) < 2 or ticks[-1].t <= ticks[0].t:
        return None
    done = float(getattr(ticks[-1], name) - getattr(ticks[0], name))
    return round(done / (ticks[-1].t - ticks[0].t), 3)


def _stage(run: RunData, w: StageWindow, before: int, shakes: HandshakeTally | None,
           ended: SessionTally | None, arrays: dict[str, NDArray[np.float64]]) -> ConnectionStage:  # fmt: skip
    hold = _hold_start(run, w, before)
    ticks = [k for k in run.connections if hold <= k.t <= w.end]
    whole = [k for k in run.connections if w.start <= k.t <= w.end]
    inside = (arrays["t"] >= hold) & (arrays["t"] <= w.end)

    def over_hold(name: str) -> float | None:
        values = arrays[name][inside]
        values = values[np.isfinite(values)]
        return float(np.median(values)) if values.size else None

    rss, fds, threads = over_hold("rss"), over_hold("fds"), over_hold("threads")
    cpu = arrays["cpu"][inside]
    cpu = cpu[np.isfinite(cpu)]
    tally = run.tally(w.index)
    lat = tally.latency if tally is not None and tally.count else None
    answers, pushes = _rate(ticks, "answered"), _rate(ticks, "pushed")
    return ConnectionStage(
        stage=w.index, target=w.users or 0,
        held=int(_median([k.held for k in ticks]) or 0), held_max=max((k.held for k in whole), default=0),
        opened=shakes.attempts - shakes.failed if shakes else 0, handshake_failed=shakes.failed if shakes else 0,
        handshake_causes=dict(shakes.causes) if shakes else {},
        handshake_statuses={str(k): v for k, v in shakes.statuses.items()} if shakes else {},
        connect_p50_ms=shakes.p50_ms if shakes else None, connect_p95_ms=shakes.p95_ms if shakes else None,
        connect_p99_ms=shakes.p99_ms if shakes else None,
        round_trip_p50_ms=lat.p50 if lat else None, round_trip_p95_ms=lat.p95 if lat else None,
        round_trip_p99_ms=lat.p99 if lat else None,
        messages=tally.count if tally else 0, unanswered=tally.failed if tally else 0,
        sent_per_s=_rate(ticks, "sent"), pushed_per_s=pushes,
        received_per_s=round((answers or 0.0) + (pushes or 0.0), 3) if answers is not None else None,
        dropped=ended.dropped if ended else 0,
        close_codes={str(k): v for k, v in ended.codes.items()} if ended else {},
        session_p50_s=ended.duration_p50_s if ended else None, session_max_s=ended.duration_max_s if ended else None,
        rss_mb=round(rss / MIB, 3) if rss is not None else None,
        fds=int(fds) if fds is not None else None, threads=int(threads) if threads is not None else None,
        cpu_pct=round(float(cpu.mean()), 3) if cpu.size else None,
    )  # fmt: skip


def connections_section(run: RunData) -> ConnectionsSection | None:
    """The section of a ws:// run; None for any other."""
    c = run.meta.config
    if not is_websocket(c.url):
        return None
    shakes, ended = handshakes(run.requests), sessions(run.requests)
    arrays = run.samples.tree_arrays(("rss", "fds", "threads", "cpu"))  # read once: every stage and fit use them
    stages, before = [], 0
    for w in run.stages:
        stages.append(_stage(run, w, before, shakes.get(w.index), ended.get(w.index), arrays))
        before = w.users or 0
    ticks = run.connections
    held = held_at(ticks, arrays["t"])
    # The climb alone: memory a server freed as connections closed is often kept by its allocator,
    # so a ramp-down would bend the line.
    peak_t = max((k.t for k in ticks if k.held == max(t.held for t in ticks)), default=None) if ticks else None
    climb = arrays["t"] <= peak_t if peak_t is not None else np.zeros(arrays["t"].shape, dtype=bool)
    notes = [
        "A connection has one message out at a time; the first data frame after it is its answer (a pong, for a "
        "ping). Frames with nothing out are pushes.",
        "Per-connection figures are straight lines over the climb (samples joined with the connections held then).",
    ]
    if not c.observed:
        notes.append("The target's processes were not sampled (no --launch or --pid): no per-connection cost.")
    return ConnectionsSection(
        url=c.url,
        message="ping" if not c.message_bytes else f"{c.message_bytes} bytes",
        message_rate=c.message_rate, connect_rate=c.connect_rate,
        held_max=max((k.held for k in ticks), default=0), stages=stages,
        memory_kb=per_connection(held[climb], arrays["rss"][climb], 1.0 / KIB),
        fds=per_connection(held[climb], arrays["fds"][climb]),
        threads=per_connection(held[climb], arrays["threads"][climb]),
        cpu_pct=per_connection(held[climb], arrays["cpu"][climb]),
        fd_limit=run.meta.sampler.fd_limit,
        dropped=sum(s.dropped for s in stages),
        notes=notes,
    )  # fmt: skip
