"""Typed records of judgements: a gate's checks and a comparison of two runs.

They cross from the judging code (`profiler.gate`, `profiler.compare`) to the renderers (terminal,
Markdown, JUnit, HTML) and to `--json`, so they live below both.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from profiler.schema.base import ReportModel

Outcome = Literal["pass", "fail", "unknown"]
Direction = Literal["lower-is-better", "higher-is-better"]
Change = Literal["better", "worse", "no change", "unknown"]


class CheckResult(ReportModel):
    """One check judged: an SLO (`p95<250ms`), a forbidden trait, or a `--fail-on` rule."""

    kind: Literal["slo", "trait", "fail-on"] = Field(description="Where the check came from.")
    check: str = Field(description="The check as written, e.g. 'p95@32users<300ms'.")
    outcome: Outcome = Field(description="pass, fail, or unknown (could not be judged from this run).")
    detail: str = Field(description="One sentence: what was measured against what, or why it is not known.")
    observed: float | None = Field(None, description="The value judged, in the check's unit.")
    limit: float | None = Field(None, description="The limit it was judged against, in the same unit.")
    stage: int | None = Field(None, description="The stage judged, when one.")


class MetricDelta(ReportModel):
    """One metric of one matched stage, base against new."""

    metric: str = Field(description="Metric name, e.g. 'p95', 'rps', 'handoff:db'.")
    unit: str = Field(description="Unit of base and new: 'ms', 'rps', '%', 'MiB', 'ms/request'.")
    direction: Direction = Field(description="Which way is better.")
    base: float | None = Field(None, description="Value in the base run.")
    new: float | None = Field(None, description="Value in the new run.")
    change_pct: float | None = Field(None, description="(new - base) / base in percent; null when base is 0 or absent.")
    ci_low_pct: float | None = Field(None, description="Low end of the 95% bootstrap interval of the change, percent.")
    ci_high_pct: float | None = Field(
        None, description="High end of the 95% bootstrap interval of the change, percent."
    )
    significant: bool = Field(False, description="The interval excludes zero and the change passes the noise floor.")
    verdict: Change = Field(description="better / worse (significant and in that direction), no change, unknown.")


class StageDelta(ReportModel):
    """A stage of the base run matched with one of the new run by users (closed) or rate (open)."""

    load: str = Field(description="The load both ran, e.g. '8 users' or '40 rps'.")
    base_stage: int = Field(ge=0, description="Stage index in the base run.")
    new_stage: int = Field(ge=0, description="Stage index in the new run.")
    metrics: list[MetricDelta] = Field(default_factory=list, description="One per metric.")


class TraitChange(ReportModel):
    trait: str = Field(description="Trait id.")
    change: Literal["appeared", "disappeared"] = Field(description="Whether the new run gained or lost it.")
    confidence: float = Field(ge=0, le=1, description="Its confidence in the run that has it.")


class Comparison(ReportModel):
    """`profiler compare BASE NEW`: what changed, and whether it is more than the runs' own noise."""

    base: str = Field(description="Base run folder.")
    new: str = Field(description="New run folder.")
    stages: list[StageDelta] = Field(default_factory=list, description="Stages both runs measured at the same load.")
    unmatched: list[str] = Field(default_factory=list, description="Loads only one run measured, in words.")
    traits: list[TraitChange] = Field(default_factory=list, description="Traits that appeared or disappeared.")
    run_metrics: list[MetricDelta] = Field(
        default_factory=list, description="Run-level figures: capacity_rps, max_rps, knee_users."
    )
    notes: list[str] = Field(
        default_factory=list, description="What limits the comparison (invalid runs, few requests)."
    )
