"""Where each request's time goes between handoffs, from the Server-Timing header."""

from __future__ import annotations

import math
from collections.abc import Sequence

from profiler.analysis.stats import mean, percentile
from profiler.record import RunData, StageRequests
from profiler.report.schema import HandoffSection, HandoffStats, StageHandoffs


def _stats(values: list[float], latency_total: float) -> HandoffStats:
    s = sorted(values)
    m = mean(s)
    # Share of all timed requests' latency: a handoff only some requests take (a cache miss,
    # a slow path) weighs by how often it happens, not by how long it is when it does.
    share = math.fsum(s) / latency_total if latency_total > 0 else 0.0
    return HandoffStats(
        count=len(s),
        p50_ms=max(0.0, percentile(s, 50)),
        p95_ms=max(0.0, percentile(s, 95)),
        mean_ms=max(0.0, m),
        share=min(1.0, max(0.0, share)),
    )


_Collected = tuple[list[float], list[float], dict[str, list[float]]]


def _collect(p: StageRequests) -> _Collected:
    """One pass over a stage's requests: (latency of timed requests, unattributed, durations by name)."""
    timed_latency: list[float] = []
    unattributed: list[float] = []
    per_name: dict[str, list[float]] = {n: [] for n in p.handoffs}
    if not p.timed:
        return timed_latency, unattributed, per_name
    columns = list(p.handoffs.items())
    for i in range(p.count):
        server = p.server_total[i]
        if math.isnan(server):
            durs = [col[i] for _, col in columns if not math.isnan(col[i])]
            if not durs:
                continue
            server = math.fsum(durs)
        timed_latency.append(p.latency[i])
        # Client time the server did not account for: queueing before the app saw the request,
        # the network, and (for streams) the body after the server's headers went out.
        unattributed.append(max(0.0, p.latency[i] - server))
        for n, col in columns:
            v = col[i]
            if not math.isnan(v):
                per_name[n].append(v)
    return timed_latency, unattributed, per_name


def _summarise(parts: Sequence[_Collected]) -> tuple[dict[str, HandoffStats], str | None, HandoffStats | None]:
    timed_latency = [v for p in parts for v in p[0]]
    if not timed_latency:
        return {}, None, None
    unattributed = [v for p in parts for v in p[1]]
    per_name: dict[str, list[float]] = {}
    for p in parts:
        for n, v in p[2].items():
            per_name.setdefault(n, []).extend(v)
    lat_total = math.fsum(timed_latency)
    stages = {n: _stats(v, lat_total) for n, v in sorted(per_name.items()) if v}
    dominant = max(stages, key=lambda n: stages[n].share) if stages else None
    return stages, dominant, _stats(unattributed, lat_total)


def handoff_section(run: RunData) -> HandoffSection:
    parts = [run.requests[i] for i in sorted(run.requests)]
    collected = {i: _collect(run.requests[i]) for i in sorted(run.requests)}
    stages, dominant, un = _summarise(list(collected.values()))
    total = sum(p.count for p in parts)
    per_stage: list[StageHandoffs] = []
    for w in run.stages:
        c = collected.get(w.index)
        if c is None or not c[0]:
            continue
        s, d, u = _summarise([c])
        per_stage.append(StageHandoffs(stage=w.index, users=w.users, stages=s, dominant=d, unattributed=u))
    if per_stage:
        # The dominant handoff is judged at the lightest stage: under load, time spent waiting for
        # a busy server (inside an `await`, say) inflates whichever handoff happens to wait.
        lightest = min(per_stage, key=lambda ps: (ps.users or 0, ps.stage))
        dominant = lightest.dominant or dominant
    return HandoffSection(
        stages=stages,
        dominant=dominant,
        unattributed=un,
        coverage=sum(p.timed for p in parts) / total if total else 0.0,
        malformed_entries=sum(p.malformed_timing for p in parts),
        per_stage=per_stage,
    )
