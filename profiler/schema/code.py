"""report.json's `code` section (py-spy's attribution), in its own module so the report schema
stays one readable page. Re-exported by profiler.schema.report."""

from __future__ import annotations

from pydantic import Field

from profiler.schema.base import ReportModel as _Model
from profiler.schema.serving import ProcessCode


class FunctionShare(_Model):
    function: str = Field(description="`name (file.py)`.")
    share: float = Field(ge=0, le=1, description="Share of samples.")


class CodeStage(_Model):
    stage: int = Field(ge=0, description="Load stage index (a profiled stage).")
    samples: int = Field(ge=0, description="Stack samples py-spy took.")
    top_self: list[FunctionShare] = Field(
        default_factory=list,
        description="Functions by self (leaf) share of the busy (non-waiting) samples: where the CPU goes.",
    )
    top_total: list[FunctionShare] = Field(
        default_factory=list, description="Functions by inclusive share of the busy (non-waiting) samples."
    )
    blocking_sites: list[FunctionShare] = Field(
        default_factory=list, description="Functions found waiting in a blocking call on the event loop's thread."
    )
    idle_share: float = Field(
        ge=0,
        le=1,
        description="Share of thread samples waiting (sleep, select, lock, socket read); with --idle every parked "
        "pool thread counts, so a large thread pool reads high.",
    )
    blocking_on_loop_share: float = Field(
        ge=0, le=1, description="Share of the event-loop thread's samples spent in a blocking call (the loop stalled)."
    )
    gil_share: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Share of busy time the GIL was held (--pyspy-gil: the second half of the stage recorded with py-spy --gil).",
    )
    speedscope: str | None = Field(None, description="Flame graph file in the run folder (open at speedscope.app).")
    processes: list[ProcessCode] = Field(
        default_factory=list, description="Each process py-spy sampled, busiest first (when it saw several)."
    )


class CodeSection(_Model):
    """Where the code spends its time (py-spy)."""

    available: bool = Field(description="Whether py-spy recorded anything.")
    notice: str | None = Field(None, description="Why not, when unavailable.")
    profiled_stages: list[int] = Field(default_factory=list, description="Stages during which py-spy was attached.")
    rate_hz: int | None = Field(None, ge=1, description="Sampling rate.")
    per_stage: list[CodeStage] = Field(default_factory=list, description="Per profiled stage.")
    profiled_throughput_cost: float | None = Field(
        None,
        description="Share of throughput lost while py-spy was attached: 1 - the profiled stage's ok_rps / that of "
        "the unprofiled stage at the same load. The profiled stage never feeds a capacity figure.",
    )
