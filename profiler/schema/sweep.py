"""sweep.json: a measured configuration sweep (`profiler run --sweep`), one point per
configuration, each kept as its own run folder, and the picks the measurement supports."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from profiler.schema.base import ReportModel as _Model

SWEEP_SCHEMA_VERSION = "1.0"


class SweepPoint(_Model):
    values: dict[str, str] = Field(description="The placeholder values of this configuration, e.g. {'workers': '2'}.")
    folder: str = Field(description="Its run folder (analyze and compare read it like any other).")
    status: str = Field(description="How its run ended.")
    capacity_rps: float | None = Field(None, ge=0, description="Capacity at the latency limit; null: none met it.")
    latency_p95_ms: float | None = Field(None, ge=0, description="p95 at the capacity stage.")
    cores_used: float | None = Field(None, ge=0, description="The target's CPU at the capacity stage, in cores.")
    rss_mb: float | None = Field(None, ge=0, description="Its resident memory there (MiB).")
    workers: int | None = Field(None, ge=0, description="Worker processes found serving.")
    rps_per_core: float | None = Field(None, ge=0, description="capacity_rps / cores_used.")
    rps_per_gb: float | None = Field(None, ge=0, description="capacity_rps / (rss_mb / 1024).")
    flags: list[str] = Field(
        default_factory=list, description="Why this point cannot be taken at face value (measured, not hidden)."
    )


class SweepPick(_Model):
    by: Literal["capacity", "per-core", "per-gb"] = Field(description="What was maximised.")
    values: dict[str, str] = Field(description="The configuration picked.")
    reason: str = Field(description="Why, with the numbers.")


class SweepSummary(_Model):
    schema_version: str = Field(SWEEP_SCHEMA_VERSION, description="sweep.json's own schema version.")
    launch: str = Field(description="The --launch template (secrets masked), with its {placeholders}.")
    axes: dict[str, list[str]] = Field(description="Each placeholder and the values swept.")
    points: list[SweepPoint] = Field(default_factory=list, description="One per configuration, in the order run.")
    picks: list[SweepPick] = Field(default_factory=list, description="The best per capacity, per core and per GB.")
