"""report.json's `where_time_goes`: the profiled stages' time by category of work (py-spy's stacks,
analysis/wheretime/), in its own module so the report schema stays one readable page."""

from __future__ import annotations

from pydantic import Field

from profiler.schema.base import ReportModel as _Model
from profiler.schema.code import FunctionShare


class CategoryShare(_Model):
    category: str = Field(
        description="storage, serialization, model, downstream, locks, logging, gc, framework, app, other."
    )
    label: str = Field(description="The category in words.")
    samples: int = Field(ge=0, description="Working thread samples placed in it.")
    share: float = Field(ge=0, le=1, description="Of the working (not idle) samples.")
    on_cpu_share: float | None = Field(
        None, ge=0, le=1, description="Of its samples, the share on a CPU; null where the method could not tell."
    )
    top_function: str | None = Field(None, description="The function that placed most of its samples.")
    top_functions: list[FunctionShare] = Field(default_factory=list, description="Shares of this category's samples.")
    called_from: str | None = Field(None, description="The app's function that called it most often.")
    how: str = Field(
        description="What told the category: frame, native, call (the source line of a C call), app, framework, other."
    )
    evidence: str = Field(description="One sentence with the numbers.")


class WhereTimeStage(_Model):
    stage: int | None = Field(description="The profiled stage; null for the whole run's profiled stages together.")
    samples: int = Field(ge=0, description="Every thread sample py-spy took.")
    working_samples: int = Field(ge=0, description="Samples of threads doing a request's work (not parked idle).")
    idle_share: float = Field(ge=0, le=1, description="Samples of threads parked with nothing to do, of all.")
    method: str = Field(description="How each sample was placed and weighed on-CPU or waiting.")
    categories: list[CategoryShare] = Field(default_factory=list, description="Largest share first.")


class BesideRow(_Model):
    category: str = Field(description="A category both accounts name.")
    label: str = Field(description="The category in words.")
    handoffs: list[str] = Field(description="The app's Server-Timing entries counted in it.")
    server_timing_share: float = Field(ge=0, le=1, description="Its share by the app's own Server-Timing (mean ms).")
    stacks_share: float = Field(ge=0, le=1, description="Its share by py-spy's stacks (working samples).")


class BesideServerTiming(_Model):
    """The stacks' account and the app's own (Server-Timing) of one profiled stage, side by side:
    each as shares among the categories both name (a Server-Timing entry's category by its name:
    categories.toml's `handoffs`)."""

    stage: int = Field(ge=0, description="The profiled stage.")
    rows: list[BesideRow] = Field(description="Largest Server-Timing share first.")
    unmatched: list[str] = Field(default_factory=list, description="Server-Timing entries no category claims.")
    largest_gap: float = Field(ge=0, le=1, description="The largest difference between the two shares of a row.")


class WhereTimeSection(_Model):
    """Where the time goes, by category, from py-spy's stacks alone (no instrumentation)."""

    available: bool = Field(description="Whether py-spy's stacks were there to read.")
    notice: str | None = Field(None, description="Why not measured, when unavailable.")
    overall: WhereTimeStage | None = Field(None, description="Every profiled stage together.")
    per_stage: list[WhereTimeStage] = Field(default_factory=list, description="Per profiled stage.")
    server_timing: BesideServerTiming | None = Field(
        None,
        description="Where the app also sends Server-Timing naming two or more categories' work: both accounts "
        "of the profiled stage side by side; null otherwise.",
    )
