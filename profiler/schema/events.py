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


class EventRestart(_Model):
    """A --fault restart's own figures: how long the target took to stop and to answer again."""

    stopped_after_s: float = Field(ge=0, description="SIGTERM until the target's root process exited: its drain.")
    killed: bool = Field(description="It had not exited after the grace time (30 s) and was SIGKILLed.")
    exit_code: int | None = Field(None, description="Its exit code (negative: the signal that ended it).")
    ready_after_s: float | None = Field(
        None, ge=0, description="Its command started again until it answered (restart-to-ready); null: it never did."
    )
    down_s: float = Field(ge=0, description="SIGTERM until it answered again (or was given up on).")
    in_flight: int = Field(0, ge=0, description="Requests in flight at the SIGTERM (started before, ended after).")
    in_flight_failed: int = Field(0, ge=0, description="Of them, failed: a server that drains fails none.")


class EventAfter(_Model):
    """A fault's aftermath, for sessions held in the process: the client errors (4xx but 429) in the
    time recovery is watched, beside the baseline's."""

    requests: int = Field(ge=0, description="Requests started in the time watched after the fault ended.")
    client_errors: int = Field(ge=0, description="Of them, answered 4xx (429 aside: that is shed load).")
    baseline_client_errors: int = Field(ge=0, description="The same count over the baseline's requests.")
    baseline_requests: int = Field(ge=0, description="The baseline's requests.")
    statuses: dict[str, int] = Field(default_factory=dict, description="The client errors after it, by status.")


class Event(_Model):
    kind: Literal["step-up", "step-down", "restart", "reload", "kill-worker", "pause"] = Field(
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
    restart: EventRestart | None = Field(None, description="A restart's own figures; null for any other event.")
    after: EventAfter | None = Field(None, description="A fault's client errors after it; null for a step.")


class EventsSection(_Model):
    """A shape run's timeline: an event per step, and the rule recovery is judged by."""

    recovery_window_s: float = Field(description="The rolling window over which p95 and in-flight are read.")
    recovery_factor: float = Field(description="Recovered: p95 within this factor of the baseline's p95 ...")
    in_flight_margin: float = Field(description="... and in flight at most this factor of the baseline's (plus 1).")
    events: list[Event] = Field(default_factory=list, description="In time order.")
