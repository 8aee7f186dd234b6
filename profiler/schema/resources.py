"""report.json's `resources` section (the target's processes, the GPUs, energy, the --metrics-url
sources), in its own module so the report schema stays one readable page. Re-exported by
profiler.schema.report."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from profiler.schema.base import ReportModel as _Model


class ProcessResources(_Model):
    cpu_mean_pct: float = Field(ge=0, description="Mean CPU over the run, % of one core.")
    cpu_max_pct: float = Field(ge=0, description="Highest sampled CPU, % of one core.")
    rss_start_mb: float = Field(ge=0, description="Resident memory at the first sample (MiB).")
    rss_end_mb: float = Field(ge=0, description="Resident memory at the last sample (MiB).")
    rss_max_mb: float = Field(ge=0, description="Largest resident memory (MiB).")
    threads_max: int | None = Field(None, ge=0, description="Most threads; null: not known.")
    fds_max: int | None = Field(None, ge=0, description="Most open file descriptors; null: not known.")
    sockets_max: int | None = Field(None, ge=0, description="Most open sockets; null: not known.")
    processes_max: int = Field(ge=0, description="Most processes in the tree (workers).")
    ctx_switches_voluntary: int | None = Field(
        None, ge=0, description="Voluntary context switches during the run (waiting); null: not known."
    )
    ctx_switches_involuntary: int | None = Field(
        None, ge=0, description="Involuntary context switches during the run (preempted); null: not known."
    )


class GpuDeviceStage(_Model):
    stage: int = Field(ge=0, description="Load stage index.")
    device: int = Field(ge=0, description="NVML device index.")
    util_gpu_mean: float | None = Field(None, ge=0, le=100, description="Mean SM utilisation %.")
    util_gpu_max: float | None = Field(None, ge=0, le=100, description="Highest SM utilisation %.")
    util_mem_mean: float | None = Field(None, ge=0, le=100, description="Mean memory-controller utilisation %.")
    mem_used_max_mb: float | None = Field(None, ge=0, description="Most device memory used (MiB).")
    power_mean_w: float | None = Field(None, ge=0, description="Mean board power (W).")
    proc_mem_max_mb: float | None = Field(
        None, ge=0, description="Most device memory held by the target's processes (MiB)."
    )


class GpuSection(_Model):
    available: bool = Field(description="Whether NVML could be read.")
    notice: str | None = Field(None, description="Why not, when unavailable.")
    devices: list[dict[str, str | int | float | bool | None]] = Field(
        default_factory=list, description="Devices found (index, name, uuid, memory, MIG mode)."
    )
    per_stage: list[GpuDeviceStage] = Field(default_factory=list, description="Per stage and device.")


class EnergyStage(_Model):
    stage: int = Field(ge=0, description="Load stage index.")
    gpu_joules: float | None = Field(None, ge=0, description="GPU energy in the stage (J).")
    cpu_joules: float | None = Field(None, ge=0, description="CPU package energy in the stage (J), from RAPL.")
    gpu_j_per_request: float | None = Field(None, ge=0, description="GPU joules per request.")
    cpu_j_per_request: float | None = Field(None, ge=0, description="CPU joules per request.")
    gpu_j_per_1k: float | None = Field(None, ge=0, description="GPU joules per 1,000 requests.")
    cpu_j_per_1k: float | None = Field(None, ge=0, description="CPU joules per 1,000 requests.")
    gpu_watts: float | None = Field(None, ge=0, description="Mean GPU power (W).")
    cpu_watts: float | None = Field(None, ge=0, description="Mean CPU package power (W).")


class EnergySection(_Model):
    gpu_source: str | None = Field(
        None, description="'nvml-energy-counter', 'nvml-power-integrated', or null when absent."
    )
    cpu_source: str | None = Field(None, description="'rapl' or null when absent.")
    notices: list[str] = Field(default_factory=list, description="Why a source is absent.")
    per_stage: list[EnergyStage] = Field(default_factory=list, description="Per load stage.")


TargetSource = Literal["processes", "metrics-process", "metrics-host"]


class MetricsSourceReport(_Model):
    """One --metrics-url as the run read it."""

    url: str = Field(description="The exposition's URL (credentials masked).")
    kinds: list[str] = Field(
        default_factory=list, description="What it held: 'process' (CPU, memory), 'host' (node exporter), 'gpu'."
    )
    readings: int = Field(ge=0, description="Readings taken (one a second).")
    failures: int = Field(ge=0, description="Readings that failed (no answer, not an exposition).")
    last_error: str | None = Field(None, description="The last failure, in words.")


class ResourceSection(_Model):
    """What the samplers saw over the whole run."""

    target_source: TargetSource | None = Field(
        "processes",
        description="Where the target's CPU and memory figures come from: 'processes' (its process tree, sampled "
        "here), 'metrics-process' (the process figures of --metrics-url expositions), 'metrics-host' (node "
        "exporter's whole host), or null: not known (the target was reached by its URL alone, with no "
        "--metrics-url figure for it).",
    )
    metrics: list[MetricsSourceReport] = Field(default_factory=list, description="Each --metrics-url and what it gave.")
    samples: int = Field(ge=0, description="Process samples taken.")
    interval_s: float | None = Field(None, gt=0, description="Sampling interval asked for.")
    achieved_interval_s: float | None = Field(None, ge=0, description="Median interval actually achieved.")
    target: ProcessResources | None = Field(None, description="The target's process tree.")
    loadgen_cpu_max_pct: float | None = Field(
        None, ge=0, description="Highest CPU of the load generator, % of one core."
    )
    machine_cpu_max_pct: float | None = Field(
        None, ge=0, le=100, description="Highest whole-machine CPU, % of all cores."
    )
    ncpu: int | None = Field(None, ge=1, description="Logical CPUs on the machine.")
    gpu: GpuSection = Field(description="GPU (NVML).")
    energy: EnergySection = Field(description="Energy per request (NVML, RAPL).")
