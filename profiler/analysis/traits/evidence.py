"""Typed evidence of each trait: one frozen dataclass per trait id, and the `Finding` that pairs it
with the `Trait` the report shows.

A trait rule fills its dataclass; `finding()` rounds its floats (3 decimals) and builds the `Trait`
whose `evidence.values` are the dataclass's fields, in order. Recommendation rules read the
dataclass, never a string key, and see exactly the numbers the report shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import ClassVar, Generic, Literal, TypeVar

from profiler.schema.report import Evidence, Trait

SUBJECT = {"subject": True}  # field metadata: the value goes to `Trait.subject`, not to `values`
CONFIDENCE_FLOOR = 0.05
CONFIDENCE_CEILING = 0.99
CpuScope = Literal["all-cores", "multi-core-process", "one-core"]  # what the saturated CPU spans
CapCause = Literal["worker-pool", "inner-limit", "unknown"]  # what caps concurrency (docs/traits.md)


@dataclass(frozen=True, slots=True)
class TraitEvidence:
    """Base of every trait's evidence; `ID` is the trait id from docs/traits.md."""

    ID: ClassVar[str]


@dataclass(frozen=True, slots=True)
class CpuBound(TraitEvidence):
    ID: ClassVar[str] = "cpu-bound"
    scope: CpuScope
    plateau_rps: float  # best throughput on the plateau
    plateau_users: int  # users where the plateau starts
    busiest_process_cpu_pct: float  # mean on the plateau, % of one core
    tree_cpu_pct: float  # the target's process tree, % of one core
    ncpu: int
    top_function: str | None  # py-spy's top on-CPU function, in the busiest process
    cores_available: float | None = None  # cores the target may use (affinity, cgroup quota)
    cpu_budget_pct: float | None = None  # of those, what the load generator and others left it
    busiest_process: str | None = None  # e.g. "gunicorn (pid 41)"
    workers: int | None = None  # worker processes of the server
    python: bool | None = None  # the server runs Python (None: not known)


@dataclass(frozen=True, slots=True)
class IoBound(TraitEvidence):
    ID: ClassVar[str] = "io-bound"
    cpu_ms_per_request: float  # at the light stage
    latency_p50_ms: float  # at the light stage
    cpu_share_of_latency: float
    scaling_efficiency: float  # throughput growth / concurrency growth
    users_low: int
    users_high: int


@dataclass(frozen=True, slots=True)
class EventLoopBlocked(TraitEvidence):
    ID: ClassVar[str] = "event-loop-blocked"
    plateau_rps: float
    service_ms: float  # p50 at the light stage
    in_service: float  # requests in service at once (Little's law)
    busiest_process_cpu_pct: float
    probe_p50_ms: float  # on the plateau
    probe_to_request: float  # probe p50 / request p50
    blocking_on_loop_share: float | None  # py-spy
    blocking_function: str | None  # py-spy
    loops: int = 1  # event loops serving (one per worker process)
    python: bool | None = None  # the server runs Python (None: not known)


@dataclass(frozen=True, slots=True)
class ConcurrencyCapped(TraitEvidence):
    ID: ClassVar[str] = "concurrency-capped"
    plateau_rps: float
    in_service: float  # requests served at a time (Little's law)
    busiest_process_cpu_pct: float
    probe_p50_ms: float | None  # None without a probe
    probe_to_request: float | None
    handler_p50_ms: float | None  # Server-Timing, on the plateau
    cause: CapCause = "unknown"
    slots: int | None = None  # the server's own slots (workers x threads), when a pool
    service_ms: float | None = None  # p50 at light load: each slot serves 1000/service_ms rps
    server: str | None = None  # gunicorn, uvicorn, ...
    worker_class: str | None = None
    workers: int | None = None
    threads_per_worker: int | None = None


@dataclass(frozen=True, slots=True)
class MemoryGrowth(TraitEvidence):
    ID: ClassVar[str] = "memory-growth"
    mib_per_1k_requests: float
    mib_per_minute: float  # 0 without sample times
    growth_mib: float  # over the run
    r_squared: float  # of RSS against requests served
    rss_end_mib: float
    limit_mib: float  # the limit the time is projected against
    minutes_to_limit: float | None


@dataclass(frozen=True, slots=True)
class GpuBound(TraitEvidence):
    ID: ClassVar[str] = "gpu-bound"
    plateau_rps: float
    gpu_util_pct: float  # mean on the plateau


@dataclass(frozen=True, slots=True)
class GpuUnderutilized(TraitEvidence):
    ID: ClassVar[str] = "gpu-underutilized"
    gpu_util_pct: float  # at the heaviest stage
    p50_light_ms: float
    p50_top_ms: float
    users: int | None  # of the heaviest stage


@dataclass(frozen=True, slots=True)
class StatefulSessions(TraitEvidence):
    ID: ClassVar[str] = "stateful-sessions"
    cookie_responses: int  # responses that set a cookie
    responses: int
    share: float
    once_per_client: bool


@dataclass(frozen=True, slots=True)
class StreamingResponses(TraitEvidence):
    ID: ClassVar[str] = "streaming-responses"
    ttfb_p50_ms: float  # at the light stage
    latency_p50_ms: float
    streamed_share: float  # responses flagged as a stream (event-stream or chunked)
    stream_p95_ms: float | None = None  # the whole stream, 95th percentile at the heaviest stage
    gap_max_ms: float | None = None  # the longest silence between two chunks, any stage


@dataclass(frozen=True, slots=True)
class StreamSlowsUnderLoad(TraitEvidence):
    """The cadence of a stream (its gap between chunks, or between tokens) stretches with users."""

    ID: ClassVar[str] = "stream-slows-under-load"
    light_gap_ms: float
    heavy_gap_ms: float
    light_users: int
    heavy_users: int
    ratio: float
    tokens: bool  # the cadence is inter-token latency (an OpenAI-style stream), else the chunk gap
    steady_users: int  # the most users at which the cadence stayed within STREAM_SLOWS of light


@dataclass(frozen=True, slots=True)
class FirstTokenQueues(TraitEvidence):
    """Time to the first token (or chunk) grows with users while the cadence holds."""

    ID: ClassVar[str] = "first-token-queues"
    light_first_ms: float
    heavy_first_ms: float
    light_users: int
    heavy_users: int
    ratio: float
    cadence_ratio: float


@dataclass(frozen=True, slots=True)
class LatencyFloor(TraitEvidence):
    ID: ClassVar[str] = "latency-floor"
    ttfb_p50_ms: float  # at the light stage: headers arrived
    latency_p50_ms: float  # ... and the last byte
    gap_ms: float  # between them, for a small body
    bytes_per_request: float
    users: int | None


@dataclass(frozen=True, slots=True)
class ColdStart(TraitEvidence):
    ID: ClassVar[str] = "cold-start"
    first_request_ms: float
    median_first_five_ms: float
    steady_p50_ms: float  # the lowest stage p50
    requests_to_settle: int
    ready_after_s: float | None  # start-up until the target answered


@dataclass(frozen=True, slots=True)
class TailHeavy(TraitEvidence):
    ID: ClassVar[str] = "tail-heavy"
    p50_ms: float  # of the light stage with the heaviest tail
    p95_ms: float
    p99_ms: float
    users: int | None
    stage: int  # its index


@dataclass(frozen=True, slots=True)
class ErrorsUnderLoad(TraitEvidence):
    ID: ClassVar[str] = "errors-under-load"
    error_rate_light: float
    error_rate_max: float
    onset_stage: int  # first stage at or above ERRORS_HIGH
    onset_users: int | None
    main_error: str  # e.g. "HTTP 503"


@dataclass(frozen=True, slots=True)
class RetrogradeScaling(TraitEvidence):
    ID: ClassVar[str] = "retrograde-scaling"
    peak_rps: float
    peak_users: int | None  # where throughput peaked
    low_rps: float  # the lowest throughput past the peak
    low_users: int | None
    ratio: float  # low / peak


@dataclass(frozen=True, slots=True)
class DominantHandoff(TraitEvidence):
    ID: ClassVar[str] = "dominant-handoff"
    handoff: str = field(metadata=SUBJECT)  # the handoff's name: the trait's subject
    share: float  # of request latency at light load
    next_share: float | None  # the next largest handoff's


# Most of the working thread samples are one category of work (analysis/wheretime/), from the
# stacks alone: the same fields for each, one class per id so each trait has its own type.
@dataclass(frozen=True, slots=True)
class StorageBound(TraitEvidence):
    ID: ClassVar[str] = "storage-bound"
    function: str = field(metadata=SUBJECT)  # the function doing it (the query function)
    share: float  # of the working samples
    on_cpu_share: float | None  # of those samples; None: not told


@dataclass(frozen=True, slots=True)
class SerializationBound(TraitEvidence):
    ID: ClassVar[str] = "serialization-bound"
    function: str = field(metadata=SUBJECT)  # the encoder or decoder
    share: float
    on_cpu_share: float | None


@dataclass(frozen=True, slots=True)
class DownstreamBound(TraitEvidence):
    ID: ClassVar[str] = "downstream-bound"
    function: str = field(metadata=SUBJECT)  # the call to the other service
    share: float
    on_cpu_share: float | None


@dataclass(frozen=True, slots=True)
class LockContention(TraitEvidence):
    ID: ClassVar[str] = "lock-contention"
    function: str = field(metadata=SUBJECT)  # where the threads wait
    share: float
    on_cpu_share: float | None


WorkBound = StorageBound | SerializationBound | DownstreamBound | LockContention


@dataclass(frozen=True, slots=True)
class CacheableResponses(TraitEvidence):
    """Answers repeat for the same request and say nothing of caching (analysis/traits/caching.py)."""

    ID: ClassVar[str] = "cacheable-responses"
    route: str = field(metadata=SUBJECT)
    repeat_share: float  # answers repeating an earlier answer to the same request
    responses: int
    distinct_requests: int
    cache_headers_share: float  # answers with Cache-Control, ETag, Last-Modified or Expires
    route_share: float  # the route's share of the mix
    response_bytes_mean: float | None


@dataclass(frozen=True, slots=True)
class LowCacheHitRatio(TraitEvidence):
    """A cache answers, but misses most, and a miss costs much more than a hit."""

    ID: ClassVar[str] = "low-cache-hit-ratio"
    route: str = field(metadata=SUBJECT)
    hit_ratio: float
    reported: int  # answers with a cache's verdict
    hit_p50_ms: float
    miss_p50_ms: float
    route_share: float
    repeat_share: float | None  # the ideal hit ratio the requests sent allow


E_co = TypeVar("E_co", bound=TraitEvidence, covariant=True)


@dataclass(frozen=True, slots=True)
class RouteCpuBound(TraitEvidence):
    """cpu-bound, read for one route of a mix: most of its time is the target's CPU."""

    ID: ClassVar[str] = "cpu-bound"
    cpu_ms_per_request: float  # fitted (analysis/routes.py)
    cpu_ms_error: float  # its standard error
    latency_p50_ms: float  # at the lightest stage
    cpu_share_of_latency: float


@dataclass(frozen=True, slots=True)
class RouteIoBound(TraitEvidence):
    """io-bound, read for one route of a mix: its time is waiting, not the target's CPU."""

    ID: ClassVar[str] = "io-bound"
    cpu_ms_per_request: float
    cpu_ms_error: float
    latency_p50_ms: float
    cpu_share_of_latency: float


@dataclass(frozen=True, slots=True)
class StarvedByRoute(TraitEvidence):
    """A cheap route slowed under load by another route that holds the target's CPU."""

    ID: ClassVar[str] = "starved-by-route"
    by_route: str = field(metadata=SUBJECT)  # the route that holds the CPU
    latency_rise: float  # this route's p50 at the heaviest stage / at the lightest
    light_p50_ms: float
    heavy_p50_ms: float
    heavy_users: int
    own_cpu_share: float  # of the fitted busy CPU at the heaviest stage
    other_cpu_share: float


@dataclass(frozen=True, slots=True)
class Finding(Generic[E_co]):
    """A trait found in a run: the report's `Trait` and the typed evidence it was built from.

    `id`, `confidence`, `evidence` and `subject` read through to the `Trait`, so a finding reads
    like the trait it reports; `data` is the typed evidence (rounded as in the report)."""

    trait: Trait
    data: E_co

    @property
    def id(self) -> str:
        return self.trait.id

    @property
    def confidence(self) -> float:
        return self.trait.confidence

    @property
    def evidence(self) -> Evidence:
        return self.trait.evidence

    @property
    def subject(self) -> str | None:
        return self.trait.subject


E = TypeVar("E", bound=TraitEvidence)


def finding(data: E, confidence: float, summary: str) -> Finding[E]:
    """The finding of `data`: floats rounded to 3 decimals, confidence clamped and rounded to 2."""
    rounded = replace(
        data, **{f.name: round(v, 3) for f in fields(data) if isinstance(v := getattr(data, f.name), float)}
    )
    values = {f.name: getattr(rounded, f.name) for f in fields(rounded) if not f.metadata.get("subject")}
    subject = next((getattr(rounded, f.name) for f in fields(rounded) if f.metadata.get("subject")), None)
    trait = Trait(
        id=data.ID,
        confidence=round(min(CONFIDENCE_CEILING, max(CONFIDENCE_FLOOR, confidence)), 2),
        evidence=Evidence(summary=summary, values=values),
        subject=subject,
    )
    return Finding(trait=trait, data=rounded)


def trait_ids() -> tuple[str, ...]:
    """Every trait id the profiler can report (the vocabulary of docs/traits.md), in definition order."""
    # The evidence kept beside the rules that use it is defined once its module is imported: the
    # vocabulary must not depend on what the caller happened to import first.
    from profiler.analysis.traits import connections, event_evidence  # noqa: F401

    # dict.fromkeys: a slotted dataclass is a second class object with the same ID.
    return tuple(dict.fromkeys(c.ID for c in TraitEvidence.__subclasses__()))
