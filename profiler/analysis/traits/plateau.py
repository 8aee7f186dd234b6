"""Rules on how throughput follows concurrency: what stops it (CPU, a blocked loop, a cap), how
waiting scales, and throughput that falls past a peak."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from profiler.analysis.figures.scaling import PLATEAU_USERS, Plateau
from profiler.analysis.figures.signals import Signals, StageSignal
from profiler.analysis.traits.common import closed, mean_opt, plateau, python_of, slow_probe, users_text
from profiler.analysis.traits.evidence import (
    CapCause,
    ConcurrencyCapped,
    CpuBound,
    CpuScope,
    EventLoopBlocked,
    Finding,
    IoBound,
    RetrogradeScaling,
    finding,
)
from profiler.analysis.traits.thresholds import (
    BLOCKING_SHARE,
    CPU_IDLE,
    CPU_SATURATED,
    IO_CPU_SHARE,
    IO_EFFICIENCY,
    MULTI_CORE_PROCESS,
    POOL_FULL,
    PROBE_FAST,
    PROBE_WAITS,
    RETROGRADE_DROP,
)


def _scope_text(scope: CpuScope, signals: Signals, budget: float, tree: float) -> str:
    server = signals.server
    if scope == "all-cores":
        left = " left to it by the load generator and others" if budget < signals.cores * 100 - 1 else ""
        return f"all {signals.cores:g} cores the target may use (its processes used {tree:.0f}% of the {budget:.0f}% CPU{left})"
    if scope == "multi-core-process":
        return "several cores in one process (native threads, not the GIL)"
    workers = server.workers if server is not None else signals.processes
    if workers > 1:
        return f"one core per worker process ({workers} workers, {signals.cores:g} cores)"
    if server is None and not signals.cores_known:
        return "one core (the process behind --metrics-url)"
    if server is not None and server.language == "other":
        return "one core (one process, one thread at a time)"
    return "one core (the GIL: one Python process)"


def cpu_budget(signals: Signals, on: Sequence[StageSignal]) -> float:
    """CPU (% of one core) the target could have used on the plateau: the cores it may use, less
    what the load generator and other processes took from the machine meanwhile."""
    cores = signals.cores * 100.0
    loadgen = mean_opt([s.loadgen_cpu for s in on]) or 0.0
    machine = mean_opt([s.machine_cpu for s in on])
    tree = mean_opt([s.cpu for s in on]) or 0.0
    if machine is None:
        return max(CPU_IDLE, min(cores, signals.ncpu * 100.0 - loadgen))
    others = max(0.0, machine * signals.ncpu - tree - loadgen)
    return max(CPU_IDLE, min(cores, signals.ncpu * 100.0 - loadgen - others))


def one_core_full(busiest: float, steal: float | None) -> bool:
    """Whether a process used a full core: CPU_SATURATED of the share of a core the hypervisor
    left this machine (at 20% steal a process that never stops computing reads about 80%)."""
    return busiest >= CPU_SATURATED / 100.0 * core_left(steal)


def core_left(steal: float | None) -> float:
    """% of one core a process could get while the hypervisor took `steal` % (at most half)."""
    return 100.0 - min(steal or 0.0, 50.0)


def _saturated(signals: Signals, s: StageSignal) -> bool:
    if s.cpu is None or s.busiest_cpu is None:
        return False
    return one_core_full(s.busiest_cpu, s.steal) or (
        signals.cores_known and s.cpu >= CPU_IDLE and s.cpu >= CPU_SATURATED / 100 * cpu_budget(signals, [s])
    )


def cpu_saturated_plateau(signals: Signals) -> tuple[Plateau, list[StageSignal]] | None:
    """A flattening the strict plateau rule misses: from some stage on every stage had its CPU
    full, and throughput grew less than half as fast as users (per-request overhead still fell
    with concurrency, as an event loop batches its work, but the CPU set the pace)."""
    stages = closed(signals)
    for i, first in enumerate(stages[:-1]):
        on = stages[i:]
        users_grew = (on[-1].users or 0) / (first.users or 1)
        if first.ok_rps <= 0 or users_grew < PLATEAU_USERS or not all(_saturated(signals, s) for s in on):
            continue
        grew = on[-1].ok_rps / first.ok_rps
        if grew < 1 + 0.5 * (users_grew - 1):
            rps = max(s.ok_rps for s in on)
            return Plateau(first.index, first.users or 0, rps, on[-1].users or 0, grew), on
    return None


def cpu_bound(signals: Signals) -> Finding[CpuBound] | None:
    found = plateau(signals) or cpu_saturated_plateau(signals)
    if found is None:
        return None
    p, on = found
    busiest = mean_opt([s.busiest_cpu for s in on])
    tree = mean_opt([s.cpu for s in on])
    if busiest is None or tree is None:
        return None
    budget = cpu_budget(signals, on)
    steal = mean_opt([s.steal for s in on])
    one_core = one_core_full(busiest, steal)
    # The whole tree against what it could use: a multi-worker server saturates the machine
    # with no single process near a full core.
    every_core = signals.cores_known and tree >= CPU_IDLE and tree >= CPU_SATURATED / 100 * budget
    if not (one_core or every_core):
        return None
    scope: CpuScope = (
        "all-cores" if every_core else "multi-core-process" if busiest >= MULTI_CORE_PROCESS else "one-core"
    )
    saturation = max(busiest / core_left(steal), tree / budget)
    confidence = 0.55 + 0.3 * min(1.0, (saturation - 0.7) / 0.3) + 0.1 * (p.growth < 1.05)
    top, server = signals.top_function, signals.server
    where = f" The busiest process was {server.busiest_process}." if server and server.busiest_process else ""
    summary = (
        f"Throughput plateaued at {p.rps:.0f} rps from {users_text(p.users)} on while the target's CPU was "
        f"saturated on {_scope_text(scope, signals, budget, tree)}.{where}"
        + (f" py-spy: the top on-CPU function was {top}." if top else "")
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
            cores_available=signals.cores,
            cpu_budget_pct=budget,
            busiest_process=server.busiest_process if server else None,
            workers=server.workers if server else None,
            python=python_of(server),
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


def closeness(measured: float, expected: float) -> float:
    """1 when `measured` equals `expected`, falling linearly to 0 at twice (or zero) it."""
    return max(0.0, 1.0 - abs(measured / expected - 1.0)) if expected > 0 else 0.0


def pool_slots(signals: Signals) -> int | None:
    """The server's own slots when it serves from a pool of workers (x threads), else None."""
    server = signals.server
    if server is None or server.model not in ("sync-pool", "threaded-pool"):
        return None
    return server.slots


def event_loop_blocked(signals: Signals) -> Finding[EventLoopBlocked] | None:
    idle = _idle_plateau(signals)
    if idle is None or idle.probe is None or idle.probe[1] < PROBE_WAITS:
        return None
    server = signals.server
    if server is not None and server.model not in ("event-loop", "unknown"):
        return None  # a worker pool: the probe waits for a free worker; concurrency-capped says so
    if _loop_unproven(signals):
        return None  # one shared limit of some kind: concurrency-capped says so, without naming a loop
    loops = server.workers if server is not None and server.model == "event-loop" and server.workers else 1
    rps, probe, in_service = idle.plateau.rps, idle.probe, idle.in_service
    share = signals.blocking_on_loop_share
    spied = share is not None and share >= BLOCKING_SHARE
    # Each blocked loop serves one request at a time: in service ~ loops is the signature.
    confidence = 0.45 + 0.2 * closeness(in_service, loops) + 0.1 * min(1.0, probe[1]) + 0.15 * spied
    confidence += 0.1 * (server is not None and server.model == "event-loop")
    where = (
        f" py-spy: {share:.0%} of samples in a blocking call on the loop"
        + (f" ({signals.blocking_function})" if signals.blocking_function else "")
        + "."
        if spied
        else ""
    )
    summary = (
        f"Throughput plateaued at {rps:.0f} rps (about 1/service time per loop: {in_service:.1f} requests in service, "
        f"{loops} event loop{'s' if loops != 1 else ''}) with CPU at {idle.busiest:.0f}%, and a free probe request "
        f"waited {probe[0]:.0f} ms like the real ones.{where}"
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
            loops=loops,
            python=python_of(server),
        ),
        confidence,
        summary,
    )


def _cap_cause(signals: Signals, idle: _IdlePlateau) -> tuple[CapCause, float] | None:
    """What caps concurrency, and the confidence it deserves; None when the loop is blocked instead."""
    slots, probe = pool_slots(signals), idle.probe
    fast = 1.0 - min(1.0, probe[1] / PROBE_WAITS) if probe is not None else 0.0  # 1: answered at once
    if slots is not None and idle.in_service >= POOL_FULL * slots:
        # Every worker busy: even the probe waits for a free one, so its delay confirms it.
        return "worker-pool", 0.55 + 0.35 * closeness(idle.in_service, slots) + 0.05 * (fast == 0.0)
    if probe is not None and probe[1] >= PROBE_WAITS:
        if _loop_unproven(signals):
            # Everything queues behind one limit, but nothing shows it is an event loop.
            return "unknown", 0.45 + 0.1 * min(1.0, probe[1] - PROBE_WAITS)
        return None  # the probe queued like the real requests with free slots: a blocked loop
    cause: CapCause = "inner-limit" if signals.server is not None and signals.server.model != "unknown" else "unknown"
    return cause, 0.4 + 0.35 * fast + 0.1 * (probe is not None and probe[1] < PROBE_FAST)


def _loop_unproven(signals: Signals) -> bool:
    """A Python server whose serving model is not known (not a server we recognise, and py-spy saw
    no asyncio loop): a free request that waits means one shared limit, a blocked loop or not."""
    server, share = signals.server, signals.blocking_on_loop_share
    return server is not None and server.model == "unknown" and (share is None or share < BLOCKING_SHARE)


def _cap_summary(cause: CapCause, idle: _IdlePlateau, signals: Signals, slots: int | None) -> str:
    rps, probe = idle.plateau.rps, idle.probe
    head = f"Throughput plateaued at {rps:.0f} rps with CPU at {idle.busiest:.0f}%: about {idle.in_service:.1f} requests in service at once"
    if cause == "unknown" and probe is not None and probe[1] >= PROBE_WAITS:
        return (
            f"{head}, and a free probe request waited {probe[0]:.0f} ms like the real ones: every request queues "
            "behind one shared limit (a global lock, a single worker, or a blocked event loop). The server's "
            "serving model is not known, so which of them is not said."
        )
    if cause == "worker-pool" and signals.server is not None:
        return (
            f"{head}, the {slots} slots of {signals.server.server}'s worker pool "
            f"({signals.server.workers} workers x {signals.server.threads_per_worker} thread{'s' if signals.server.threads_per_worker != 1 else ''}): every worker is busy, "
            f"so requests (the probe too{f', {probe[0]:.0f} ms' if probe else ''}) queue for a free one."
        )
    inside = f", below the server's {slots} slots" if slots else ""
    return (
        f"{head}{inside}, while the app still answered a probe {'at once' if probe else '(no probe)'}: "
        "a cap inside the app (a lock, a small pool, a semaphore, one worker)."
    )


def concurrency_capped(signals: Signals) -> Finding[ConcurrencyCapped] | None:
    idle = _idle_plateau(signals)
    if idle is None:
        return None
    found = _cap_cause(signals, idle)
    if found is None:
        return None
    cause, confidence = found
    slots, server = pool_slots(signals), signals.server
    probe, light, top = idle.probe, idle.light, idle.on[-1]
    handler = mean_opt([s.handler_p50 for s in idle.on])
    outside = ""
    if handler is not None and top.p50 > 0 and light.handler_p50 is not None and handler < 2 * light.handler_p50:
        outside = f" The handler's own time stayed near {handler:.0f} ms while latency rose to {top.p50:.0f} ms: requests queue before the handler."
    return finding(
        ConcurrencyCapped(
            plateau_rps=idle.plateau.rps,
            in_service=idle.in_service,
            busiest_process_cpu_pct=idle.busiest,
            probe_p50_ms=probe[0] if probe else None,
            probe_to_request=probe[1] if probe else None,
            handler_p50_ms=handler,
            cause=cause,
            slots=slots,
            service_ms=light.p50,
            server=server.server if server else None,
            worker_class=server.worker_class if server else None,
            workers=server.workers if server else None,
            threads_per_worker=server.threads_per_worker if server else None,
        ),
        confidence,
        _cap_summary(cause, idle, signals, slots) + outside,
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
