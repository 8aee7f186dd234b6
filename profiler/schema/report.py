"""The saved report (`report.json`): one versioned schema, as pydantic models with bounds.

`docs/report-schema.md` is generated from these models (`python -m profiler.report.docs`), and a
test fails if the two differ, so the documentation cannot drift from the code.
Bump SCHEMA_VERSION's major part on any change that can break a reader.
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from profiler.schema.base import ReportModel as _Model
from profiler.schema.code import CodeSection as CodeSection  # re-exported: report.json's `code`
from profiler.schema.code import CodeStage as CodeStage
from profiler.schema.code import FunctionShare as FunctionShare
from profiler.schema.connections import ConnectionsSection as ConnectionsSection  # re-exported: a ws:// run's
from profiler.schema.connections import ConnectionStage as ConnectionStage
from profiler.schema.connections import PerConnection as PerConnection
from profiler.schema.events import EventsSection as EventsSection  # re-exported: a shape's timeline
from profiler.schema.payload import PayloadFigures as PayloadFigures  # re-exported: a route's bytes and caches
from profiler.schema.plan import PlanSection as PlanSection  # re-exported: report.json's `plan`
from profiler.schema.resources import EnergySection as EnergySection  # re-exported: report.json's `resources`
from profiler.schema.resources import EnergyStage as EnergyStage
from profiler.schema.resources import GpuDeviceStage as GpuDeviceStage
from profiler.schema.resources import GpuSection as GpuSection
from profiler.schema.resources import MetricsSourceReport as MetricsSourceReport
from profiler.schema.resources import ProcessResources as ProcessResources
from profiler.schema.resources import ResourceSection as ResourceSection
from profiler.schema.resources import TargetSource as TargetSource
from profiler.schema.routes import Evidence as Evidence  # re-exported: a trait's evidence
from profiler.schema.routes import RouteReport as RouteReport
from profiler.schema.routes import RouteStage as RouteStage
from profiler.schema.routes import Trait as Trait
from profiler.schema.serving import ServerInfo as ServerInfo  # re-exported: report.json's `target.server`
from profiler.schema.serving import ServingModel as ServingModel
from profiler.schema.streams import StreamStats as StreamStats  # re-exported: a stage's streamed responses
from profiler.schema.wheretime import WhereTimeSection as WhereTimeSection  # report.json's `where_time_goes`

SCHEMA_VERSION = "2.7"


class LatencyStats(_Model):
    """Exact order statistics of a set of durations, in milliseconds."""

    count: int = Field(ge=0, description="How many durations.")
    mean: float = Field(ge=0, description="Arithmetic mean (ms).")
    p50: float = Field(ge=0, description="Median (ms).")
    p90: float = Field(ge=0, description="90th percentile (ms).")
    p95: float = Field(ge=0, description="95th percentile (ms).")
    p99: float = Field(ge=0, description="99th percentile (ms).")
    max: float = Field(ge=0, description="Largest (ms).")


RunStatus = Literal["completed", "saturated", "interrupted", "target-exited", "target-hung", "failed", "incomplete"]


class RunInfo(_Model):
    """How the run went."""

    folder: str = Field(description="The run folder this report was built from.")
    started_at: float = Field(ge=0, description="Start, Unix epoch seconds.")
    ended_at: float | None = Field(None, description="End, Unix epoch seconds; null if the run never finished writing.")
    status: RunStatus = Field(
        description="completed: all stages ran; saturated: stopped climbing early once throughput stopped rising "
        "(the target's, or the load generator's: then stop_reason and capacity.limited_by say so); "
        "interrupted: Ctrl-C or a signal; target-exited: the target died mid-run; target-hung: the target "
        "stopped answering (nothing came back for the request timeout, at least 5 s); failed: the profiler hit an "
        "error; incomplete: the folder has no end marker (the profiler itself was killed)."
    )
    stop_reason: str | None = Field(None, description="Why load stopped, in words.")
    profiler_version: str = Field(description="Version of the profiler that wrote the run.")
    folder_format: int = Field(
        ge=1, description="Run-folder format the analysis read (1: profiler 0.1; 2: typed meta, parsed Server-Timing)."
    )
    requests_missing: int | None = Field(
        None,
        ge=0,
        description="Requests the load generator started that are not in requests.csv: 0 when every request is "
        "accounted for; null when it cannot be known (a folder written before stages.jsonl carried the count, or "
        "a generator killed before its final count).",
    )


class TargetInfo(_Model):
    """The application under test."""

    url: str = Field(description="The URL that was loaded.")
    method: str = Field(description="HTTP method of the main requests.")
    command: str | None = Field(None, description="The --launch command, or the attached process's command line.")
    pid: int | None = Field(None, ge=1, description="Root pid of the target's process tree.")
    attached: bool = Field(description="True when attached with --pid (never stopped by us).")
    ready_after_s: float | None = Field(
        None,
        ge=0,
        description="Seconds from launch until the target was ready: the probe path answered, or without a "
        "probe the port accepted connections (the endpoint itself is never used, so its cold start stays visible).",
    )
    first_request_ms: float | None = Field(None, ge=0, description="Latency of the run's first request.")
    requests_to_settle: int | None = Field(
        None, ge=0, description="Requests until five in a row stayed within 2x the steady p50."
    )
    exit_code: int | None = Field(None, description="Exit code if the target exited during the run.")
    server: ServerInfo | None = Field(None, description="The serving shape; null when no process was seen.")


class StageReport(_Model):
    """One load stage, computed from the per-request records of that stage."""

    index: int = Field(ge=0, description="Stage number, from 0.")
    users: int | None = Field(None, ge=1, description="Concurrent users (closed model).")
    rate: float | None = Field(None, gt=0, description="Arrivals per second asked for (open model).")
    measured_s: float = Field(ge=0, description="Wall time the stage really ran (not the plan's length).")
    completed: bool = Field(
        description="False when the stage did not run whole (see `cut_short`): its figures never feed capacity, "
        "scaling or traits."
    )
    cut_short: str | None = Field(
        None,
        description="Why the stage is not whole: 'interrupted' (a signal), 'hung' (the target stopped answering "
        "during it), 'request-limit', 'write-failed' (the run folder could not be written), 'orphaned', "
        "'run ended inside it' (no end line: the generator was killed); null when it ran its whole plan.",
    )
    started: int | None = Field(
        None, ge=0, description="Main requests the load generator started in the stage (null: not recorded)."
    )
    missing: int = Field(
        0, ge=0, description="Requests started but not in requests.csv (lost: a full disk, a crash); 0 when all are."
    )
    requests: int = Field(ge=0, description="Main requests sent in the stage, each with its outcome (probe apart).")
    offered_rps: float = Field(0.0, ge=0, description="Offered load: arrivals attempted (sent or unsent) per second.")
    rps: float = Field(ge=0, description="Completed throughput: responses received in the stage's window per second.")
    ok_rps: float = Field(ge=0, description="Completed throughput of successful responses (HTTP < 400) only.")
    unsent: int = Field(0, ge=0, description="Open model: arrivals the generator could not send (all slots busy).")
    in_flight_at_end: int | None = Field(None, ge=0, description="Open model: requests in flight as the stage ended.")
    latency: LatencyStats = Field(description="Client-side latency, request sent to last byte read.")
    ttfb: LatencyStats = Field(description="Time to first byte (response headers received).")
    error_rate: float = Field(ge=0, le=1, description="The app's error rate: share of `requests` that failed.")
    errors: dict[str, int] = Field(
        default_factory=dict, description="Failures by name (exception name or 'HTTP 503'), the ten most frequent."
    )
    error_kinds: dict[str, int] = Field(
        default_factory=dict,
        description="Failures by kind: timeout, refused, reset, dns, tls, protocol, body-cut (the body broke off), "
        "cut-short (still in flight when the run or a hung stage ended), http-4xx, http-5xx, other.",
    )
    statuses: dict[str, int] = Field(default_factory=dict, description="Responses by HTTP status ('0' = no response).")
    bytes_per_request: float = Field(ge=0, description="Mean response body size.")
    probe: LatencyStats | None = Field(None, description="Latency of the light probe requests in this stage, if any.")
    stream: StreamStats | None = Field(
        None, description="Streamed responses (chunked, text/event-stream) read as they arrived; null when none."
    )
    target_cpu_pct: float | None = Field(
        None, ge=0, description="Mean CPU of the target's process tree, % of one core."
    )
    target_cpu_max_pct: float | None = Field(
        None, ge=0, description="Highest sampled CPU of the target tree, % of one core."
    )
    target_busiest_process_cpu_pct: float | None = Field(
        None, ge=0, description="Mean CPU of the busiest single target process (100 = one core, the GIL's ceiling)."
    )
    target_rss_mb: float | None = Field(None, ge=0, description="Largest resident memory of the target tree (MiB).")
    target_threads: int | None = Field(None, ge=0, description="Most threads in the target tree.")
    target_sockets: int | None = Field(None, ge=0, description="Most open sockets in the target tree.")
    disk_read_per_request: float | None = Field(
        None, ge=0, description="Bytes the target tree read from disk (the block layer) per answered request."
    )
    disk_write_per_request: float | None = Field(
        None, ge=0, description="Bytes the target tree wrote to disk per answered request."
    )
    io_read_per_request: float | None = Field(
        None, ge=0, description="Bytes the target tree read through read calls (sockets, pipes, files) per request."
    )
    io_write_per_request: float | None = Field(
        None, ge=0, description="Bytes the target tree wrote through write calls (sockets, pipes, files) per request."
    )
    loadgen_cpu_pct: float | None = Field(None, ge=0, description="Mean CPU of the load generator, % of one core.")
    loadgen_busiest_cpu_pct: float | None = Field(
        None, ge=0, description="Mean CPU of its busiest process (one of several with --workers), % of one core."
    )
    machine_cpu_pct: float | None = Field(
        None, ge=0, le=100, description="Mean CPU of the whole machine, % of all cores."
    )
    machine_steal_pct: float | None = Field(
        None,
        ge=0,
        le=100,
        description="Mean CPU steal: % of all cores' time a virtual machine's hypervisor gave to others.",
    )
    server_timing_coverage: float = Field(
        ge=0, le=1, description="Share of requests that carried a Server-Timing header."
    )
    profiled: bool = Field(
        False,
        description="True if py-spy was attached during this stage (its throughput is then not used for capacity).",
    )


class LoadSection(_Model):
    model: Literal["closed", "open"] = Field(
        description="closed: N users each waiting for its answer; open: arrivals at a fixed rate."
    )
    stages: list[StageReport] = Field(default_factory=list, description="Stages in the order run.")
    requests: int = Field(ge=0, description="Main requests over the whole run.")
    probe_path: str | None = Field(None, description="Path of the light probe requests, if the probe ran.")
    users_from: str | None = Field(None, description="'locustfile PATH' or 'scenario PATH'; null: one URL.")


class HandoffStats(_Model):
    """One Server-Timing handoff (or the unattributed remainder)."""

    count: int = Field(ge=0, description="Requests that reported it.")
    p50_ms: float = Field(ge=0, description="Median duration (ms).")
    p95_ms: float = Field(ge=0, description="95th percentile duration (ms).")
    mean_ms: float = Field(ge=0, description="Mean duration (ms).")
    share: float = Field(
        ge=0,
        le=1,
        description="Its total time as a share of the total client latency of the requests that carried Server-Timing.",
    )


class StageHandoffs(_Model):
    """Handoffs within one load stage."""

    stage: int = Field(ge=0, description="Load stage index.")
    users: int | None = Field(None, description="Users in that stage.")
    handoffs: dict[str, HandoffStats] = Field(default_factory=dict, description="Handoffs by name.")
    dominant: str | None = Field(None, description="The handoff with the largest share, if any.")
    unattributed: HandoffStats | None = Field(None, description="Client latency not covered by the server's timings.")


class HandoffSection(_Model):
    """Per-handoff timings read from the Server-Timing response header."""

    handoffs: dict[str, HandoffStats] = Field(
        default_factory=dict,
        description="Each handoff over the whole run, by name (the app's own `total` entry excluded).",
    )
    dominant: str | None = Field(
        None,
        description="The handoff with the largest share of latency at the lightest stage (no queueing yet), or null.",
    )
    unattributed: HandoffStats | None = Field(
        None,
        description="Client latency minus the server's time (its `total` entry, else the sum of its handoffs): queueing and network outside the app.",
    )
    coverage: float = Field(0.0, ge=0, le=1, description="Share of main requests that carried Server-Timing.")
    malformed_entries: int = Field(0, ge=0, description="Server-Timing entries that could not be parsed (skipped).")
    per_stage: list[StageHandoffs] = Field(default_factory=list, description="The same per load stage.")


class ValidityIssue(_Model):
    id: str = Field(description="Stable id, e.g. 'generator-limited'.")
    severity: Literal["warning", "error"] = Field(
        description="error: the numbers are not to be trusted; warning: read with care."
    )
    message: str = Field(description="What was seen and what it means.")
    stage: int | None = Field(None, description="The stage it concerns, if one.")


class ValiditySection(_Model):
    """Could the run measure the target, or was something else the bottleneck?"""

    valid: bool = Field(description="False when any issue has severity 'error'.")
    issues: list[ValidityIssue] = Field(default_factory=list, description="What limits trust in the numbers.")


class Recommendation(_Model):
    id: str = Field(description="Stable id, e.g. 'instances-for-peak'.")
    action: str = Field(description="What to do, with numbers.")
    rationale: str = Field(description="Why, in a sentence.")
    evidence: dict[str, float | int | str | bool | None] = Field(
        default_factory=dict, description="The numbers it rests on; trait ids under 'traits'."
    )


class UslFit(_Model):
    sigma: float = Field(description="Contention (serial fraction).")
    kappa: float = Field(description="Coherency (crosstalk) coefficient.")
    lambda_: float = Field(alias="lambda", ge=0, description="Throughput of one user in isolation (rps).")
    n_star: float | None = Field(
        None,
        ge=0,
        description="Concurrency of peak throughput, sqrt((1-sigma)/kappa); null when kappa <= 0 or the peak lies below one user.",
    )
    peak_rps: float | None = Field(None, ge=0, description="Predicted throughput at N*.")
    r_squared: float = Field(description="Quality of the fit on the measured points.")
    points: int = Field(ge=0, description="Stages used.")
    quality: Literal["good", "fair", "poor"] = Field(description="Plain verdict on the fit.")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class CapacitySection(_Model):
    slo: str | None = Field(None, description="The SLO used, e.g. 'p95<=300ms', or null.")
    slo_basis: str = Field(description="How the latency limit was chosen.")
    latency_limit_ms: float | None = Field(
        None,
        ge=0,
        description="The latency limit applied at the SLO's percentile; null when not known (no SLO, and no stage "
        "lighter than the heaviest to take a light-load latency from).",
    )
    capacity_rps: float | None = Field(
        None, ge=0, description="Highest throughput of a stage that met the limit (per instance)."
    )
    capacity_stage: int | None = Field(None, description="The stage it came from.")
    capacity_users: int | None = Field(None, description="Users in that stage.")
    capacity_is_lower_bound: bool = Field(
        False,
        description="True when the capacity stage is the heaviest load tested and throughput was still rising (no "
        "plateau): an instance takes at least `capacity_rps`, how much more was not tested.",
    )
    limited_by: Literal["latency", "errors", "generator"] | None = Field(
        None,
        description="What ended capacity: the lightest stage heavier than the capacity stage (any stage, when none "
        "qualified) failed on its error rate above 1% ('errors', named first) or its latency above the limit "
        "('latency'), or the load generator was the limit ('generator', named first: it could not send all its "
        "arrivals, or it was the limit (validity's generator-limited) and the latency was over; also when the "
        "capacity stage itself was generator-limited and nothing heavier failed); null when no heavier stage failed.",
    )
    limiting_stage: int | None = Field(None, description="The stage that `limited_by` speaks of.")
    max_rps: float | None = Field(None, ge=0, description="Highest throughput seen in any stage.")
    knee_users: int | None = Field(None, description="Concurrency past which latency rises faster than throughput.")
    max_tested_users: int | None = Field(None, ge=1, description="Highest concurrency tested (closed model).")
    usl: UslFit | None = Field(None, description="Universal Scalability Law fit, with >= 6 stages.")
    peak_rps: float | None = Field(None, ge=0, description="--peak-rps asked for.")
    headroom: float | None = Field(
        None, ge=0, description="Spare capacity kept at the peak, a fraction of the fleet's capacity (plan.fleet)."
    )
    instances_needed: int | None = Field(
        None, ge=1, description="Instances for the peak: ceil(peak / (capacity_rps x (1 - headroom)))."
    )
    from_unprofiled_stages: bool = Field(
        True, description="True when capacity rests only on stages run without py-spy attached."
    )


class Report(_Model):
    """report.json: everything `profiler run` or `profiler analyze` concluded about one run."""

    schema_version: str = Field(SCHEMA_VERSION, description="Schema version, MAJOR.MINOR.")
    run: RunInfo
    target: TargetInfo
    load: LoadSection
    handoffs: HandoffSection
    resources: ResourceSection
    validity: ValiditySection
    traits: list[Trait] = Field(default_factory=list, description="Behavioural traits with evidence (docs/traits.md).")
    recommendations: list[Recommendation] = Field(
        default_factory=list, description="Scaling and hosting advice with numbers."
    )
    capacity: CapacitySection | None = Field(None, description="Capacity per instance, knee and scaling law.")
    plan: PlanSection | None = Field(
        None, description="The hosting plan (docs/hosting-plan.md); null when no stage met the latency limit."
    )
    code: CodeSection = Field(description="Code attribution from py-spy.")
    where_time_goes: WhereTimeSection = Field(
        default_factory=lambda: WhereTimeSection(
            available=False, notice="not measured: the report was written before schema 2.4"
        ),
        description="The profiled stages' time by category of work (storage, serialization...), from the stacks.",
    )
    routes: list[RouteReport] = Field(
        default_factory=list,
        description="Each route (Locust's request name) on its own, most requests first: its stages, CPU per "
        "request and traits. One entry when the run loaded one URL; empty for folders written before routes.",
    )
    events: EventsSection | None = Field(
        None, description="A shape run's timeline: each step's cost and recovery (docs/transients.md); null otherwise."
    )
    connections: ConnectionsSection | None = Field(
        None,
        description="A ws:// run's connections held, per stage and per connection (docs/connections.md); "
        "null otherwise.",
    )
    notices: list[str] = Field(default_factory=list, description="One-line notices (absent samplers, etc.).")
