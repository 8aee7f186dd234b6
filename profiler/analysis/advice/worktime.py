"""Advice that fits where the time goes: storage, serialization, another service, a lock. Each
names the function the stacks found doing the work and its measured share, never the server's
plumbing (analysis/traits/worktime.py finds the traits)."""

from __future__ import annotations

from profiler.analysis.advice.vocabulary import AdviceContext, advice, as_float, for_trait
from profiler.analysis.traits import evidence as ev
from profiler.schema.report import Recommendation


def _cpu(on_cpu: float | None) -> str:
    return f", {on_cpu:.0%} of it on a CPU" if on_cpu is not None else ""


@for_trait(ev.StorageBound)
def storage(found: ev.StorageBound, ctx: AdviceContext) -> list[Recommendation]:
    spent = "the query itself burns the CPU" if (found.on_cpu_share or 0) >= 0.5 else "the app waits on the database"
    # The pool to size: the requests in flight at capacity (closed model: its users), each holding one connection.
    in_flight = ctx.capacity.capacity_users if ctx.capacity is not None else None
    pool = (
        f"at least {in_flight} connections, the requests in flight at capacity"
        if in_flight
        else "the concurrency you need"
    )
    return advice(
        "cheaper-storage",
        f"Make the storage call in {found.function} cheaper: {found.share:.0%} of the working time is storage"
        f"{_cpu(found.on_cpu_share)} ({spent}). An index on what it filters, fewer rows read, or a cache in "
        f"front of it; then size the connection pool to {pool}, and add read replicas for reads.",
        "More instances of the app multiply the load on the same database; the query is the leg to shorten.",
        [ev.StorageBound.ID],
        share=as_float(found.share),
        on_cpu_share=as_float(found.on_cpu_share),
        function=found.function,
        pool_size=in_flight,
    )


@for_trait(ev.SerializationBound)
def serialization(found: ev.SerializationBound, ctx: AdviceContext) -> list[Recommendation]:
    light = min((s for s in ctx.stages if s.requests), key=lambda s: s.index, default=None)
    size = light.bytes_per_request if light is not None else 0.0
    per = f" (each response {size / 1024:,.1f} KB)" if size else ""
    return advice(
        "cheaper-serialization",
        f"Encode less, or faster, in {found.function}: {found.share:.0%} of the working time is serialization"
        f"{per}. A smaller payload (only the fields the client reads, pagination) or a faster encoder "
        "(orjson, msgspec) wins up to that share.",
        "Serialization is CPU the app spends on every response; it scales with the bytes sent.",
        [ev.SerializationBound.ID],
        share=as_float(found.share),
        function=found.function,
        bytes_per_response=round(size) if size else None,
    )


@for_trait(ev.DownstreamBound)
def downstream(found: ev.DownstreamBound, ctx: AdviceContext) -> list[Recommendation]:
    return advice(
        "bound-downstream",
        f"The app waits on another service in {found.function} ({found.share:.0%} of the working time): give "
        "that call a timeout, bound the concurrency sent to it, and cache or batch what it answers.",
        "The target's own CPU is not the limit; the other service's latency and capacity are.",
        [ev.DownstreamBound.ID],
        share=as_float(found.share),
        function=found.function,
    )


@for_trait(ev.LockContention)
def lock(found: ev.LockContention, ctx: AdviceContext) -> list[Recommendation]:
    return advice(
        "shorten-lock",
        f"Threads queue on a lock in {found.function} ({found.share:.0%} of the working time): hold it for less "
        "(move the slow part out), split it, or give each worker its own copy.",
        "More threads of this process only lengthen the queue on the lock; processes that do not share it scale.",
        [ev.LockContention.ID],
        share=as_float(found.share),
        function=found.function,
    )
