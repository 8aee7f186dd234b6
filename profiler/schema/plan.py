"""report.json's `plan`: the hosting plan, from the measured capacity (docs/hosting-plan.md), in
its own module so the report schema stays one readable page. Re-exported by profiler.schema.report."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from profiler.schema.base import ReportModel as _Model


class Envelope(_Model):
    """One instance as measured, at the stage that set its capacity."""

    capacity_rps: float = Field(ge=0, description="Capacity per instance at the latency limit (capacity.capacity_rps).")
    stage: int = Field(ge=0, description="The stage it was measured at.")
    users: int | None = Field(None, description="Concurrent users (requests in flight) there; null in the open model.")
    latency_p95_ms: float = Field(ge=0, description="p95 latency there.")
    cores_used: float | None = Field(None, ge=0, description="CPU the target used there, in cores; null: not known.")
    cores_available: float | None = Field(
        None, gt=0, description="Cores it could use (its CPU limit, else the machine's)."
    )
    rss_mb: float | None = Field(None, ge=0, description="Resident memory of the target's tree there (MiB).")
    workers: int | None = Field(None, ge=1, description="Worker processes serving, when the server is known.")
    rss_mb_per_worker: float | None = Field(None, ge=0, description="rss_mb over the workers.")
    gpu_memory_mb: float | None = Field(None, ge=0, description="GPU memory in use there (MiB), if a GPU was read.")
    sockets: int | None = Field(None, ge=0, description="Open sockets there: connections an instance holds.")


class Fleet(_Model):
    """Instances for a peak, with spare capacity kept."""

    peak_rps: float = Field(gt=0, description="The peak to serve (--peak-rps).")
    headroom: float = Field(
        ge=0,
        lt=1,
        description="Spare capacity kept at the peak: the fleet runs at most (1 - headroom) of its capacity.",
    )
    instances: int = Field(ge=1, description="ceil(peak / (capacity x (1 - headroom))).")
    utilisation_at_peak: float = Field(ge=0, le=1, description="peak / (instances x capacity).")
    cores_total: float | None = Field(None, ge=0, description="instances x cores_used.")
    memory_gb_total: float | None = Field(None, ge=0, description="instances x rss_mb / 1024.")


class ShapeFit(_Model):
    """One catalog shape, sized for this app."""

    name: str = Field(description="The shape's name in the catalog.")
    vcpus: float = Field(gt=0, description="Its vCPUs.")
    memory_gb: float = Field(gt=0, description="Its memory (GB).")
    price_per_hour: float = Field(gt=0, description="Its price per hour, from the catalog.")
    per_shape: int = Field(
        ge=0, description="Measured instances one shape holds (by cores, memory and GPU); 0: none fits."
    )
    limited_by: Literal["cores", "memory", "gpu"] | None = Field(None, description="What bounds per_shape.")
    count: int | None = Field(None, ge=1, description="Shapes for the peak; null without --peak-rps or when none fits.")
    cost_per_hour: float | None = Field(None, ge=0, description="count x price; null as count is.")
    cost_per_million: float | None = Field(
        None, ge=0, description="Cost of 1M requests on this shape at the planned utilisation; null when none fits."
    )


class Cost(_Model):
    """Money, from the user's own prices (the profiler invents none)."""

    price_per_hour: float | None = Field(None, gt=0, description="--price: one instance, per hour.")
    per_hour: float | None = Field(None, ge=0, description="The fleet for the peak, per hour (--price x instances).")
    per_month: float | None = Field(None, ge=0, description="per_hour x 730.")
    per_million_requests: float | None = Field(
        None,
        ge=0,
        description="Cost of 1M requests: per hour over the requests an hour served at the planned utilisation "
        "(the peak with --peak-rps; else one instance at capacity x (1 - headroom)).",
    )
    shapes: list[ShapeFit] = Field(default_factory=list, description="--catalog shapes, cheapest per request first.")
    cheapest: str | None = Field(None, description="The cheapest catalog shape that fits this app's envelope.")


class EnergyReceipt(_Model):
    """Energy per request at capacity: measured where the machine can, else an estimate said so."""

    joules_per_request: float | None = Field(None, ge=0, description="CPU and GPU together.")
    joules_per_1k: float | None = Field(None, ge=0, description="The same per 1,000 requests.")
    cpu_joules_per_request: float | None = Field(None, ge=0, description="The CPU's part.")
    cpu_source: Literal["rapl", "estimate"] | None = Field(
        None, description="'rapl': measured; 'estimate': CPU-seconds per request x watts_per_core."
    )
    cpu_seconds_per_request: float | None = Field(None, ge=0, description="Core-seconds of the target per request.")
    watts_per_core: float | None = Field(None, gt=0, description="The power per busy core the estimate assumed.")
    gpu_joules_per_request: float | None = Field(
        None, ge=0, description="The GPU's part, measured by NVML (or a DCGM exporter)."
    )


class Autoscaling(_Model):
    signal: Literal["cpu", "in-flight", "gpu"] = Field(description="What to scale on.")
    target: float = Field(ge=0, description="Its target value per instance, in `unit`.")
    unit: str = Field(description="'% of the CPU an instance uses at capacity', 'requests', '% GPU utilisation'.")
    reason: str = Field(description="Why this signal, from the measured curve.")


class BurstMode(_Model):
    mode: Literal["normal", "surge", "emergency"] = Field(
        description="normal: below the planned utilisation; surge: the headroom in use; emergency: past capacity."
    )
    from_rps: float = Field(ge=0, description="Per instance: the load at which this mode starts.")
    in_flight_from: int | None = Field(
        None, ge=0, description="Per instance: the requests in flight at which it starts."
    )
    action: str = Field(description="What to switch.")


class ServerConfig(_Model):
    server: str = Field(description="The server kind found (gunicorn, uvicorn, ...).")
    command: str | None = Field(None, description="A paste-ready worker command line; null where no flags are known.")
    notes: list[str] = Field(default_factory=list, description="What each flag is for, from the measurement.")


class MeasuredSpike(_Model):
    """The spike the playbook is read from: the largest step up of a shape run's timeline."""

    source: str = Field(description="The run folder it was measured in.")
    at_s: float = Field(ge=0, description="When the step began, seconds from that run's first stage.")
    load_before: float = Field(ge=0, description="Users (closed model) or arrivals per second before it.")
    load_after: float = Field(ge=0, description="... and during it.")
    demand_rps: float = Field(
        ge=0, description="The arrivals per second it asked (open model), or, closed, its users times each "
        "user's rate before it (what it would have asked at the baseline's latency)."
    )  # fmt: skip
    served_rps: float = Field(ge=0, description="Responses per second the target gave during it.")
    p95_ms: float | None = Field(None, ge=0, description="p95 of the requests it touched.")
    max_in_flight: int = Field(ge=0, description="Most requests in flight during it.")
    failed: int = Field(ge=0, description="Its requests that failed.")
    shed: int = Field(ge=0, description="Of them, answered at once with 429/503.")
    recovery_s: float | None = Field(None, ge=0, description="Its recovery (events' rule); null: not judged or never.")


class ShedRoute(_Model):
    route: str = Field(description="'METHOD name'.")
    cpu_ms: float | None = Field(None, ge=0, description="CPU per request (routes[].cpu_ms); null: not known.")
    p50_ms: float | None = Field(None, ge=0, description="Median latency at the lightest stage.")
    share: float = Field(ge=0, le=1, description="Its share of the traffic.")


class Playbook(_Model):
    """Normal, surge and emergency operation from a measured spike (docs/hosting-plan.md, "Burst playbook")."""

    spike: MeasuredSpike | None = Field(None, description="The measured spike; null: no shape run was given.")
    queue_bound: int = Field(ge=0, description="Requests that may wait past the concurrency limit: capacity x "
                             "(request timeout - p95 at capacity), Little's law.")  # fmt: skip
    lead_time_s: float | None = Field(None, ge=0, description="Restart-to-ready of one instance, as measured.")
    lead_time_source: str | None = Field(None, description="Where lead_time_s was measured.")
    spike_slope_rps_per_s: float | None = Field(
        None, ge=0, description="How fast the spike's demand rose; null: a step (all at once) or no spike."
    )
    warm_spares: int | None = Field(
        None, ge=0, description="Instances beyond the fleet that must already run to absorb what the spike adds "
        "before a new one answers; null: no spike measured."
    )  # fmt: skip
    modes: list[BurstMode] = Field(default_factory=list, description="The three modes with their measured triggers.")
    shed_first: list[ShedRoute] = Field(
        default_factory=list, description="A scenario's routes, costliest per request first: shed in this order."
    )


class Rollout(_Model):
    """How to restart and roll out without dropping requests, from what was measured."""

    ready_after_s: float | None = Field(None, ge=0, description="Start to first answer (the launch, or a restart's).")
    stopped_after_s: float | None = Field(None, ge=0, description="SIGTERM to exit, from a --fault restart.")
    graceful_timeout_s: int = Field(ge=1, description="The server's own drain limit: the request timeout or the "
                                    "measured drain, whichever is longer.")  # fmt: skip
    prestop_s: int = Field(ge=0, description="A preStop sleep: the load balancer stops sending first.")
    termination_grace_period_s: int = Field(ge=1, description="preStop + graceful timeout + 5 s, at least 30.")
    readiness_path: str = Field(description="The path answered when ready (the run's URL path).")
    port: int | None = Field(None, description="The port it answered on.")
    server_flag: str | None = Field(None, description="The server's own drain flag with its value.")


class PlanSection(_Model):
    """The hosting plan: the measured envelope, the fleet and its cost, energy, and what to run."""

    envelope: Envelope
    fleet: Fleet | None = Field(None, description="Null without --peak-rps.")
    cost: Cost | None = Field(None, description="Null without --price or --catalog.")
    energy: EnergyReceipt | None = Field(None, description="Energy per request at capacity; null: nothing to read.")
    autoscaling: Autoscaling | None = Field(None, description="What to scale on, and at what value.")
    burst: list[BurstMode] = Field(default_factory=list, description="Normal, surge and emergency modes.")
    request_timeout_s: float | None = Field(
        None, gt=0, description="From the latency at capacity (2 x p99, rounded up)."
    )
    concurrency_limit: int | None = Field(
        None, ge=1, description="In-flight requests per instance above which to shed."
    )
    server: ServerConfig | None = Field(None, description="The server's command line; null: no server was seen.")
    playbook: Playbook | None = Field(None, description="The burst playbook; the spike from a shape run.")
    rollout: Rollout | None = Field(None, description="Draining, probes and rolling updates, from the run.")
    caveats: list[str] = Field(default_factory=list, description="What the plan assumes or could not know.")
