"""Whole-run resource figures of the target, the load generator and the machine."""

from __future__ import annotations

from profiler.base.config import MIB
from profiler.runfolder.engine import SampleTable
from profiler.runfolder.meta import SamplerInfo
from profiler.schema.report import (
    EnergySection,
    GpuSection,
    MetricsSourceReport,
    ProcessResources,
    ResourceSection,
    TargetSource,
)


def target_resources(samples: SampleTable) -> ProcessResources | None:
    tree = samples.tree()
    if tree is None:
        return None
    return ProcessResources(
        cpu_mean_pct=tree.cpu_mean,
        cpu_max_pct=tree.cpu_max,
        rss_start_mb=tree.rss_start / MIB,
        rss_end_mb=tree.rss_end / MIB,
        rss_max_mb=tree.rss_max / MIB,
        threads_max=tree.threads_max,
        fds_max=tree.fds_max,
        sockets_max=tree.sockets_max,
        processes_max=tree.processes_max,
        ctx_switches_voluntary=tree.ctx_vol,
        ctx_switches_involuntary=tree.ctx_invol,
    )


def target_source(sampler: SamplerInfo, observed: bool) -> TargetSource | None:
    """Where the target's CPU and memory come from: the process figures of an exposition win over
    a whole host's (sampling/metrics.py combines them the same way)."""
    if observed:
        return "processes"
    kinds = {kind for source in sampler.metrics for kind in source.kinds}
    return "metrics-process" if "process" in kinds else "metrics-host" if "host" in kinds else None


def resource_section(
    samples: SampleTable, sampler: SamplerInfo, gpu: GpuSection, energy: EnergySection, observed: bool = True
) -> ResourceSection:
    machine = samples.column_max("machine_cpu")
    return ResourceSection(
        target_source=target_source(sampler, observed),
        metrics=[MetricsSourceReport(**m.model_dump(exclude={"host_ncpu"})) for m in sampler.metrics],
        samples=samples.count,
        interval_s=sampler.interval_s,
        achieved_interval_s=samples.achieved_interval(),
        target=target_resources(samples),
        loadgen_cpu_max_pct=samples.column_max("loadgen_cpu"),
        machine_cpu_max_pct=min(100.0, machine) if machine is not None else None,
        ncpu=sampler.ncpu,
        gpu=gpu,
        energy=energy,
    )
