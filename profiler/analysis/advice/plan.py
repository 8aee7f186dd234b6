"""The hosting plan (report.json's `plan`, docs/hosting-plan.md): from the stage that set the
capacity, one instance's envelope; for a peak, the fleet; with the user's prices, its cost and the
cheapest catalog shape; energy per request; and the operating rules (autoscaling signal, burst
modes, timeout, concurrency limit) read off the measured curve. Each number's formula is here
once; the server command lines and Kubernetes objects are in `analysis/plan_config.py`."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from profiler.analysis.advice.plan_config import server_config
from profiler.analysis.advice.playbook import playbook
from profiler.analysis.advice.rollout import RunFacts, rollout
from profiler.base.pricing import DEFAULT_WATTS_PER_CORE, HOURS_PER_MONTH, Shape
from profiler.schema.plan import (
    Autoscaling,
    BurstMode,
    Cost,
    EnergyReceipt,
    Envelope,
    Fleet,
    PlanSection,
    ShapeFit,
)
from profiler.schema.report import CapacitySection, ResourceSection, ServerInfo, StageReport
from profiler.schema.routes import RouteReport

MAX_HEADROOM = 0.9  # spare capacity past this plans a fleet that runs nearly idle
GPU_SIGNAL_UTIL = 50.0  # % GPU utilisation at capacity past which the GPU, not the CPU, is the signal
TIMEOUT_STEP_S = 0.1  # request timeouts are rounded up to this
MIN_TIMEOUT_S = 1.0  # never below: a brief stall (a GC pause, a new connection) must not fail requests


@dataclass(frozen=True, slots=True)
class PlanOptions:
    peak_rps: float | None = None
    headroom: float = 0.3
    price_per_hour: float | None = None
    catalog: tuple[Shape, ...] = ()
    watts_per_core: float = DEFAULT_WATTS_PER_CORE
    burst: RunFacts | None = None  # `profiler plan --burst SHAPE_RUN`: the spike the playbook reads


def usable(headroom: float) -> float:
    """The share of an instance's capacity the plan uses: 1 - headroom (spare capacity kept)."""
    return 1.0 - min(max(headroom, 0.0), MAX_HEADROOM)


def fleet_size(peak_rps: float, capacity_rps: float, headroom: float) -> int:
    """Instances for a peak with `headroom` of the fleet's capacity spare: the one definition,
    used by capacity.instances_needed and the plan alike."""
    return max(1, math.ceil(round(peak_rps / (capacity_rps * usable(headroom)), 9)))


def _gpu_memory(resources: ResourceSection, stage: int) -> float | None:
    rows = [g for g in resources.gpu.per_stage if g.stage == stage]
    values = [g.proc_mem_max_mb if g.proc_mem_max_mb is not None else g.mem_used_max_mb for g in rows]
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def envelope(s: StageReport, capacity_rps: float, resources: ResourceSection, server: ServerInfo | None) -> Envelope:
    workers = server.workers if server is not None and server.workers > 0 else None
    rss = s.target_rss_mb
    return Envelope(
        capacity_rps=capacity_rps,
        stage=s.index,
        users=s.users,
        latency_p95_ms=s.latency.p95,
        cores_used=round(s.target_cpu_pct / 100.0, 3) if s.target_cpu_pct is not None else None,
        cores_available=server.cores_available if server is not None and server.cores_available else None,
        rss_mb=rss,
        workers=workers,
        rss_mb_per_worker=round(rss / workers, 1) if rss is not None and workers else None,
        gpu_memory_mb=_gpu_memory(resources, s.index),
        sockets=s.target_sockets,
    )


def fleet(env: Envelope, peak_rps: float | None, headroom: float) -> Fleet | None:
    if peak_rps is None or env.capacity_rps <= 0:
        return None
    n = fleet_size(peak_rps, env.capacity_rps, headroom)
    return Fleet(
        peak_rps=peak_rps,
        headroom=round(1.0 - usable(headroom), 3),
        instances=n,
        utilisation_at_peak=round(min(1.0, peak_rps / (n * env.capacity_rps)), 4),
        cores_total=round(n * env.cores_used, 2) if env.cores_used is not None else None,
        memory_gb_total=round(n * env.rss_mb / 1024.0, 2) if env.rss_mb is not None else None,
    )


def _served_per_hour(env: Envelope, fl: Fleet | None, headroom: float, units: int = 1) -> float:
    """Requests an hour at the planned utilisation: the peak, else `units` instances at capacity x (1 - headroom)."""
    rps = fl.peak_rps if fl is not None else units * env.capacity_rps * usable(headroom)
    return rps * 3600.0


def _per_shape(env: Envelope, shape: Shape) -> tuple[int, str | None]:
    """Measured instances one shape holds, and what bounds it (an instance needs at least its
    measured cores, a core when they are not known, and its memory)."""
    bounds: list[tuple[int, str]] = [(int(shape.vcpus // max(env.cores_used or 1.0, 0.05)), "cores")]
    if env.rss_mb:
        bounds.append((int(shape.memory_gb * 1024.0 // env.rss_mb), "memory"))
    if env.gpu_memory_mb:
        per_gpu = int(shape.gpu_memory_gb * 1024.0 // env.gpu_memory_mb) if shape.gpu_memory_gb else 0
        bounds.append((shape.gpus * per_gpu, "gpu"))
    n, by = min(bounds)
    return n, by


def shape_fit(env: Envelope, shape: Shape, fl: Fleet | None, headroom: float) -> ShapeFit:
    n, by = _per_shape(env, shape)
    count = max(1, math.ceil(fl.instances / n)) if fl is not None and n > 0 else None
    per_hour = count * shape.price_per_hour if count is not None else None
    if n <= 0:
        per_million = None
    elif per_hour is not None and fl is not None:
        per_million = per_hour / _served_per_hour(env, fl, headroom) * 1e6
    else:
        per_million = shape.price_per_hour / _served_per_hour(env, None, headroom, units=n) * 1e6
    return ShapeFit(
        name=shape.name,
        vcpus=shape.vcpus,
        memory_gb=shape.memory_gb,
        price_per_hour=shape.price_per_hour,
        per_shape=max(0, n),
        limited_by=by,
        count=count,
        cost_per_hour=round(per_hour, 4) if per_hour is not None else None,
        cost_per_million=round(per_million, 4) if per_million is not None else None,
    )


def cost(env: Envelope, fl: Fleet | None, options: PlanOptions) -> Cost | None:
    price, catalog = options.price_per_hour, options.catalog
    if price is None and not catalog or env.capacity_rps <= 0:
        return None
    per_hour = price * fl.instances if price is not None and fl is not None else None
    per_million = None
    if price is not None:
        per_million = (per_hour if per_hour is not None else price) / _served_per_hour(env, fl, options.headroom) * 1e6
    shapes = sorted((shape_fit(env, s, fl, options.headroom) for s in catalog),
                    key=lambda f: (f.cost_per_million is None, f.cost_per_million or 0.0, f.name))  # fmt: skip
    fits = [f for f in shapes if f.cost_per_million is not None]
    return Cost(
        price_per_hour=price,
        per_hour=round(per_hour, 4) if per_hour is not None else None,
        per_month=round(per_hour * HOURS_PER_MONTH, 2) if per_hour is not None else None,
        per_million_requests=round(per_million, 4) if per_million is not None else None,
        shapes=shapes,
        cheapest=fits[0].name if fits else None,
    )


def energy(s: StageReport, resources: ResourceSection, watts_per_core: float) -> EnergyReceipt | None:
    row = next((e for e in resources.energy.per_stage if e.stage == s.index), None)
    gpu = row.gpu_j_per_request if row is not None else None
    cpu, source, seconds = (row.cpu_j_per_request if row is not None else None), "rapl", None
    if s.target_cpu_pct is not None and s.rps > 0:
        seconds = s.target_cpu_pct / 100.0 / s.rps
    if cpu is None and seconds is not None:
        cpu, source = seconds * watts_per_core, "estimate"
    if cpu is None and gpu is None:
        return None
    total = (cpu or 0.0) + (gpu or 0.0)
    return EnergyReceipt(
        joules_per_request=round(total, 6),
        joules_per_1k=round(total * 1000.0, 3),
        cpu_joules_per_request=round(cpu, 6) if cpu is not None else None,
        cpu_source=source if cpu is not None else None,
        cpu_seconds_per_request=round(seconds, 6) if seconds is not None else None,
        watts_per_core=watts_per_core if source == "estimate" and cpu is not None else None,
        gpu_joules_per_request=round(gpu, 6) if gpu is not None else None,
    )


def _gpu_util(resources: ResourceSection, stage: int) -> float | None:
    values = [g.util_gpu_mean for g in resources.gpu.per_stage if g.stage == stage and g.util_gpu_mean is not None]
    return max(values) if values else None


def autoscaling(
    env: Envelope, traits: set[str], resources: ResourceSection, headroom: float, in_flight: int | None = None
) -> Autoscaling | None:
    """What tracks load until capacity: the GPU when it is busy there, the CPU when it set the
    plateau, else the requests in flight (a waiting app's CPU stays low as it fills up)."""
    share = usable(headroom)
    gpu = _gpu_util(resources, env.stage)
    if gpu is not None and gpu >= GPU_SIGNAL_UTIL:
        return Autoscaling(signal="gpu", target=round(gpu * share, 1), unit="% GPU utilisation",
                           reason=f"the GPU was {gpu:.0f}% busy at capacity: it tracks load; scaling out at "
                           f"{share:.0%} of that keeps the headroom")  # fmt: skip
    if "cpu-bound" in traits and env.cores_used:
        return Autoscaling(signal="cpu", target=round(share * 100.0, 1), unit="% of the CPU an instance uses at capacity",
                           reason=f"throughput plateaued with the CPU saturated ({env.cores_used:.2f} cores at "
                           f"{env.capacity_rps:.0f} rps): CPU tracks load up to capacity")  # fmt: skip
    if in_flight:
        return Autoscaling(signal="in-flight", target=round(in_flight * share, 1), unit="requests",
                           reason=f"capacity came at {in_flight} requests in flight and the CPU did not set it: "
                           "a waiting app's CPU stays low while it fills up, requests in flight do not")  # fmt: skip
    return None


def in_flight(s: StageReport) -> int | None:
    """Requests in flight at capacity: the users of a closed stage; in the open model, by Little's
    law, arrivals a second x the mean time each spends in the system."""
    if s.users:
        return s.users
    return max(1, round(s.rps * s.latency.mean / 1000.0)) if s.rps > 0 and s.latency.mean > 0 else None


def timeout_s(s: StageReport) -> float:
    """Twice the p99 at capacity, rounded up, at least MIN_TIMEOUT_S: slower is a request gone wrong."""
    return max(MIN_TIMEOUT_S, round(math.ceil(2.0 * s.latency.p99 / 1000.0 / TIMEOUT_STEP_S) * TIMEOUT_STEP_S, 3))


def burst(env: Envelope, headroom: float, limit: int | None, timeout: float) -> list[BurstMode]:
    normal_to = env.capacity_rps * usable(headroom)
    cap = f" at {limit} requests in flight" if limit else ""
    return [
        BurstMode(mode="normal", from_rps=0.0, action="autoscale on the signal above; nothing to switch"),
        BurstMode(
            mode="surge",
            from_rps=round(normal_to, 2),
            action=f"the headroom is in use while new instances start: keep the request timeout at {timeout:g} s "
            "and scale out ahead of the signal if the surge is known (a launch, a campaign)",
        ),  # fmt: skip
        BurstMode(
            mode="emergency",
            from_rps=round(env.capacity_rps, 2),
            action=f"past capacity latency climbs without bound: shed load{cap} per instance "
            "(HTTP 503 with Retry-After) rather than queue, and batch where the per-request overhead allows",
        ),  # fmt: skip
    ]


def plan_section(
    stages: Sequence[StageReport],
    capacity: CapacitySection | None,
    resources: ResourceSection,
    server: ServerInfo | None,
    traits: set[str],
    options: PlanOptions,
    command: str | None = None,
    facts: RunFacts | None = None,
    routes: Sequence[RouteReport] = (),
) -> PlanSection | None:
    """The plan, or None when no stage met the latency limit (there is no capacity to plan from)."""
    if capacity is None or capacity.capacity_rps is None or capacity.capacity_stage is None:
        return None
    s = next((st for st in stages if st.index == capacity.capacity_stage), None)
    if s is None:
        return None
    env = envelope(s, capacity.capacity_rps, resources, server)
    fl = fleet(env, options.peak_rps, options.headroom)
    timeout = timeout_s(s)
    limit = in_flight(s)
    caveats = [
        "Measured on this machine with this configuration: another instance size or worker count needs its own run.",
    ]
    if capacity.limited_by == "generator":
        caveats.append(
            "Capacity is a lower bound (the load generator was the limit, not the target): the fleet is sized high."
        )
    elif capacity.capacity_is_lower_bound:
        caveats.append(
            "Capacity is a lower bound (throughput still rose at the heaviest stage): the fleet is sized high."
        )
    if env.cores_used is None:
        caveats.append("The target's CPU was not sampled: no core figures, and catalog shapes are sized a core each.")
    return PlanSection(
        envelope=env,
        fleet=fl,
        cost=cost(env, fl, options),
        energy=energy(s, resources, options.watts_per_core),
        autoscaling=autoscaling(env, traits, resources, options.headroom, limit),
        burst=burst(env, options.headroom, limit, timeout),
        request_timeout_s=timeout,
        concurrency_limit=limit,
        server=server_config(server, env, timeout, limit, command),
        playbook=playbook(env, usable(options.headroom), limit, timeout, facts, options.burst, routes),
        rollout=rollout(facts, server.server if server else None, timeout) if facts is not None else None,
        caveats=caveats,
    )
