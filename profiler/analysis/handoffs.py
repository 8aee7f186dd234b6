"""Where each request's time goes between handoffs, from the Server-Timing header."""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence

from profiler.record import RunData, StageRequests
from profiler.schema import HandoffSection, HandoffStats, StageHandoffs
from profiler.stats import percentile


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


def derive(p: StageRequests) -> None:
    """One pass over a stage's requests, stored on it: the timed requests' count and latency
    total, the sorted unattributed times, and each handoff's sorted durations.

    The reader calls this in its worker processes (see record.read_requests), so on a large run
    the per-request loop runs on every core; `_join` then merges the sorted runs.
    """
    unattributed: array[float] = array("d")
    total = 0.0
    count = 0
    columns = list(p.handoffs.items())
    if p.timed:
        isnan = math.isnan
        latencies, totals = p.latency, p.server_total
        for i in range(p.count):
            server = totals[i]
            if isnan(server):
                durs = [col[i] for _, col in columns if not isnan(col[i])]
                if not durs:
                    continue
                server = math.fsum(durs)
            latency = latencies[i]
            total += latency
            count += 1
            # Client time the server did not account for: queueing before the app saw the
            # request, the network, and (for streams) the body after the headers went out.
            unattributed.append(latency - server if latency > server else 0.0)
    p.timed_count = count
    p.timed_latency_total = total
    p.unattributed_sorted = array("d", sorted(unattributed))
    p.handoffs_sorted = {n: array("d", sorted(v for v in col if v == v)) for n, col in columns}  # v == v: not NaN


# (timed requests, their latency total, sorted unattributed times, sorted durations by name)
_Collected = tuple[int, float, "array[float]", dict[str, "array[float]"]]


def _collect(p: StageRequests) -> _Collected:
    if p.timed_count < 0:  # not derived by the reader (built by hand, e.g. in tests)
        derive(p)
    return p.timed_count, p.timed_latency_total, p.unattributed_sorted, p.handoffs_sorted


def _summarise(parts: Sequence[_Collected]) -> tuple[dict[str, HandoffStats], str | None, HandoffStats | None]:
    if not any(p[0] for p in parts):
        return {}, None, None
    lat_total = math.fsum(p[1] for p in parts)
    unattributed = array("d")
    per_name: dict[str, array[float]] = {}
    for p in parts:
        unattributed.extend(p[2])
        for n, v in p[3].items():
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
