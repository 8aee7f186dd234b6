"""Behavioural traits: fixed ids, each a pure rule over `Signals` with its typed evidence.

Every rule rests on signals that separate behaviours physically (docs/traits.md has the table):
CPU of the target at the throughput plateau (cpu-bound vs not), the light probe's latency (a
blocked event loop makes even a free request wait; a capped pool does not), throughput growth
with concurrency (waiting scales, computing does not), and so on. A rule whose signals the run
does not have returns None: absent, not guessed.

`find_traits` gives the findings (each a `Trait` for the report and its typed evidence, which the
recommendation rules read); `classify` gives just the `Trait`s.
"""

from __future__ import annotations

from collections.abc import Callable

from profiler.analysis.figures.signals import Signals
from profiler.analysis.traits.caching import cacheable_responses, low_cache_hit_ratio
from profiler.analysis.traits.evidence import (
    ConcurrencyCapped,
    CpuBound,
    EventLoopBlocked,
    Finding,
    GpuBound,
    IoBound,
    LatencyFloor,
    StreamingResponses,
    TraitEvidence,
)
from profiler.analysis.traits.hardware import gpu_bound, gpu_underutilized, memory_growth
from profiler.analysis.traits.latency import cold_start, dominant_handoff, streaming_responses, tail_heavy
from profiler.analysis.traits.network import latency_floor
from profiler.analysis.traits.plateau import (
    concurrency_capped,
    cpu_bound,
    event_loop_blocked,
    io_bound,
    retrograde_scaling,
)
from profiler.analysis.traits.streams import first_token_queues, stream_slows_under_load
from profiler.analysis.traits.thresholds import (
    BLOCKING_SHARE,
    COLD_FACTOR,
    COLD_MIN_MS,
    CPU_IDLE,
    CPU_SATURATED,
    DOMINANT_SHARE,
    ERRORS_HIGH,
    ERRORS_LOW,
    GPU_BUSY,
    GPU_IDLE,
    IO_CPU_SHARE,
    IO_EFFICIENCY,
    MEMORY_MIN_GROWTH_MB,
    MEMORY_MIN_R2,
    MULTI_CORE_PROCESS,
    PROBE_FAST,
    PROBE_WAITS,
    RETROGRADE_DROP,
    STREAM_TTFB_SHARE,
    TAIL_FACTOR,
    TAIL_MIN_MS,
)
from profiler.analysis.traits.traffic import errors_under_load, stateful_sessions
from profiler.analysis.traits.worktime import work_bound
from profiler.base.config import DEFAULT_MEMORY_LIMIT_MB
from profiler.schema.report import Trait

__all__ = [
    "BLOCKING_SHARE",
    "COLD_FACTOR",
    "COLD_MIN_MS",
    "CPU_IDLE",
    "CPU_SATURATED",
    "DOMINANT_SHARE",
    "ERRORS_HIGH",
    "ERRORS_LOW",
    "GPU_BUSY",
    "GPU_IDLE",
    "IO_CPU_SHARE",
    "IO_EFFICIENCY",
    "MEMORY_MIN_GROWTH_MB",
    "MEMORY_MIN_R2",
    "MULTI_CORE_PROCESS",
    "OVERRIDES",
    "PROBE_FAST",
    "PROBE_WAITS",
    "RETROGRADE_DROP",
    "RULES",
    "STREAM_TTFB_SHARE",
    "TAIL_FACTOR",
    "TAIL_MIN_MS",
    "Finding",
    "classify",
    "cold_start",
    "concurrency_capped",
    "cpu_bound",
    "dominant_handoff",
    "errors_under_load",
    "event_loop_blocked",
    "find_traits",
    "first_token_queues",
    "gpu_bound",
    "gpu_underutilized",
    "io_bound",
    "latency_floor",
    "memory_growth",
    "reconcile",
    "retrograde_scaling",
    "stateful_sessions",
    "stream_slows_under_load",
    "streaming_responses",
    "tail_heavy",
    "work_bound",
    "cacheable_responses",
    "low_cache_hit_ratio",
]

# The rules that need nothing but the signals, in report order before sorting by confidence.
RULES: tuple[Callable[[Signals], Finding[TraitEvidence] | None], ...] = (
    cpu_bound,
    io_bound,
    event_loop_blocked,
    concurrency_capped,
    gpu_bound,
    gpu_underutilized,
    stateful_sessions,
    streaming_responses,
    stream_slows_under_load,
    first_token_queues,
    errors_under_load,
    retrograde_scaling,
    dominant_handoff,
    latency_floor,
    work_bound,
    cacheable_responses,
    low_cache_hit_ratio,
)

# One coherent verdict: when traits claim the same thing, the one whose evidence explains it wins
# and the others are dropped (so no two recommendations contradict). (winner, losers, why), in order.
OVERRIDES: tuple[tuple[type[TraitEvidence], tuple[type[TraitEvidence], ...], str], ...] = (
    (
        GpuBound,
        (CpuBound, ConcurrencyCapped, EventLoopBlocked, IoBound),
        "The GPU sets the plateau; host CPU busy meanwhile is mostly the host waiting on it (CUDA spin-waits), "
        "and adding workers or threads cannot raise a saturated GPU's throughput.",
    ),
    (
        CpuBound,
        (ConcurrencyCapped, EventLoopBlocked, IoBound),
        "A saturated CPU explains the plateau; a cap on concurrency cannot be read while the CPU is full.",
    ),
    (
        LatencyFloor,
        (IoBound, StreamingResponses),
        "The late last byte is TCP's delayed ACK, not waiting in the app nor a streamed body.",
    ),
)


def reconcile(found: list[Finding[TraitEvidence]]) -> list[Finding[TraitEvidence]]:
    """Drop the traits an OVERRIDES winner explains."""
    for winner, losers, _why in OVERRIDES:
        if any(isinstance(f.data, winner) for f in found):
            found = [f for f in found if not isinstance(f.data, losers)]
    return found


def find_traits(signals: Signals, memory_limit_mb: float = DEFAULT_MEMORY_LIMIT_MB) -> list[Finding[TraitEvidence]]:
    """Every trait the run shows, most confident first, each with its typed evidence."""
    found = reconcile([f for rule in RULES if (f := rule(signals)) is not None])
    cold = cold_start(signals)
    if cold is not None:
        found.append(cold)
    tail = tail_heavy(signals, cold.data.requests_to_settle if cold is not None else 0)
    if tail is not None:
        found.append(tail)
    mem = memory_growth(signals, memory_limit_mb)
    if mem is not None:
        found.append(mem)
    return sorted(found, key=lambda f: -f.confidence)


def classify(signals: Signals, memory_limit_mb: float = DEFAULT_MEMORY_LIMIT_MB) -> list[Trait]:
    """The report's traits: `find_traits` without the typed evidence."""
    return [f.trait for f in find_traits(signals, memory_limit_mb)]
