"""report.json's traits and its `routes` section, in their own module so the report schema stays
one readable page. Re-exported by profiler.schema.report."""

from __future__ import annotations

from pydantic import Field

from profiler.schema.base import ReportModel as _Model
from profiler.schema.payload import PayloadFigures


class Evidence(_Model):
    summary: str = Field(description="One plain sentence.")
    values: dict[str, float | int | str | bool | None] = Field(
        default_factory=dict, description="The numbers the conclusion rests on."
    )


class Trait(_Model):
    id: str = Field(description="Trait id from the fixed vocabulary in docs/traits.md.")
    confidence: float = Field(ge=0, le=1, description="0..1; below 0.5 is said as low confidence.")
    evidence: Evidence
    subject: str | None = Field(None, description="What it is about (e.g. the handoff name for dominant-handoff).")


class RouteStage(_Model):
    """One route's requests in one load stage (the stage's users or rate is the whole mix's)."""

    stage: int = Field(ge=0, description="Load stage index.")
    users: int | None = Field(None, ge=1, description="Concurrent users of the whole mix (closed model).")
    requests: int = Field(ge=0, description="This route's requests sent in the stage.")
    rps: float = Field(ge=0, description="This route's responses received in the stage's window, per second.")
    p50_ms: float = Field(ge=0, description="Median latency.")
    p95_ms: float = Field(ge=0, description="95th percentile latency.")
    p99_ms: float = Field(ge=0, description="99th percentile latency.")
    error_rate: float = Field(ge=0, le=1, description="Share of the route's requests that failed.")
    completed: bool = Field(description="False when the stage did not run whole (never a capacity figure).")


class RouteReport(_Model):
    """One route (Locust's request name: method and path, or the `name=` a locustfile gives)."""

    route: str = Field(description="'METHOD name', e.g. 'GET /search'.")
    requests: int = Field(ge=0, description="Main requests of this route in the whole run.")
    share: float = Field(ge=0, le=1, description="Its share of the run's main requests (the mix).")
    stages: list[RouteStage] = Field(default_factory=list, description="Per stage, lightest first.")
    light_p50_ms: float | None = Field(None, ge=0, description="Median latency at the lightest measured stage.")
    cpu_share: float | None = Field(
        None,
        ge=0,
        description="Share of one core the target spends while a request of this route is in flight, at the "
        "lightest stage: a least-squares fit of the target's CPU in each sampling interval against each route's "
        "in-flight time in it (docs/traits.md, 'Per route'); null when not known.",
    )
    cpu_ms: float | None = Field(
        None, ge=0, description="Target CPU per request (ms): cpu_share x the route's mean latency at that stage."
    )
    cpu_ms_error: float | None = Field(None, ge=0, description="Standard error of cpu_ms.")
    capacity_rps: float | None = Field(
        None, ge=0, description="This route's throughput at the mix's capacity stage (holds for this mix only)."
    )
    dominant_handoff: str | None = Field(None, description="The Server-Timing handoff taking most of its time.")
    payload: PayloadFigures | None = Field(
        None, description="Its bytes, repeats and caches' verdicts; null for folders written before format 4."
    )
    traits: list[Trait] = Field(
        default_factory=list, description="Traits of this route on its own evidence (docs/traits.md, per route)."
    )
