"""From a run's data to its Report: the one place the analysis pieces are put together.

`profiler run` and `profiler analyze` both call `build_report(read_run(folder))`, so they cannot
disagree.
"""

from __future__ import annotations

from typing import Any

from profiler import __version__
from profiler.analysis.handoffs import handoff_section
from profiler.analysis.load import stage_reports
from profiler.analysis.resources import resource_section
from profiler.analysis.validity import validity
from profiler.record import RunData
from profiler.report.schema import (
    CodeSection,
    EnergySection,
    GpuSection,
    LoadSection,
    Report,
    RunInfo,
    TargetInfo,
)

_STATUSES = ("completed", "saturated", "interrupted", "target-exited", "failed", "incomplete")


def run_info(run: RunData) -> RunInfo:
    meta = run.meta
    status = str(meta.get("status") or "incomplete")
    if status not in _STATUSES:
        status = "incomplete"
    return RunInfo(
        folder=str(run.folder),
        started_at=float(meta.get("started_at", 0.0)),
        ended_at=meta.get("ended_at"),
        status=status,
        stop_reason=meta.get("stop_reason"),
        profiler_version=str(meta.get("profiler_version", __version__)),
    )


def target_info(meta: dict[str, Any]) -> TargetInfo:
    t = meta.get("target", {})
    return TargetInfo(
        url=meta.get("config", {}).get("url", ""),
        method=meta.get("config", {}).get("method", "GET"),
        command=t.get("command"),
        pid=t.get("pid"),
        attached=bool(t.get("attached", False)),
        ready_after_s=t.get("ready_after_s"),
        exit_code=t.get("exit_code"),
    )


def gpu_section(info: dict[str, Any]) -> GpuSection:
    g = info.get("gpu") or {}
    return GpuSection(available=bool(g.get("available")), notice=g.get("notice"), devices=g.get("devices", []))


def build_report(run: RunData) -> Report:
    meta = run.meta
    info = meta.get("sampler", {})
    profiled = frozenset(int(i) for i in meta.get("profiled_stages", []))
    stages = stage_reports(run, profiled)
    gpu = gpu_section(info)
    energy = EnergySection()
    resources = resource_section(run.samples, info, gpu, energy)
    ri = run_info(run)
    target = target_info(meta)
    notices = list(meta.get("notices", []))
    return Report(
        run=ri,
        target=target,
        load=LoadSection(
            model="open" if any(s.rate for s in stages) else "closed",
            stages=stages,
            requests=sum(s.requests for s in stages),
            probe_path=meta.get("config", {}).get("probe_path"),
        ),
        handoffs=handoff_section(run),
        resources=resources,
        validity=validity(stages, resources, ri, target.exit_code),
        code=CodeSection(available=False, notice=meta.get("pyspy_notice")),
        notices=notices,
    )
