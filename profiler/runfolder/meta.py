"""meta.json and sampler.json as typed records, and reading them back from any format version.

Analysis options are stored as numbers (the SLO as percentile and threshold), so `analyze` never
parses a label. A format-1 folder (profiler 0.1: no `format_version`, the SLO as "p95<=300ms")
is read too; a damaged field is one clear line, never a traceback.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from profiler.config import DEFAULT_HEADROOM, DEFAULT_MEMORY_LIMIT_MB, DEFAULT_PYSPY_RATE, Slo, parse_slo
from profiler.errors import ConfigError, RunFolderError
from profiler.runfolder.names import FORMAT_VERSION, META

RunStatus = Literal["completed", "saturated", "interrupted", "target-exited", "failed", "incomplete"]


class _Record(BaseModel):
    # Unknown keys are kept out quietly: a newer minor format may add some.
    model_config = ConfigDict(extra="ignore")


class SloSetting(_Record):
    percentile: float = Field(gt=0, lt=100)
    threshold_ms: float = Field(gt=0)

    def slo(self) -> Slo:
        return Slo(self.percentile, self.threshold_ms)


class RecordedConfig(_Record):
    """The options the run was given, as saved: secrets masked, the body's size only."""

    url: str = ""
    method: str = "GET"
    launch: str | None = None
    pid: int | None = None
    headers: list[str] = Field(default_factory=list)
    body: str | None = None
    ready_timeout_s: float | None = None
    duration_s: float | None = None
    users: list[int] = Field(default_factory=list)
    max_users: int | None = None
    stage_count: int | None = None
    rates: list[float] = Field(default_factory=list)
    request_timeout_s: float | None = None
    sample_interval_s: float | None = None
    probe_path: str | None = None
    early_stop: bool = True
    max_requests: int | None = None
    allow_remote: bool = False
    slo: SloSetting | None = None
    peak_rps: float | None = None
    headroom: float = DEFAULT_HEADROOM
    pyspy: bool = True
    pyspy_rate: int = DEFAULT_PYSPY_RATE
    pyspy_seconds: float | None = None
    pyspy_gil: bool = False
    memory_limit_mb: float = DEFAULT_MEMORY_LIMIT_MB
    gpu: bool = True

    @field_validator("slo", mode="before")
    @classmethod
    def _slo_label(cls, value: Any) -> Any:
        # Format 1 saved the SLO as its label.
        if isinstance(value, str):
            try:
                slo = parse_slo(value)
            except ConfigError:
                return None
            return {"percentile": slo.percentile, "threshold_ms": slo.threshold_ms} if slo else None
        return value


class TargetMeta(_Record):
    pid: int | None = None
    command: str | None = None
    attached: bool = False
    ready_after_s: float | None = None
    exit_code: int | None = None


class PlannedStage(_Record):
    index: int
    users: int | None = None
    rate: float | None = None
    planned_s: float = Field(0.0, validation_alias="duration_s")

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class GpuInfo(_Record):
    available: bool = False
    notice: str | None = None
    devices: list[dict[str, str | int | float | bool | None]] = Field(default_factory=list)


class RaplInfo(_Record):
    available: bool = False
    notice: str | None = None
    max_range_uj: dict[str, int] = Field(default_factory=dict)
    domains: list[str] = Field(default_factory=list)


class CpuLimit(_Record):
    """The CPU the target may use: the machine's cores, narrowed by its affinity mask and its
    cgroup's quota (a `--cpus=2` container on a 32-core host may use 2, not 32)."""

    machine: int = 1
    affinity: int | None = None  # cores in the target's affinity mask
    quota: float | None = None  # cgroup quota in cores (cpu.max or cfs_quota_us / cfs_period_us)
    quota_source: str | None = None  # the file it came from

    @property
    def available(self) -> float:
        return min(v for v in (self.machine, self.affinity, self.quota) if v is not None)


class SamplerInfo(_Record):
    """sampler.json: what the sampler could read on this machine."""

    interval_s: float | None = None
    ncpu: int | None = None
    cpu_limit: CpuLimit | None = None  # absent before profiler 0.3
    target_pid: int | None = None
    gpu: GpuInfo = Field(default_factory=GpuInfo)
    rapl: RaplInfo = Field(default_factory=RaplInfo)


class Meta(_Record):
    """meta.json: what was asked, the target, notices, and how the run ended."""

    format_version: int = 1  # absent in format 1; written as FORMAT_VERSION from format 2 on
    profiler_version: str = "unknown"
    started_at: float = 0.0
    ended_at: float | None = None
    status: RunStatus | None = None
    stop_reason: str | None = None
    error: str | None = None
    config: RecordedConfig = Field(default_factory=RecordedConfig)
    target: TargetMeta = Field(default_factory=TargetMeta)
    notices: list[str] = Field(default_factory=list)
    host: dict[str, str] = Field(default_factory=dict)
    plan: list[PlannedStage] = Field(default_factory=list)
    profiled_stages: list[int] = Field(default_factory=list)
    pyspy_notice: str | None = None
    sampler: SamplerInfo = Field(default_factory=SamplerInfo)

    @classmethod
    def new(cls, profiler_version: str, started_at: float, config: RecordedConfig, host: dict[str, str]) -> Meta:
        return cls(
            format_version=FORMAT_VERSION,
            profiler_version=profiler_version,
            started_at=started_at,
            config=config,
            host=host,
        )

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=False)


def parse_meta(raw: object, where: str = META) -> Meta:
    """meta.json's content as a Meta, or one RunFolderError line naming the damaged field."""
    if not isinstance(raw, dict):
        raise RunFolderError(
            f"'{where}' is not a profiler run's metadata.", "give the --out folder of a `profiler run`"
        )
    try:
        meta = Meta.model_validate(raw)
    except ValidationError as e:
        err = e.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise RunFolderError(
            f"'{where}' is damaged: field '{field}' {err['msg'].lower()}.", "the run folder is damaged; run again"
        ) from None
    if meta.format_version > FORMAT_VERSION:
        raise RunFolderError(
            f"'{where}' was written by a newer profiler (run-folder format {meta.format_version}; "
            f"this one reads up to {FORMAT_VERSION}).",
            "upgrade profiler to analyse this run",
        )
    return meta
