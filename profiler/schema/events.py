"""report.json's `events`: each step of a shape (and, later, each fault) with what it cost and how
long the target took to recover, in its own module so the report schema stays one readable page.
Re-exported by profiler.schema.report. docs/transients.md defines every figure."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from profiler.schema.base import ReportModel as _Model


class EventBaseline(_Model):
    stage: int = Field(ge=0, description="The stage the event is judged against.")
    p50_ms: float = Field(ge=0, description="Its median latency.")
    p95_ms: float = Field(ge=0, description="Its 95th percentile latency.")
    rps: float = Field(ge=0, description="Its throughput (responses per second).")
    in_flight: float = Field(ge=0, description="Requests in flight, the 95th percentile over its span.")


class EventDuring(_Model):
    requests: int = Field(ge=0, description="Requests started during the event.")
    rps: float = Field(0.0, ge=0, description="Responses per second in the event's stage.")
    p95_ms: float | None = Field(None, ge=0, description="95th percentile latency of those requests.")
    max_ms: float | None = Field(None, ge=0, description="The slowest of them.")
    max_in_flight: int = Field(ge=0, description="Most requests in flight at once during the event.")
    errors_by_kind: dict[str, int] = Field(default_factory=dict, description="Failures by kind (timeout, http-5xx...).")
    shed: int = Field(0, ge=0, description="Failures answered at once with 429 or 503: load shed, not lost.")


class Event(_Model):
    kind: Literal["step-up", "step-down", "reload", "kill-worker", "pause"] = Field(
        description="What happened: a shape's step up or down, or a --fault."
    )
    stage: int = Field(ge=0, description="The stage the event began in (a step: the new step's stage).")
    label: str | None = Field(None, description="A fault as asked (reload@15s, pause@15s+3s:redis-server).")
    at_s: float = Field(ge=0, description="When it began, seconds from the run's first stage.")
    until_s: float = Field(ge=0, description="When it ended (a step: the end of that step).")
    load_before: float = Field(ge=0, description="Users (closed model) or arrivals per second before it.")
    load_after: float = Field(ge=0, description="... and during it.")
    process: str | None = Field(None, description="The process a fault acted on; null for a step.")
    baseline: EventBaseline | None = Field(None, description="What it is judged against; null: none before it.")
    during: EventDuring
    failed: int = Field(ge=0, description="Requests started during it that failed.")
    lost: int = Field(ge=0, description="Requests started during it that were never answered (no response).")
    unavailable_s: float = Field(
        ge=0, description="From the first failure to the first success started after it; 0 when nothing failed."
    )
    recovery_s: float | None = Field(
        None, ge=0, description="From the end of the load that caused it until latency and in-flight are back "
        "(the recovery rule of `events`); null when not judged (no baseline, or no calmer step after it)."
    )  # fmt: skip
    recovered: bool | None = Field(None, description="Whether it recovered within `watched_s`; null: not judged.")
    watched_s: float | None = Field(None, ge=0, description="How long recovery was watched for.")


class EventsSection(_Model):
    """A shape run's timeline: an event per step, and the rule recovery is judged by."""

    recovery_window_s: float = Field(description="The rolling window over which p95 and in-flight are read.")
    recovery_factor: float = Field(description="Recovered: p95 within this factor of the baseline's p95 ...")
    in_flight_margin: float = Field(description="... and in flight at most this factor of the baseline's (plus 1).")
    events: list[Event] = Field(default_factory=list, description="In time order.")
