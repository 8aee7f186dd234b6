"""What the load worker tells the orchestrator: one JSON object a line on its stdout, typed.

The run's outcome travels as an explicit `status`, never parsed out of a sentence.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

# completed: every stage ran; saturated: stopped climbing once the target saturated;
# interrupted: a signal; request-limit: --max-requests reached; orphaned: the profiler went away;
# hung: the target stopped answering; write-failed: the run folder could not be written (disk full).
WorkerStatus = Literal[
    "completed", "saturated", "interrupted", "request-limit", "orphaned", "hung", "write-failed", "workers-missing"
]


class _Message(BaseModel):
    # Infinity and NaN are written as such (pydantic's default writes null, which the other end
    # then refuses): a tick whose p95 is infinite must still reach the orchestrator.
    model_config = ConfigDict(extra="forbid", frozen=True, ser_json_inf_nan="constants")


class Tick(_Message):
    """Twice a second: the last two seconds of the running stage."""

    type: Literal["tick"] = "tick"
    stage: int
    users: int | None
    rate: float | None
    stage_elapsed_s: float
    stage_planned_s: float
    rps: float
    p50: float
    p95: float
    errors: int
    requests: int


class StageDone(_Message):
    """A stage ended: what it achieved (as the early-stop rule saw it)."""

    type: Literal["stage_end"] = "stage_end"
    stage: int
    users: int | None
    rate: float | None
    rps: float
    p50: float
    p95: float
    error_rate: float
    requests: int


class ProfileStart(_Message):
    """The extra stage run with py-spy attached begins now."""

    type: Literal["profile_start"] = "profile_start"
    stage: int
    planned_s: float


class Done(_Message):
    """The worker has flushed its records and is about to exit."""

    type: Literal["done"] = "done"
    status: WorkerStatus
    reason: str
    requests: int


WorkerMessage = Annotated[Tick | StageDone | ProfileStart | Done, Field(discriminator="type")]
_ADAPTER: TypeAdapter[Tick | StageDone | ProfileStart | Done] = TypeAdapter(WorkerMessage)


def encode(message: Tick | StageDone | ProfileStart | Done) -> str:
    return message.model_dump_json() + "\n"


def decode(line: str | bytes) -> Tick | StageDone | ProfileStart | Done | None:
    """A message, or None for a line that is not one (e.g. a library printing to stdout)."""
    try:
        return _ADAPTER.validate_json(line)
    except ValidationError:
        return None
