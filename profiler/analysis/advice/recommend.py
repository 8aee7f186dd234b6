"""Scaling and hosting recommendations: a table of small rules over the typed findings and capacity.

No recommendation without evidence: every rule below fires only on a trait (or a capacity figure)
present in the report, and says which in its `evidence`. The rules read the traits' typed
evidence (profiler/analysis/traits/evidence.py), never a string key.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from profiler.analysis.advice.caching import add_cache, raise_hit_ratio
from profiler.analysis.advice.capacity import MAX_ERROR_RATE
from profiler.analysis.advice.plateau import concurrency_capped, cpu_bound, event_loop_blocked, tcp_nodelay
from profiler.analysis.advice.transients import TRANSIENT_RULES
from profiler.analysis.advice.vocabulary import (
    AUTOSCALE_ON_CONCURRENCY,
    FAMILIES,
    INSTANCE_FAMILY,
    AdviceContext,
    Rule,
    advice,
    as_float,
    family,
    for_trait,
)
from profiler.analysis.advice.worktime import downstream, lock, serialization, storage
from profiler.analysis.figures.signals import StageSignal
from profiler.analysis.traits import evidence as ev
from profiler.analysis.traits.common import load_text, users_text
from profiler.schema.report import CapacitySection, Recommendation, ServerInfo


def _no_capacity(capacity: CapacitySection, ctx: AdviceContext) -> list[Recommendation]:
    """Why there is nothing to divide the peak by, and what to fix first."""
    if capacity.latency_limit_ms is None:
        return advice(
            "instances-for-peak",
            "Capacity is not known: give an SLO (e.g. --slo p95=300ms) or run more than one load before sizing.",
            "Without an SLO the latency limit comes from a lighter stage, and this run had none.",
            peak_rps=capacity.peak_rps,
        )
    if capacity.limited_by == "errors":
        failing = next((s for s in ctx.stages if s.index == capacity.limiting_stage), None)
        share = f"{failing.error_rate:.0%} of requests failed at {load_text(failing)}" if failing else "requests failed"
        return advice(
            "instances-for-peak",
            f"Fix the errors before sizing: {share}, the lightest load tested (a stage counts as capacity only "
            f"with at most {MAX_ERROR_RATE:.0%} errors).",
            "A stage that fails requests does not count as capacity, whatever its latency.",
            peak_rps=capacity.peak_rps,
            error_rate=failing.error_rate if failing else None,
            stage=capacity.limiting_stage,
        )
    return advice(
        "instances-for-peak",
        "No stage met the latency limit: fix the latency at light load before sizing.",
        "Without a stage inside the limit there is no capacity to divide the peak by.",
        peak_rps=capacity.peak_rps,
        latency_limit_ms=capacity.latency_limit_ms,
    )


def instances_for_peak(ctx: AdviceContext) -> list[Recommendation]:
    capacity = ctx.capacity
    if capacity is None or capacity.peak_rps is None:
        return []
    cap = capacity.capacity_rps
    if not cap:
        return _no_capacity(capacity, ctx)
    # A lower-bound capacity (throughput still rising at the heaviest load tested) makes the count
    # an upper bound: say so, or the reader over-provisions believing it exact.
    bound = ""
    if capacity.limited_by == "generator":
        bound = " At most: the load generator was the limit, so each instance can take more than measured."
    elif capacity.capacity_is_lower_bound:
        bound = " At most: throughput was still rising at the heaviest load tested, so each instance can take more."
    return advice(
        "instances-for-peak",
        f"Run {capacity.instances_needed} instances for {capacity.peak_rps:g} rps "
        f"({cap:.1f} rps each at {capacity.slo or 'the light-load latency limit'}, {capacity.headroom or 0:.0%} headroom)."
        + bound,
        "Capacity per instance is the best stage that met the latency limit without errors.",
        capacity_rps=cap,
        peak_rps=capacity.peak_rps,
        headroom=capacity.headroom,
        instances=capacity.instances_needed,
        capacity_is_lower_bound=capacity.capacity_is_lower_bound,
    )


@for_trait(ev.IoBound)
def io_bound(io: ev.IoBound, ctx: AdviceContext) -> list[Recommendation]:
    users = ctx.capacity.knee_users if ctx.capacity and ctx.capacity.knee_users else None
    target = f", target about {users} per instance (the measured knee)." if users else "."
    autoscale = advice(
        AUTOSCALE_ON_CONCURRENCY,
        "Autoscale on in-flight requests (concurrency per instance)" + target,
        "Requests mostly wait; CPU stays low while the instance still has room, so CPU is a poor signal.",
        [ev.IoBound.ID],
        cpu_share_of_latency=as_float(io.cpu_share_of_latency),
        knee_users=users,
    )
    return autoscale + family(ev.IoBound)


MEASURED_FALL = 0.10  # a fitted N* counts only where measured throughput past it fell this far below its peak


def _fall_past(n_star: float, stages: Sequence[StageSignal]) -> float | None:
    """The largest share by which measured throughput fell below its peak at a load beyond both
    N* and that peak; None when no stage was measured there."""
    closed = [s for s in stages if s.users and s.requests > 0]
    if not closed:
        return None
    peak = max(closed, key=lambda s: s.ok_rps)
    beyond = [s.ok_rps for s in closed if (s.users or 0) > max(n_star, peak.users or 0)]
    return 1 - min(beyond) / peak.ok_rps if beyond and peak.ok_rps > 0 else None


def concurrency_limit(ctx: AdviceContext) -> list[Recommendation]:
    capacity = ctx.capacity
    usl = capacity.usl if capacity else None
    retro = ctx.get(ev.RetrogradeScaling)
    tested = capacity.max_tested_users if capacity else None
    # The measured peak beats a model; a fitted N* counts only from a fit that is not poor, only
    # inside the range actually tested (extrapolated peaks are guesses), and only where measured
    # throughput really fell past it: on a flat plateau the fit still bends, but nothing fell.
    n_star = usl.n_star if usl is not None and usl.kappa > 0 and usl.quality != "poor" else None
    inside = n_star if n_star and tested is not None and n_star <= tested else None
    fall = _fall_past(inside, ctx.stages) if inside else None
    usl_peak = inside if fall is not None and fall >= MEASURED_FALL else None
    peak_users = as_float(retro.peak_users) if retro is not None else None
    limit = peak_users or usl_peak
    if not limit:
        return []
    measured_fall = 1 - retro.ratio if retro is not None else (fall or 0.0)
    return advice(
        "concurrency-limit",
        f"Cap concurrency per instance near {math.floor(limit)} (e.g. `uvicorn --limit-concurrency`, a proxy's "
        "max connections) and queue or shed the rest.",
        f"Past that point measured throughput fell (by {measured_fall:.0%}) while latency grew.",
        [ev.RetrogradeScaling.ID] if retro else [],
        n_star=usl.n_star if usl else None,
        peak_users=peak_users,
        measured_fall=measured_fall,
    )


@for_trait(ev.ErrorsUnderLoad)
def backpressure(errors: ev.ErrorsUnderLoad, ctx: AdviceContext) -> list[Recommendation]:
    return advice(
        "backpressure",
        "Add backpressure: a bounded queue with a timeout in front of the app, and clients that retry with jittered "
        "backoff; scale out before the onset load.",
        f"Errors reached {errors.error_rate_max:.0%} under load (mostly {errors.main_error}).",
        [ev.ErrorsUnderLoad.ID],
        onset_users=as_float(errors.onset_users),
        error_rate_max=as_float(errors.error_rate_max),
    )


@for_trait(ev.MemoryGrowth)
def memory_growth(mem: ev.MemoryGrowth, ctx: AdviceContext) -> list[Recommendation]:
    minutes = as_float(mem.minutes_to_limit)
    limit = advice(
        "memory-limit",
        f"Set a memory limit with automatic restart (e.g. gunicorn --max-requests, or a container limit) and find the "
        f"leak: {mem.mib_per_1k_requests:.2f} MiB per 1k requests"
        + (f", {mem.limit_mib} MiB reached in ~{minutes:.0f} min at the tested rate." if minutes else "."),
        "Memory grows with work done and does not level off.",
        [ev.MemoryGrowth.ID],
        mib_per_1k_requests=as_float(mem.mib_per_1k_requests),
        minutes_to_limit=minutes,
    )
    return limit + family(ev.MemoryGrowth)


# Advice that needs no number: the trait's presence says it all. (id, action, rationale), in order.
FIXED: dict[type[ev.TraitEvidence], tuple[str, str, str]] = {
    ev.StatefulSessions: (
        "session-state",
        "Check whether the server keeps state behind its per-client cookie (a server-side session store, "
        "an in-process cache keyed by it). If it does, externalise that state (Redis, a database) or move to "
        "signed-cookie sessions, and until then enable sticky sessions (session affinity) on the load balancer.",
        "Traffic shows only the cookie: signed-cookie sessions (Flask, Starlette) keep no server state and need "
        "no affinity, a server-side session does.",
    ),
}


def fixed_advice(ctx: AdviceContext) -> list[Recommendation]:
    """FIXED's advice for each of its traits that was found."""
    return [r for kind, text in FIXED.items() if ctx.get(kind) is not None for r in advice(*text, [kind.ID])]


@for_trait(ev.StreamingResponses)
def stream_hosting(stream: ev.StreamingResponses, ctx: AdviceContext) -> list[Recommendation]:
    longest = as_float(stream.stream_p95_ms) or as_float(stream.latency_p50_ms) or 0.0
    silence = as_float(stream.gap_max_ms)
    idle = (
        f" and the idle timeout above the longest silence between chunks ({silence:.0f} ms measured)" if silence else ""
    )
    return advice(
        "lb-least-connections",
        "Balance by least connections (streams hold a connection for their whole length), set proxy and load "
        f"balancer read timeouts well above the stream's length (p95 {longest / 1000:.1f} s measured; 2x that is "
        f"{2 * longest / 1000:.1f} s){idle}, turn off proxy buffering for text/event-stream (nginx "
        "`proxy_buffering off`, or send `X-Accel-Buffering: no`), and drain connections on deploy.",
        "A proxy that buffers holds the first token until the end; one that times out cuts long answers; "
        "round-robin piles long streams onto some instances.",
        [ev.StreamingResponses.ID],
        stream_p95_ms=longest,
        gap_max_ms=silence,
    )


@for_trait(ev.StreamSlowsUnderLoad)
def cap_streams(slow: ev.StreamSlowsUnderLoad, ctx: AdviceContext) -> list[Recommendation]:
    unit = "inter-token latency" if slow.tokens else "gap between chunks"
    cap = f"near {users_text(slow.steady_users)} per instance (where the {unit} stayed within 1.5x)"
    return advice(
        "cap-concurrent-streams",
        f"Cap concurrent streams {cap if slow.steady_users else 'per instance'} and scale out on concurrent "
        "streams, not CPU; on a model server, batch decoding across streams (continuous batching) so they share "
        "each step instead of queueing for it.",
        f"The {unit} grew {slow.ratio:.1f}x from {users_text(slow.light_users)} to {users_text(slow.heavy_users)}: "
        "every added stream "
        "slowed the others.",
        [ev.StreamSlowsUnderLoad.ID],
        steady_users=slow.steady_users,
        ratio=as_float(slow.ratio),
    )


@for_trait(ev.FirstTokenQueues)
def first_token_slo(ft: ev.FirstTokenQueues, ctx: AdviceContext) -> list[Recommendation]:
    return advice(
        "time-to-first-token",
        "Set an SLO on time to first token and autoscale on requests waiting or in flight (not CPU); "
        "admit fewer prompts at once (a prefill or batch limit) or add replicas before users see the wait.",
        f"The first token took {ft.ratio:.1f}x longer at {users_text(ft.heavy_users)} than at {users_text(ft.light_users)} "
        "while the cadence held: the wait is before generation.",
        [ev.FirstTokenQueues.ID],
        light_first_ms=as_float(ft.light_first_ms),
        heavy_first_ms=as_float(ft.heavy_first_ms),
    )


@for_trait(ev.ColdStart)
def warm_up(cold: ev.ColdStart, ctx: AdviceContext) -> list[Recommendation]:
    took = f"The first request took {cold.first_request_ms:.0f} ms against {cold.steady_p50_ms:.1f} ms steady."
    return advice(
        "warm-up",
        "Warm up before taking traffic: send a few requests in the readiness probe (or load models at start-up), "
        "and keep a minimum of 1+ warm instances.",
        took,
        [ev.ColdStart.ID],
        requests_to_settle=as_float(cold.requests_to_settle),
    )


@for_trait(ev.TailHeavy)
def tail_latency(tail: ev.TailHeavy, ctx: AdviceContext) -> list[Recommendation]:
    p95, p99 = as_float(tail.p95_ms) or 0, as_float(tail.p99_ms) or 0
    return advice(
        "tail-latency",
        f"Set client timeouts near {max(p99 * 2, 1):.0f} ms and hedge (send a second request) after ~{max(p95, 1):.0f} ms "
        "for idempotent calls; find what makes 1% of requests slow.",
        "The tail exists without load, so more instances will not remove it.",
        [ev.TailHeavy.ID],
        p95_ms=p95,
        p99_ms=p99,
    )


@for_trait(ev.GpuUnderutilized)
def dynamic_batching(gpu: ev.GpuUnderutilized, ctx: AdviceContext) -> list[Recommendation]:
    return advice(
        "dynamic-batching",
        "Batch requests on the GPU (dynamic batching, e.g. a few ms window) and autoscale on GPU queue depth.",
        f"Requests queued while the GPU was {gpu.gpu_util_pct:.0f}% busy.",
        [ev.GpuUnderutilized.ID],
    )


@for_trait(ev.GpuBound)
def gpu_bound(gpu: ev.GpuBound, ctx: AdviceContext) -> list[Recommendation]:
    autoscale = advice(
        "autoscale-on-gpu",
        "Autoscale on GPU utilisation (or queue depth); use GPU instances sized to the model.",
        "The GPU is the bottleneck at the plateau.",
        [ev.GpuBound.ID],
    )
    return autoscale + family(ev.GpuBound)


@for_trait(ev.DominantHandoff)
def optimise_dominant_handoff(dom: ev.DominantHandoff, ctx: AdviceContext) -> list[Recommendation]:
    return advice(
        "optimise-dominant-handoff",
        f"Optimise '{dom.handoff}' first (cache, batch or move it): it is {dom.share:.0%} of latency.",
        "Speeding up anything else can win at most the remaining share.",
        [ev.DominantHandoff.ID],
        share=as_float(dom.share),
    )


def measure_with_more_load(ctx: AdviceContext) -> list[Recommendation]:
    """Where the load generator was the limit the advice is about the measurement, not the target."""
    limited = ctx.generator_limited
    if not limited:
        return []
    top = max(limited, key=lambda s: s.ok_rps)
    named = ", ".join(str(s.index) for s in limited)
    return advice(
        "measure-with-more-load",
        f"Measure again with more load: the load generator was the limit in stage{'s' if len(limited) > 1 else ''} "
        f"{named}, so the target answered at least {top.ok_rps:.0f} rps and its own limit was not reached. Run more "
        "generator processes (--workers N, a core each that the target does not need) or the load from another "
        "machine.",
        "A stage whose queue is the load generator measures the generator: its plateau, latency and CPU say "
        "nothing of the target, and no trait is drawn from it.",
        stages=named,
        floor_rps=round(top.ok_rps, 2),
    )


# In output order.
RULES: tuple[Rule, ...] = (
    measure_with_more_load,
    instances_for_peak,
    cpu_bound,
    io_bound,
    event_loop_blocked,
    concurrency_capped,
    concurrency_limit,
    backpressure,
    memory_growth,
    fixed_advice,
    stream_hosting,
    cap_streams,
    first_token_slo,
    warm_up,
    tail_latency,
    dynamic_batching,
    gpu_bound,
    optimise_dominant_handoff,
    storage,
    serialization,
    downstream,
    lock,
    add_cache,
    raise_hit_ratio,
    *TRANSIENT_RULES,
    tcp_nodelay,
)


def _one_of_each(recs: list[Recommendation]) -> list[Recommendation]:
    """One instance-family line (by FAMILIES' priority) and one autoscale-on-concurrency line."""
    priority = {kind.ID: i for i, kind in enumerate(FAMILIES)}
    families = [r for r in recs if r.id == INSTANCE_FAMILY]
    best_family = min(families, key=lambda r: priority.get(str(r.evidence.get("traits")), 9)) if families else None
    seen: set[str] = set()
    out: list[Recommendation] = []
    for r in recs:
        if r.id == INSTANCE_FAMILY and r is not best_family:
            continue
        if r.id in seen and r.id == AUTOSCALE_ON_CONCURRENCY:
            continue
        seen.add(r.id)
        out.append(r)
    return out


def recommend(
    findings: Sequence[ev.Finding[ev.TraitEvidence]],
    capacity: CapacitySection | None,
    ncpu: int,
    processes: int,
    server: ServerInfo | None = None,
    *,
    stages: Sequence[StageSignal] = (),
    generator_limited: Sequence[StageSignal] = (),
) -> list[Recommendation]:
    """The recommendations for these findings (`traits.find_traits`) and capacity, in RULES order;
    `stages` are the measured stages (`Signals.measured`) that advice on a fitted model checks."""
    ctx = AdviceContext.of(findings, capacity, ncpu, processes, server, stages, generator_limited)
    return _one_of_each([r for rule in RULES for r in rule(ctx)])
