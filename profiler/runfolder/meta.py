"""meta.json and sampler.json as typed records, and reading them back from any format version.

Analysis options are stored as numbers (the SLO as percentile and threshold), so `analyze` never
parses a label. A format-1 folder (profiler 0.1: no `format_version`, the SLO as "p95<=300ms")
is read too; a damaged field is one clear line, never a traceback.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict
from typing import Any, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from profiler.base.config import (
    DEFAULT_HEADROOM,
    DEFAULT_MEMORY_LIMIT_MB,
    DEFAULT_PYSPY_RATE,
    RunConfig,
    Slo,
    parse_slo,
)
from profiler.base.errors import ConfigError, RunFolderError
from profiler.base.pricing import DEFAULT_WATTS_PER_CORE, Shape
from profiler.base.secrets import mask_command, mask_header, mask_url
from profiler.runfolder.names import FORMAT_VERSION, META
from profiler.schema.report import RunStatus

_FORMAT: TypeAdapter[int] = TypeAdapter(int)
# pydantic's words for a wrong container name our classes ("instance of recordedconfig").
_TYPE_MESSAGES = {"model_type": "should be a JSON object", "dict_type": "should be a JSON object"}
_VERSION = re.compile(r"[0-9A-Za-z.+-]{1,40}")  # a version as written, not a damaged field shown to the user

# Past 64 bits an int is no count, pid or time any analysis column holds (it would overflow a
# float or an Int64 later, far from the file it came from).
_MAX_INT = 2**63


def _finite_float(text: str) -> float | None:
    value = float(text)
    return value if math.isfinite(value) else None


def _bounded_int(text: str) -> int | None:
    # Digits are counted first: int() of a huge literal is itself slow (and refused past 4300).
    value = int(text) if len(text) < 21 else None
    return value if value is not None and -_MAX_INT < value < _MAX_INT else None


def loads(text: str | bytes) -> Any:
    """A run folder's JSON, its damaged numbers read as null (the field missing, not the file):
    NaN, Infinity, 1e400, and ints past 64 bits."""
    return json.loads(text, parse_constant=lambda _: None, parse_float=_finite_float, parse_int=_bounded_int)


class _Record(BaseModel):
    # Unknown keys are kept out quietly: a newer minor format may add some. NaN and infinities are
    # refused like any wrong type: no figure of the report can be computed from them.
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)


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
    shape: list[dict[str, float | int | None]] = Field(default_factory=list)
    faults: list[str] = Field(
        default_factory=list
    )  # --fault, as labels (reload@15s, pause@15s+3s:redis)  # --shape's steps (or a LoadTestShape's)
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
    pyspy_native: bool = False
    memory_limit_mb: float = DEFAULT_MEMORY_LIMIT_MB
    gpu: bool = True
    locustfile: str | None = None  # the users came from this locustfile (its path)
    scenario: str | None = None  # ... or from this scenario file (its path; templates in loadgen-spec.json)
    metrics_urls: list[str] = Field(default_factory=list)  # --metrics-url, masked
    price_per_hour: float | None = Field(None, gt=0)  # --price
    catalog: list[dict[str, str | float | int]] = Field(default_factory=list)  # --catalog's shapes, as read
    watts_per_core: float = Field(DEFAULT_WATTS_PER_CORE, gt=0)  # --watts-per-core
    # A ws:// run (docs/connections.md): messages (or pings) per connection per second, the connect
    # rate of its ramps, the message's size (None: pings), and the connections the fleet is sized for.
    message_rate: float | None = Field(None, ge=0)
    connect_rate: float | None = Field(None, gt=0)
    message_bytes: int | None = Field(None, ge=0)
    peak_connections: int | None = Field(None, ge=1)

    def shapes(self) -> tuple[Shape, ...]:
        """The catalog as recorded (a damaged entry is left out: the folder stays readable)."""
        out = []
        for d in self.catalog:
            try:
                out.append(Shape(**d))  # type: ignore[arg-type]
            except TypeError:
                continue
        return tuple(out)

    @property
    def observed(self) -> bool:
        """Whether the target's processes were here to sample (--launch or --pid)."""
        return self.launch is not None or self.pid is not None

    @classmethod
    def of(cls, config: RunConfig) -> RecordedConfig:
        """The options as saved in meta.json: secrets masked (`profiler.base.secrets`), the body's size only."""
        return cls(
            url=mask_url(config.url),
            method=config.method,
            launch=mask_command(config.launch) if config.launch is not None else None,
            pid=config.pid,
            headers=[f"{k}: {mask_header(k, v)}" for k, v in config.headers],
            body=f"<{len(config.body)} bytes>" if config.body is not None else None,
            ready_timeout_s=config.ready_timeout_s,
            duration_s=config.duration_s,
            users=list(config.users),
            max_users=config.max_users,
            stage_count=config.stage_count,
            rates=list(config.rates),
            faults=[f.label() for f in config.faults],
            shape=[{"duration_s": s.duration_s, "users": s.users, "rate": s.rate} for s in config.shape],
            request_timeout_s=config.request_timeout_s,
            sample_interval_s=config.sample_interval_s,
            probe_path=config.probe_path if config.probe else None,
            early_stop=config.early_stop,
            max_requests=config.max_requests,
            allow_remote=config.allow_remote,
            slo=SloSetting(percentile=config.slo.percentile, threshold_ms=config.slo.threshold_ms)
            if config.slo
            else None,
            peak_rps=config.peak_rps,
            headroom=config.headroom,
            pyspy=config.pyspy,
            pyspy_rate=config.pyspy_rate,
            pyspy_seconds=config.pyspy_seconds,
            pyspy_gil=config.pyspy_gil,
            pyspy_native=config.pyspy_native,
            memory_limit_mb=config.memory_limit_mb,
            gpu=config.gpu,
            locustfile=str(config.locustfile) if config.locustfile else None,
            scenario=str(config.scenario) if config.scenario else None,
            metrics_urls=[mask_url(u) for u in config.metrics_urls],
            price_per_hour=config.price_per_hour,
            catalog=[asdict(shape) for shape in config.catalog],
            watts_per_core=config.watts_per_core,
            message_rate=ws.message_rate if (ws := config.websocket) else None,
            connect_rate=ws.connect_rate if ws else None,
            message_bytes=len(ws.message) if ws and ws.message else None,
            peak_connections=config.peak_connections,
        )

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

    machine: int = Field(1, ge=1)
    affinity: int | None = Field(None, ge=1)  # cores in the target's affinity mask
    quota: float | None = Field(None, gt=0)  # cgroup quota in cores (cpu.max or cfs_quota_us / cfs_period_us)
    quota_source: str | None = None  # the file it came from

    @property
    def available(self) -> float:
        return min(v for v in (self.machine, self.affinity, self.quota) if v is not None)


class MetricsSourceInfo(_Record):
    """One --metrics-url as the run read it: what it held ("process", "host", "gpu") and how often."""

    url: str  # masked
    kinds: list[str] = Field(default_factory=list)
    readings: int = Field(0, ge=0)
    failures: int = Field(0, ge=0)
    last_error: str | None = None
    host_ncpu: int | None = Field(None, ge=1)  # node exporter's count of the host's CPUs


class SamplerInfo(_Record):
    """sampler.json: what the sampler could read on this machine."""

    interval_s: float | None = Field(None, gt=0)
    ncpu: int | None = Field(None, ge=1)
    cpu_limit: CpuLimit | None = None  # absent before profiler 0.3
    target_pid: int | None = None
    observed: bool = True  # False: the target is not on this machine (its URL alone)
    metrics: list[MetricsSourceInfo] = Field(default_factory=list)  # --metrics-url, once the run ended
    gpu: GpuInfo = Field(default_factory=GpuInfo)
    rapl: RaplInfo = Field(default_factory=RaplInfo)
    # The target's soft limit on open files (RLIMIT_NOFILE of its root, /proc/PID/limits), which
    # caps the connections one process can hold; None: not read (not on this machine, or absent).
    fd_limit: int | None = Field(None, ge=0)


class Meta(_Record):
    """meta.json: what was asked, the target, notices, and how the run ended."""

    format_version: int = Field(1, ge=1)  # absent in format 1; written as FORMAT_VERSION from format 2 on
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

    @field_validator("status", mode="before")
    @classmethod
    def _known_status(cls, value: Any) -> Any:
        # A status a newer profiler added (as "target-hung" once was) reads as an unknown end,
        # "incomplete", not as a damaged folder: the rest of the run is still readable.
        return None if isinstance(value, str) and value not in get_args(RunStatus) else value

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

    def compatibility_notices(self, version: str) -> list[str]:
        """What the report says of a folder read by profiler `version` that a newer one wrote: it may
        have saved fields this one does not know (unknown keys are ignored as they are read)."""
        theirs, ours = _release(self.profiler_version), _release(version)
        if theirs is None or ours is None or theirs <= ours:
            return []
        return [
            f"written by profiler {self.profiler_version}, newer than this one ({version}); fields it added were ignored"
        ]


def parse_meta(raw: object, where: str = META) -> Meta:
    """meta.json's content as a Meta, or one RunFolderError line naming the damaged field."""
    if not isinstance(raw, dict):
        raise RunFolderError(
            f"'{where}' is not a profiler run's metadata.", "give the --out folder of a `profiler run`"
        )
    # A newer format is refused before its fields are judged: it may have changed their types.
    try:
        version = _FORMAT.validate_python(raw.get("format_version", 1))
    except ValidationError:
        version = None  # damaged: the validation below names it
    if version is not None and version > FORMAT_VERSION:
        raise RunFolderError(
            f"'{where}' was written by a newer profiler (run-folder format {version}; "
            f"this one reads up to {FORMAT_VERSION}).",
            "upgrade profiler to analyse this run",
        )
    try:
        return Meta.model_validate(raw)
    except ValidationError as e:
        err = e.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "(top level)"
        # A key of the file is part of the name: shown printable and short, the error stays one line.
        field = "".join(ch if ch.isprintable() else "?" for ch in field[:80])
        msg = _TYPE_MESSAGES.get(err["type"], err["msg"].lower())
        raise RunFolderError(
            f"'{where}' is damaged: field '{field}' {msg}.", "the run folder is damaged; run again"
        ) from None


def _release(version: str) -> tuple[int, ...] | None:
    """A version's release numbers ("0.3.1rc1" -> (0, 3, 1, 0)); None for one not comparable."""
    found = re.match(r"\d{1,9}(?:\.\d{1,9}){0,3}", version) if _VERSION.fullmatch(version) else None
    if found is None:
        return None
    numbers = tuple(int(p) for p in found.group().split("."))
    return numbers + (0,) * (4 - len(numbers))  # 0.2 is 0.2.0
