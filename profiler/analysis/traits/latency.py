"""Rules on where latency goes: streamed bodies, a slow start, an inherent tail, one dominant handoff."""

from __future__ import annotations

import math

from profiler.analysis.figures.signals import Signals, StageSignal, light_stage
from profiler.analysis.traits.common import load_text
from profiler.analysis.traits.evidence import (
    ColdStart,
    DominantHandoff,
    Finding,
    StreamingResponses,
    TailHeavy,
    finding,
)
from profiler.analysis.traits.thresholds import (
    COLD_FACTOR,
    COLD_MIN_MS,
    DOMINANT_SHARE,
    STREAM_TTFB_SHARE,
    TAIL_FACTOR,
    TAIL_MIN_MS,
)


def streaming_responses(signals: Signals) -> Finding[StreamingResponses] | None:
    light = light_stage(signals.measured)
    if light is None or signals.responses == 0:
        return None
    flagged = max(signals.event_stream_responses, signals.chunked_responses) / signals.responses
    early = light.p50 >= 20 and light.ttfb_p50 <= STREAM_TTFB_SHARE * light.p50
    if not early and signals.event_stream_responses / signals.responses < 0.5:
        return None
    confidence = (0.6 if early else 0.45) + 0.3 * (flagged >= 0.5)
    kind = "text/event-stream" if signals.event_stream_responses else "chunked" if signals.chunked_responses else "body"
    return finding(
        StreamingResponses(
            ttfb_p50_ms=light.ttfb_p50,
            latency_p50_ms=light.p50,
            streamed_share=flagged,
            stream_p95_ms=max((s.stream_p95 or s.p95 for s in signals.measured), default=None),
            gap_max_ms=max((s.gap_max for s in signals.measured if s.gap_max is not None), default=None),
        ),
        confidence,
        f"Responses stream ({kind}): the first byte came after {light.ttfb_p50:.1f} ms, the last after {light.p50:.1f} ms.",
    )


def _steady_p50(signals: Signals) -> float | None:
    stages = [s for s in signals.measured if s.requests >= 20]
    return min(s.p50 for s in stages) if stages else None


def requests_to_settle(first: tuple[float, ...], steady: float) -> int:
    """Requests until five in a row stay within twice the steady p50."""
    return next((i for i in range(len(first)) if all(x <= 2 * steady for x in first[i : i + 5])), len(first))


def warmup(signals: Signals) -> tuple[float | None, int | None]:
    """(the first request's latency, requests until latency settled), for the report's target."""
    first, steady = signals.first_latencies, _steady_p50(signals)
    if not first or steady is None or steady <= 0:
        return (first[0] if first else None), None
    return first[0], requests_to_settle(first, steady)


def _slow_first(first: tuple[float, ...], steady: float) -> bool:
    """The very first request alone was slow (a model loaded on first use), and not as one of a
    tail: it is well above the slowest 1% of the requests that followed it."""
    rest = sorted(first[1:])
    p99 = rest[min(len(rest) - 1, int(0.99 * len(rest)))]
    return first[0] >= COLD_FACTOR * steady and first[0] - steady >= COLD_MIN_MS and first[0] >= 2 * p99


def cold_start(signals: Signals) -> Finding[ColdStart] | None:
    first = signals.first_latencies
    steady = _steady_p50(signals)
    if len(first) < 10 or steady is None or steady <= 0:
        return None
    # The median of the first five: a cold start that slows every early request. Or the first
    # request alone, far above anything after it: what a lazily loaded model's first user meets.
    head = sorted(first[:5])[2]
    slow_head = head >= COLD_FACTOR * steady and head - steady >= COLD_MIN_MS
    if not slow_head and not _slow_first(first, steady):
        return None
    settle = requests_to_settle(first, steady)
    worst = head if slow_head else first[0]
    confidence = (0.6 if slow_head else 0.55) + 0.3 * min(1.0, math.log10(worst / steady) / 2)
    evidence = ColdStart(
        first_request_ms=first[0],
        median_first_five_ms=head,
        steady_p50_ms=steady,
        requests_to_settle=settle,
        ready_after_s=signals.ready_after_s,
    )
    ready = f" The target took {signals.ready_after_s:.1f} s to accept requests." if signals.ready_after_s else ""
    summary = (
        f"The first request took {first[0]:.0f} ms (median of the first five {head:.0f} ms) against a steady "
        f"{steady:.1f} ms; latency settled after about {settle} requests.{ready}"
    )
    return finding(evidence, confidence, summary)


def _light_warm_stages(signals: Signals, settle: int) -> list[StageSignal]:
    """The light-load stages with enough requests for a p99, past the first `settle` requests."""
    before = 0
    warm: list[StageSignal] = []
    for st in signals.stages:
        if before >= settle and not st.profiled and not st.generator_limited:
            warm.append(st)
        before += st.requests
    stages = [s for s in warm if s.requests >= 100]
    if not stages:
        return []
    closed = [s for s in stages if s.users]
    if closed:
        lightest = min(s.users or 0 for s in closed)
        return [s for s in closed if (s.users or 0) <= max(2, lightest)]
    # open model: only the lowest arrival rate is free of queueing
    low = min(s.rate or 0.0 for s in stages)
    return [s for s in stages if s.rate == low]


def tail_heavy(signals: Signals, settle: int = 0) -> Finding[TailHeavy] | None:
    """p99 far above p50 at light load. Stages that still hold cold-start requests (the first
    `settle` of the run) are skipped: a warming app is slow early, not inherently tail-heavy."""
    light = _light_warm_stages(signals, settle)
    hits = [s for s in light if s.p50 > 0 and s.p99 >= TAIL_FACTOR * s.p50 and s.p99 - s.p50 >= TAIL_MIN_MS]
    if not hits:
        return None
    s = max(hits, key=lambda x: x.p99 / x.p50)
    return finding(
        TailHeavy(p50_ms=s.p50, p95_ms=s.p95, p99_ms=s.p99, users=s.users, stage=s.index),
        0.55 + 0.3 * min(1.0, (s.p99 / s.p50 - TAIL_FACTOR) / 20) + 0.1 * (len(hits) > 1),
        f"At light load ({load_text(s)}, no queueing) p99 was {s.p99:.0f} ms against p50 {s.p50:.1f} ms: "
        "some requests are inherently slow.",
    )


def dominant_handoff(signals: Signals) -> Finding[DominantHandoff] | None:
    name = signals.dominant_handoff
    if not name or signals.dominant_share < DOMINANT_SHARE:
        return None
    others = sorted((v for k, v in signals.handoff_shares.items() if k != name), reverse=True)
    if others and others[0] * 1.5 > signals.dominant_share:
        return None
    return finding(
        DominantHandoff(handoff=name, share=signals.dominant_share, next_share=others[0] if others else None),
        0.5 + 0.45 * min(1.0, (signals.dominant_share - DOMINANT_SHARE) / 0.4),
        f"The '{name}' handoff takes {signals.dominant_share:.0%} of request latency at light load (Server-Timing).",
    )
