"""Advice on what stops throughput (CPU, a blocked loop, a full pool or an inner cap), in the
words of the server found and with the numbers that justify it.

Each rule reads the trait's typed evidence and the serving shape (AdviceContext.server): a
gunicorn sync pool is told `-w`/`--threads`/a worker class, uvicorn `--workers`, a Node server
its cluster, and a target that is not Python never hears of the GIL or asyncio.
"""

from __future__ import annotations

import math

from profiler.analysis.advice.server import (
    concurrent_text,
    processes_how,
    processes_text,
    server_name,
    threads_text,
)
from profiler.analysis.advice.vocabulary import (
    AUTOSCALE_ON_CONCURRENCY,
    AdviceContext,
    advice,
    as_float,
    family,
    for_trait,
)
from profiler.analysis.traits import evidence as ev
from profiler.analysis.traits.thresholds import PROBE_WAITS
from profiler.schema.report import Recommendation


def _worker_advice(cpu: ev.CpuBound, ctx: AdviceContext) -> list[Recommendation]:
    """More processes when one process per worker was saturated and cores were left over."""
    cores = math.floor(cpu.cores_available or ctx.ncpu)
    workers = cpu.workers or ctx.processes
    if cpu.scope != "one-core" or workers >= cores:
        return []
    python = ctx.python
    why = (
        ("One Python process" if workers <= 1 else f"{workers} Python processes")
        + " saturated one core each (the GIL) while other cores had room."
        if python
        else ("One process" if workers <= 1 else f"{workers} processes")
        + " saturated one core each while other cores had room."
    )
    return advice(
        "worker-processes",
        processes_text(ctx.server, cores) + ("; threads will not help." if python else "."),
        why,
        [ev.CpuBound.ID],
        busiest_process_cpu_pct=as_float(cpu.busiest_process_cpu_pct),
        ncpu=cores,
        workers=workers,
    )


def _hot_path(cpu: ev.CpuBound, ctx: AdviceContext) -> list[Recommendation]:
    """Every core the target may use was busy: more workers would only queue; less CPU per request helps."""
    if cpu.scope != "all-cores":
        return []
    where = f" ({cpu.top_function})" if cpu.top_function else ""
    return advice(
        "reduce-cpu-per-request",
        f"Make the hot path cheaper{where} or add instances: more workers on these "
        f"{cpu.cores_available or ctx.ncpu:g} cores would only queue.",
        f"The target's processes used {cpu.tree_cpu_pct:.0f}% of the {cpu.cpu_budget_pct or 0:.0f}% of CPU left to it"
        + (f"; the busiest was {cpu.busiest_process}." if cpu.busiest_process else "."),
        [ev.CpuBound.ID],
        tree_cpu_pct=as_float(cpu.tree_cpu_pct),
        cpu_budget_pct=as_float(cpu.cpu_budget_pct),
        workers=cpu.workers,
    )


@for_trait(ev.CpuBound)
def cpu_bound(cpu: ev.CpuBound, ctx: AdviceContext) -> list[Recommendation]:
    autoscale = advice(
        "autoscale-on-cpu",
        "Autoscale on CPU utilisation, target 60-70%.",
        "Throughput is limited by CPU, so CPU tracks load until the plateau.",
        [ev.CpuBound.ID],
        plateau_rps=as_float(cpu.plateau_rps),
    )
    return _worker_advice(cpu, ctx) + _hot_path(cpu, ctx) + autoscale + family(ev.CpuBound)


@for_trait(ev.EventLoopBlocked)
def event_loop_blocked(loop: ev.EventLoopBlocked, ctx: AdviceContext) -> list[Recommendation]:
    fn = f" ({loop.blocking_function})" if loop.blocking_function else ""
    how = (
        ": `await asyncio.to_thread(...)`, an async client, or a plain `def` endpoint (run in the threadpool)."
        if ctx.python
        else ": asynchronous I/O, or a worker thread for CPU work (e.g. worker_threads in Node)."
    )
    loops = f"each of the {loop.loops} loops" if loop.loops > 1 else "the loop"
    return advice(
        "unblock-event-loop",
        f"Move the blocking call off the event loop{fn}{how}",
        f"{loops[0].upper() + loops[1:]} served about one request at a time ({loop.plateau_rps:.0f} rps in all) "
        "with the CPU idle; more instances would each be just as capped.",
        [ev.EventLoopBlocked.ID],
        plateau_rps=as_float(loop.plateau_rps),
        service_ms=as_float(loop.service_ms),
        loops=loop.loops,
    )


def _pool_advice(capped: ev.ConcurrencyCapped, ctx: AdviceContext) -> list[Recommendation]:
    """A full worker pool: more slots, in the server's words, with what each slot is worth."""
    slots, service = capped.slots or 1, capped.service_ms or 0.0
    per_slot = 1000.0 / service if service > 0 else None
    workers, threads = capped.workers or 1, capped.threads_per_worker or 1
    ways = [f"{workers * 2} worker processes ({processes_how(ctx.server, workers * 2)})"]
    more_threads = threads_text(ctx.server, max(4, threads * 2))
    if more_threads:
        ways.append(f"{more_threads} if the handlers mostly wait (I/O)")
    if concurrent_text(ctx.server):
        ways.append(str(concurrent_text(ctx.server)))
    peak = ctx.capacity.peak_rps if ctx.capacity else None
    needed = math.ceil(peak / per_slot) if peak and per_slot else None
    worth = f"; each slot serves ~{per_slot:.0f} rps at {service:.0f} ms per request" if per_slot else ""
    return advice(
        "raise-worker-pool",
        f"The pool of {slots} slots is the limit: raise it with "
        + "; or ".join(ways)
        + "."
        + (f" {needed} slots would serve {peak:g} rps." if needed else ""),
        f"{server_name(ctx.server)} served ~{capped.in_service:.1f} requests at once with the CPU idle: "
        f"every worker was busy{worth}.",
        [ev.ConcurrencyCapped.ID],
        slots=slots,
        in_service=as_float(capped.in_service),
        rps_per_slot=per_slot,
        slots_for_peak=needed,
    )


@for_trait(ev.ConcurrencyCapped)
def concurrency_capped(capped: ev.ConcurrencyCapped, ctx: AdviceContext) -> list[Recommendation]:
    k = as_float(capped.in_service) or 0
    if capped.cause == "worker-pool":
        raise_cap = _pool_advice(capped, ctx)
    elif capped.cause == "unknown" and (capped.probe_to_request or 0) >= PROBE_WAITS:
        raise_cap = advice(
            "find-shared-limit",
            f"Find the one limit every request waits behind (~{k:.0f} in service at a time): a global lock, "
            "a single worker or connection, or a blocking call on an event loop; then remove or widen it.",
            "Throughput plateaued with the CPU idle and even a free request waited like the others; the "
            "server's serving model is not known, so the kind of limit cannot be read from outside.",
            [ev.ConcurrencyCapped.ID],
            in_service=k,
            plateau_rps=as_float(capped.plateau_rps),
        )
    else:
        per_process = " (more worker processes help only if the cap is per process)" if capped.workers else ""
        raise_cap = advice(
            "raise-concurrency-limit",
            f"Find and raise the cap that lets only ~{k:.0f} requests in at a time (a lock, a connection/thread pool, "
            f"a semaphore){per_process}.",
            "Throughput plateaued with the CPU idle and the app still answering at once"
            + (f", below the server's {capped.slots} slots." if capped.slots else "."),
            [ev.ConcurrencyCapped.ID],
            in_service=k,
            plateau_rps=as_float(capped.plateau_rps),
        )
    autoscale = advice(
        AUTOSCALE_ON_CONCURRENCY,
        "Autoscale on in-flight requests, not CPU.",
        "CPU stays low even at the cap.",
        [ev.ConcurrencyCapped.ID],
    )
    return raise_cap + autoscale


@for_trait(ev.LatencyFloor)
def tcp_nodelay(floor: ev.LatencyFloor, ctx: AdviceContext) -> list[Recommendation]:
    uvicorn = ctx.server is not None and ctx.server.server == "uvicorn" and ctx.server.workers > 1
    how = (
        " uvicorn with --workers does not set it: run single-process uvicorn instances (one per core, behind a "
        "balancer), or a server that sets it."
        if uvicorn
        else ""
    )
    return advice(
        "tcp-nodelay",
        f"Set TCP_NODELAY on the server's sockets (or write headers and body in one write) to remove a "
        f"~{floor.gap_ms:.0f} ms floor under every request.{how}",
        "A small body arrived ~40 ms after its headers at light load: Nagle's algorithm waiting for a delayed ACK.",
        [ev.LatencyFloor.ID],
        gap_ms=as_float(floor.gap_ms),
        ttfb_p50_ms=as_float(floor.ttfb_p50_ms),
    )
