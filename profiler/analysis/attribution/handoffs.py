"""Where each request's time goes between handoffs, from the Server-Timing header."""

from __future__ import annotations

from profiler.runfolder.engine import HandoffTally, StageHandoffs
from profiler.runfolder.read import RunData
from profiler.schema.report import HandoffSection, HandoffStats
from profiler.schema.report import StageHandoffs as StageHandoffReport


def _stats(t: HandoffTally, latency_total: float) -> HandoffStats:
    # Share of all timed requests' latency: a handoff only some requests take (a cache miss,
    # a slow path) weighs by how often it happens, not by how long it is when it does.
    share = t.total / latency_total if latency_total > 0 else 0.0
    return HandoffStats(
        count=t.count,
        p50_ms=max(0.0, t.p50),
        p95_ms=max(0.0, t.p95),
        mean_ms=max(0.0, t.mean),
        share=min(1.0, max(0.0, share)),
    )


def _summarise(h: StageHandoffs) -> tuple[dict[str, HandoffStats], str | None, HandoffStats | None]:
    stats = {name: _stats(t, h.latency_total) for name, t in sorted(h.handoffs.items())}
    dominant = max(stats, key=lambda n: stats[n].share) if stats else None
    un = _stats(h.unattributed, h.latency_total) if h.unattributed is not None else None
    return stats, dominant, un


def handoff_section(run: RunData) -> HandoffSection:
    whole = run.requests.handoffs().get(None)
    handoffs, dominant, unattributed = _summarise(whole) if whole else ({}, None, None)
    by_stage = run.requests.handoffs(by_stage=True)
    per_stage: list[StageHandoffReport] = []
    for w in run.stages:
        h = by_stage.get(w.index)
        if h is None:
            continue
        s, d, u = _summarise(h)
        per_stage.append(StageHandoffReport(stage=w.index, users=w.users, handoffs=s, dominant=d, unattributed=u))
    if per_stage:
        # The dominant handoff is judged at the lightest stage: under load, time spent waiting for
        # a busy server (inside an `await`, say) inflates whichever handoff happens to wait.
        lightest = min(per_stage, key=lambda ps: (ps.users or 0, ps.stage))
        dominant = lightest.dominant or dominant
    total = sum(t.count for t in run.tallies.values())
    return HandoffSection(
        handoffs=handoffs,
        dominant=dominant,
        unattributed=unattributed,
        coverage=sum(t.timed for t in run.tallies.values()) / total if total else 0.0,
        malformed_entries=sum(t.malformed_timing for t in run.tallies.values()),
        per_stage=per_stage,
    )
