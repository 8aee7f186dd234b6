"""The digest the trait rules read: one frozen value per run, built from the run's data.

Traits, capacity and recommendations are pure functions of `Signals`, so each rule can be tested
on synthetic numbers (noise, too few stages, zero requests) without a run folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from profiler.schema.report import GpuDeviceStage, ServerInfo


@dataclass(frozen=True, slots=True)
class StageSignal:
    index: int
    users: int | None
    rate: float | None
    requests: int
    duration_s: float
    rps: float
    ok_rps: float
    p50: float
    p95: float
    p99: float
    ttfb_p50: float
    error_rate: float
    bytes_per_request: float = 0.0
    unsent: int = 0  # open model: arrivals the load generator could not send
    generator_limited: bool = False  # the load generator was the limit (figures/generator.py)
    probe_p50: float | None = None
    cpu: float | None = None  # target tree, % of one core
    busiest_cpu: float | None = None  # busiest single process, % of one core
    loadgen_cpu: float | None = None
    machine_cpu: float | None = None  # the whole machine, % of all cores
    steal: float | None = None  # the hypervisor's share of this machine's CPU time, %
    handler_p50: float | None = None  # the server's own time (Server-Timing), when reported
    slo_latency: float | None = None  # the stage's latency at the SLO's percentile
    profiled: bool = False
    streamed: int = 0  # responses read as a stream (chunked, text/event-stream)
    gap_p50: float | None = None  # their median gap between chunks (ms)
    gap_max: float | None = None
    itl_p50: float | None = None  # OpenAI-style: median inter-token latency (ms)
    first_token_p50: float | None = None  # ... time to first token; else the first chunk's
    stream_p95: float | None = None  # the streamed responses' whole time, 95th percentile (ms)
    statuses: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class WorkSignal:
    """The work that takes most of the working thread samples (analysis/wheretime/)."""

    category: str  # storage, serialization, model, downstream, locks, ...
    label: str
    share: float  # of the working samples
    on_cpu_share: float | None  # of its samples; None: not told
    function: str  # the function doing it
    largest: bool = True  # no other category, the framework's or other code included, took more


@dataclass(frozen=True, slots=True)
class RoutePayload:
    """A route's bytes and caching over the run (runfolder/engine/payload.py), for the cache traits."""

    route: str
    share: float  # of the run's main requests
    responses: int
    repeat_share: float | None
    distinct_requests: int
    cache_headers_share: float | None
    response_bytes_mean: float | None
    reported: int = 0  # answers with a cache's verdict
    hit_ratio: float | None = None
    hit_p50_ms: float | None = None
    miss_p50_ms: float | None = None


@dataclass(frozen=True, slots=True)
class Signals:
    stages: tuple[StageSignal, ...]
    ncpu: int = 1
    cores_known: bool = True  # False: a target elsewhere whose host's cores nothing told (ncpu then means nothing)
    processes: int = 1
    rss_series: tuple[tuple[float, float], ...] = ()  # (requests completed so far, rss bytes)
    rss_times: tuple[float, ...] = ()  # sample times of rss_series, epoch seconds
    rss_stages: tuple[int | None, ...] = ()  # stage index of each rss sample (None: between stages); () not known
    first_latencies: tuple[float, ...] = ()  # the run's first requests, in start order
    ready_after_s: float | None = None
    responses: int = 0
    cookie_responses: int = 0
    event_stream_responses: int = 0
    chunked_responses: int = 0
    dominant_handoff: str | None = None
    dominant_share: float = 0.0
    handoff_shares: dict[str, float] = field(default_factory=dict)
    gpu: tuple[GpuDeviceStage, ...] = ()
    gpu_available: bool = False
    blocking_on_loop_share: float | None = None  # from py-spy
    idle_share: float | None = None
    top_function: str | None = None
    blocking_function: str | None = None
    work: WorkSignal | None = None  # from py-spy's stacks by category
    open_model: bool = False
    slo_percentile: float = 95.0
    server: ServerInfo | None = None  # the serving shape (analysis/server.py); None: not known
    payload: tuple[RoutePayload, ...] = ()  # per route, most requests first; () not known (before format 4)

    @property
    def cores(self) -> float:
        """Cores the target may use: its CPU limit where known, else the machine's."""
        if self.server is not None and self.server.cores_available:
            return self.server.cores_available
        return float(self.ncpu)

    @property
    def delivered(self) -> tuple[StageSignal, ...]:
        """Stages with traffic, excluding those distorted by py-spy: what the target answered,
        including stages where the load generator was the limit (capacity reads them as a floor)."""
        unprofiled = tuple(s for s in self.stages if s.requests > 0 and not s.profiled)
        return unprofiled or tuple(s for s in self.stages if s.requests > 0)

    @property
    def measured(self) -> tuple[StageSignal, ...]:
        """The delivered stages that measured the target, not the load generator (traits, the knee
        and scaling read these)."""
        return tuple(s for s in self.delivered if not s.generator_limited)


def by_load(s: StageSignal) -> tuple[float, int]:
    """Sort key from the lightest stage to the heaviest: users (closed model) or arrival rate
    (open model), then run order."""
    return (s.users or s.rate or 0, s.index)


def light_stage(stages: tuple[StageSignal, ...] | list[StageSignal]) -> StageSignal | None:
    """The stage with the least load (fewest users, lowest rate), earliest first: the one
    measured before queueing. Every "at light load" figure of the analysis comes from here."""
    return min(stages, key=by_load) if stages else None
