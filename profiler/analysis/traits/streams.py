"""Rules on streamed responses (an LLM answering token by token): the cadence that stretches when
streams share one generator, and the first token that waits while the cadence holds.

The cadence is the inter-token latency of an OpenAI-style stream, else the median gap between
chunks (events); each stage's figure is read from its streamed responses (load/stream.py).
"""

from __future__ import annotations

from profiler.analysis.figures.signals import Signals, StageSignal, by_load
from profiler.analysis.traits.common import load_text
from profiler.analysis.traits.evidence import Finding, FirstTokenQueues, StreamSlowsUnderLoad, finding
from profiler.analysis.traits.thresholds import FIRST_TOKEN_QUEUES, MIN_STREAMS, STREAM_SLOWS, STREAM_SLOWS_MIN_MS


def _cadence(s: StageSignal) -> float | None:
    return s.itl_p50 if s.itl_p50 is not None else s.gap_p50


def _streaming(signals: Signals) -> list[StageSignal]:
    """Closed-model stages with enough streams and a cadence, lightest first."""
    return sorted((s for s in signals.measured if s.users and s.streamed >= MIN_STREAMS and _cadence(s)), key=by_load)


def stream_slows_under_load(signals: Signals) -> Finding[StreamSlowsUnderLoad] | None:
    stages = _streaming(signals)
    if len(stages) < 2:
        return None
    light, heavy = stages[0], stages[-1]
    base, top = _cadence(light) or 0.0, _cadence(heavy) or 0.0
    if base <= 0 or top < STREAM_SLOWS * base or top - base < STREAM_SLOWS_MIN_MS:
        return None
    steady = max((s.users or 0 for s in stages if (_cadence(s) or 0) < STREAM_SLOWS * base), default=0)
    ratio = top / base
    tokens = light.itl_p50 is not None
    unit = "between tokens" if tokens else "between chunks"
    return finding(
        StreamSlowsUnderLoad(base, top, light.users or 0, heavy.users or 0, ratio, tokens, steady),
        0.5 + 0.4 * min(1.0, (ratio - STREAM_SLOWS) / STREAM_SLOWS),
        f"The time {unit} grew from {base:.1f} ms at {load_text(light)} to {top:.1f} ms at {load_text(heavy)} "
        f"({ratio:.1f}x): the streams share one generator, so each added stream slows every other one.",
    )


def first_token_queues(signals: Signals) -> Finding[FirstTokenQueues] | None:
    stages = [s for s in _streaming(signals) if s.first_token_p50]
    if len(stages) < 2:
        return None
    light, heavy = stages[0], stages[-1]
    first, last = light.first_token_p50 or 0.0, heavy.first_token_p50 or 0.0
    cadence = (_cadence(heavy) or 0.0) / (_cadence(light) or 1.0)
    if first <= 0 or last < FIRST_TOKEN_QUEUES * first or cadence >= STREAM_SLOWS:
        return None
    ratio = last / first
    return finding(
        FirstTokenQueues(first, last, light.users or 0, heavy.users or 0, ratio, cadence),
        0.5 + 0.35 * min(1.0, (ratio - FIRST_TOKEN_QUEUES) / FIRST_TOKEN_QUEUES),
        f"The first token came after {first:.0f} ms at {load_text(light)} and {last:.0f} ms at {load_text(heavy)} "
        f"({ratio:.1f}x) while the cadence held ({cadence:.2f}x): requests wait before generation starts "
        "(a queue, or a prefill the streams share).",
    )
