"""Where each request's time goes between handoffs, from the Server-Timing header."""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence

from profiler.analysis.stats import percentile
from profiler.record import RunData, StageRequests
from profiler.report.schema import HandoffSection, HandoffStats, StageHandoffs


def _stats(values: Sequence[float], latency_total: float) -> HandoffStats:
    # Inputs are sorted stage pieces joined together: timsort merges such runs almost for free.
    s = sorted(values)
    total = math.fsum(s)
    # Share of all timed requests' latency: a handoff only some requests take (a cache miss,
    # a slow path) weighs by how often it happens, not by how long it is when it does.
    share = total / latency_total if latency_total > 0 else 0.0
    return HandoffStats(
        count=len(s),
        p50_ms=max(0.0, percentile(s, 50)),
        p95_ms=max(0.0, percentile(s, 95)),
        mean_ms=max(0.0, total / len(s)) if s else 0.0,
        share=min(1.0, max(0.0, share)),
    )


# (latency of timed requests, unattributed time, durations by handoff name), as compact arrays:
# a million requests' worth of Python float lists would cost ~100 MB more at the peak.
_Collected = tuple["array[float]", "array[float]", dict[str, "array[float]"]]


def _collect(p: StageRequests) -> _Collected:
    """One pass over a stage's requests."""
    timed_latency: array[float] = array("d")
    unattributed: array[float] = array("d")
    per_name: dict[str, array[float]] = {n: array("d") for n in p.handoffs}
    if not p.timed:
        return timed_latency, unattributed, per_name
    columns = list(p.handoffs.items())
    isnan = math.isnan
    for i in range(p.count):
        server = p.server_total[i]
        if isnan(server):
            durs = [col[i] for _, col in columns if not isnan(col[i])]
            if not durs:
                continue
            server = math.fsum(durs)
        latency = p.latency[i]
        timed_latency.append(latency)
        # Client time the server did not account for: queueing before the app saw the request,
        # the network, and (for streams) the body after the server's headers went out.
        unattributed.append(latency - server if latency > server else 0.0)
    for n, col in columns:
        per_name[n] = array("d", sorted(v for v in col if v == v))  # v == v: not NaN
    return timed_latency, array("d", sorted(unattributed)), per_name


def _summarise(parts: Sequence[_Collected]) -> tuple[dict[str, HandoffStats], str | None, HandoffStats | None]:
    if not any(len(p[0]) for p in parts):
        return {}, None, None
    lat_total = math.fsum(math.fsum(p[0]) for p in parts)
    unattributed = array("d")
    per_name: dict[str, array[float]] = {}
    for p in parts:
        unattributed.extend(p[1])
        for n, v in p[2].items():
            per_name.setdefault(n, array("d")).extend(v)
    stages = {n: _stats(v, lat_total) for n, v in sorted(per_name.items()) if len(v)}
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
        if c is None or not len(c[0]):
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
