"""Rules on how throughput follows concurrency: what stops it (CPU, a blocked loop, a cap), how
waiting scales, and throughput that falls past a peak."""

from __future__ import annotations

from dataclasses import dataclass

from profiler.analysis.evidence import (
    ConcurrencyCapped,
    CpuBound,
    CpuScope,
    EventLoopBlocked,
    Finding,
    IoBound,
    RetrogradeScaling,
    finding,
)
from profiler.analysis.scaling import Plateau
from profiler.analysis.signals import Signals, StageSignal
from profiler.analysis.traits.common import closed, mean_opt, plateau, slow_probe, users_text
from profiler.analysis.traits.thresholds import (
    BLOCKING_SHARE,
    CPU_IDLE,
    CPU_SATURATED,
    IO_CPU_SHARE,
    IO_EFFICIENCY,
    MULTI_CORE_PROCESS,
    PROBE_FAST,
    PROBE_WAITS,
    RETROGRADE_DROP,
)


def _scope_text(scope: CpuScope, signals: Signals) -> str:
    if scope == "all-cores":
        return "all cores"
    if scope == "multi-core-process":
        return "several cores in one process (native threads, not the GIL)"
    if signals.processes > 1:
        return f"one core per worker process ({signals.processes} processes, {signals.ncpu} cores)"
    return "one core (the GIL: one Python process)"


def cpu_bound(signals: Signals) -> Finding[CpuBound] | None:
    found = plateau(signals)
    if found is None:
        return None
    p, on = found
    busiest = mean_opt([s.busiest_cpu for s in on])
    tree = mean_opt([s.cpu for s in on])
    if busiest is None or tree is None:
        return None
    all_cores = 100.0 * signals.ncpu
    one_core = busiest >= CPU_SATURATED
    every_core = tree >= CPU_SATURATED / 100 * all_cores
    if not (one_core or every_core):
        return None
    scope: CpuScope = (
        "all-cores" if every_core else "multi-core-process" if busiest >= MULTI_CORE_PROCESS else "one-core"
    )
    saturation = max(busiest / 100.0, tree / all_cores)
    confidence = 0.55 + 0.3 * min(1.0, (saturation - 0.7) / 0.3) + 0.1 * (p.growth < 1.05)
    top = signals.top_function  # py-spy's
    summary = (
        f"Throughput plateaued at {p.rps:.0f} rps from {users_text(p.users)} on while the target's CPU was "
        f"saturated on {_scope_text(scope, signals)}." + (f" py-spy: the top on-CPU function was {top}." if top else "")
    )
    return finding(
        CpuBound(
            scope=scope,
            plateau_rps=p.rps,
            plateau_users=p.users,
            busiest_process_cpu_pct=busiest,
            tree_cpu_pct=tree,
            ncpu=signals.ncpu,
            top_function=top,
        ),
        confidence,
        summary,
    )


def io_bound(signals: Signals) -> Finding[IoBound] | None:
    stages = closed(signals)
    if len(stages) < 3 or plateau(signals) is not None:
        return None
    light, top = stages[0], stages[-1]
    if not light.users or not top.users or top.users < 4 * light.users or light.ok_rps <= 0 or light.cpu is None:
        return None
    efficiency = (top.ok_rps / light.ok_rps) / (top.users / light.users)
    cpu_ms = (light.cpu / 100.0) / light.ok_rps * 1000.0
    cpu_share = cpu_ms / light.p50 if light.p50 > 0 else 1.0
    if efficiency < IO_EFFICIENCY or cpu_share > IO_CPU_SHARE:
        return None
    confidence = 0.5 + 0.35 * min(1.0, efficiency) + 0.1 * (cpu_share < 0.1)
    grew = top.ok_rps / light.ok_rps
    summary = (
        f"Latency is mostly waiting: {cpu_ms:.2f} ms of CPU per {light.p50:.1f} ms request, and throughput grew "
        f"{grew:.1f}x from {light.users} to {top.users} users."
    )
    return finding(
        IoBound(
            cpu_ms_per_request=cpu_ms,
            latency_p50_ms=light.p50,
            cpu_share_of_latency=cpu_share,
            scaling_efficiency=efficiency,
            users_low=light.users,
            users_high=top.users,
        ),
        confidence,
        summary,
    )


@dataclass(frozen=True, slots=True)
class _IdlePlateau:
    """A plateau reached with the CPU idle: what event-loop-blocked and concurrency-capped tell apart."""

    plateau: Plateau
    on: list[StageSignal]  # the closed stages on the plateau
    busiest: float  # the busiest process's mean CPU there, below CPU_IDLE
    probe: tuple[float, float] | None  # (probe p50, probe p50 / request p50) there
    light: StageSignal  # the first closed stage
    in_service: float  # Little's law: requests in service at once


def _idle_plateau(signals: Signals) -> _IdlePlateau | None:
    found = plateau(signals)
    if found is None:
        return None
    p, on = found
    busiest = mean_opt([s.busiest_cpu for s in on])
    if busiest is None or busiest >= CPU_IDLE:
        return None
    light = closed(signals)[0]
    return _IdlePlateau(p, on, busiest, slow_probe(on), light, p.rps * light.p50 / 1000.0)


def event_loop_blocked(signals: Signals) -> Finding[EventLoopBlocked] | None:
    idle = _idle_plateau(signals)
    if idle is None or idle.probe is None or idle.probe[1] < PROBE_WAITS:
        return None
    rps, probe, in_service = idle.plateau.rps, idle.probe, idle.in_service
    confidence = 0.6 + 0.15 * (0.6 <= in_service <= 1.6) + 0.1 * min(1.0, probe[1])
    share = signals.blocking_on_loop_share
    spied = share is not None and share >= BLOCKING_SHARE
    if spied:
        confidence += 0.15
    where = (
        f" py-spy: {share:.0%} of samples in a blocking call on the loop"
        + (f" ({signals.blocking_function})" if signals.blocking_function else "")
        + "."
        if spied
        else ""
    )
    summary = (
        f"Throughput plateaued at {rps:.0f} rps (about 1/service time: {in_service:.1f} request in service) "
        f"with CPU at {idle.busiest:.0f}%, and a free probe request waited {probe[0]:.0f} ms like the real ones.{where}"
    )
    return finding(
        EventLoopBlocked(
            plateau_rps=rps,
            service_ms=idle.light.p50,
            in_service=in_service,
            busiest_process_cpu_pct=idle.busiest,
            probe_p50_ms=probe[0],
            probe_to_request=probe[1],
            blocking_on_loop_share=share,
            blocking_function=signals.blocking_function,
        ),
        confidence,
        summary,
    )


def concurrency_capped(signals: Signals) -> Finding[ConcurrencyCapped] | None:
    idle = _idle_plateau(signals)
    if idle is None or (idle.probe is not None and idle.probe[1] >= PROBE_WAITS):
        return None  # the loop itself is blocked: event-loop-blocked says so
    rps, probe, light, top = idle.plateau.rps, idle.probe, idle.light, idle.on[-1]
    confidence = 0.75 if probe is not None and probe[1] < PROBE_FAST else 0.45
    handler = mean_opt([s.handler_p50 for s in idle.on])
    outside = ""
    if handler is not None and top.p50 > 0 and light.handler_p50 is not None and handler < 2 * light.handler_p50:
        outside = f" The handler's own time stayed near {handler:.0f} ms while latency rose to {top.p50:.0f} ms: requests queue before the handler."
    summary = (
        f"Throughput plateaued at {rps:.0f} rps with CPU at {idle.busiest:.0f}% while the app still answered a "
        f"probe {'at once' if probe else '(no probe)'}: about {idle.in_service:.1f} requests are served at a time "
        f"(a lock, a small pool or one worker).{outside}"
    )
    return finding(
        ConcurrencyCapped(
            plateau_rps=rps,
            in_service=idle.in_service,
            busiest_process_cpu_pct=idle.busiest,
            probe_p50_ms=probe[0] if probe else None,
            probe_to_request=probe[1] if probe else None,
            handler_p50_ms=handler,
        ),
        confidence,
        summary,
    )


def retrograde_scaling(signals: Signals) -> Finding[RetrogradeScaling] | None:
    stages = closed(signals)
    if len(stages) < 3:
        return None
    peak = max(stages, key=lambda s: s.ok_rps)
    later = [s for s in stages if s.index > peak.index and (s.users or 0) > (peak.users or 0)]
    if not later or peak.ok_rps <= 0:
        return None
    low = min(later, key=lambda s: s.ok_rps)
    ratio = low.ok_rps / peak.ok_rps
    if ratio > RETROGRADE_DROP:
        return None
    evidence = RetrogradeScaling(
        peak_rps=peak.ok_rps, peak_users=peak.users, low_rps=low.ok_rps, low_users=low.users, ratio=ratio
    )
    summary = (
        f"Throughput peaked at {peak.ok_rps:.0f} rps with {peak.users} users and fell to {low.ok_rps:.0f} rps "
        f"({ratio:.0%}) at {low.users} users: more concurrency makes the app slower in total."
    )
    return finding(evidence, 0.55 + min(0.4, 1 - ratio), summary)
