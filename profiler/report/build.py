"""From a run's data to its Report: the one place the analysis pieces are put together.

`profiler run` and `profiler analyze` both call `build_report(read_run(folder))`, so they cannot
disagree. Everything here is pure over the RunData already in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from profiler import __version__
from profiler.analysis.capacity import capacity_section
from profiler.analysis.devices import StageDevices, summarize_devices
from profiler.analysis.digest import build_signals
from profiler.analysis.handoffs import handoff_section
from profiler.analysis.load import stage_reports
from profiler.analysis.resources import resource_section
from profiler.analysis.traits import classify
from profiler.analysis.validity import validity
from profiler.config import Slo, parse_slo
from profiler.errors import ConfigError
from profiler.recommend import recommend
from profiler.record import PYSPY_DIR, RunData
from profiler.schema import (
    CodeSection,
    CodeStage,
    EnergySection,
    EnergyStage,
    FunctionShare,
    GpuDeviceStage,
    GpuSection,
    LoadSection,
    Report,
    RunInfo,
    TargetInfo,
)

_STATUSES = ("completed", "saturated", "interrupted", "target-exited", "failed", "incomplete")
MiB = 2**20


@dataclass(frozen=True, slots=True)
class AnalysisOptions:
    """What the analysis is asked: taken from the run's own options unless `analyze` overrides them."""

    slo: Slo | None = None
    peak_rps: float | None = None
    headroom: float = 0.30
    memory_limit_mb: float = 2048.0

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> AnalysisOptions:
        config = meta.get("config", {})
        try:
            slo = parse_slo(config.get("slo"))
        except ConfigError:
            slo = None
        return cls(
            slo=slo,
            peak_rps=config.get("peak_rps"),
            headroom=float(config.get("headroom", 0.30)),
            memory_limit_mb=float(config.get("memory_limit_mb", 2048.0)),
        )


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


def _mb(value: int | None) -> float | None:
    return value / MiB if value is not None else None


def device_sections(run: RunData, info: dict[str, Any]) -> tuple[GpuSection, EnergySection]:
    windows = [
        (w.index, w.start, w.end, run.requests[w.index].count if w.index in run.requests else 0) for w in run.stages
    ]
    rapl = info.get("rapl") or {}
    gpu_info = info.get("gpu") or {}
    per_stage: tuple[StageDevices, ...] = summarize_devices(run.samples, rapl.get("max_range_uj") or None, windows)
    gpu_rows = [
        GpuDeviceStage(
            stage=sd.stage,
            device=g.index,
            util_gpu_mean=g.util_gpu_mean,
            util_gpu_max=g.util_gpu_max,
            util_mem_mean=g.util_mem_mean,
            mem_used_max_mb=_mb(g.mem_used_max),
            power_mean_w=g.power_w_mean,
            proc_mem_max_mb=_mb(g.proc_mem_max),
        )
        for sd in per_stage
        for g in sd.gpu
        if g.mig_index is None
    ]
    energy_rows = []
    gpu_source = cpu_source = None
    for sd in per_stage:
        ge, ce = sd.gpu_energy, sd.cpu_energy
        if ge is None and ce is None:
            continue
        gpu_source = gpu_source or (ge.source if ge else None)
        cpu_source = cpu_source or (ce.source if ce else None)
        energy_rows.append(
            EnergyStage(
                stage=sd.stage,
                gpu_joules=ge.joules if ge else None,
                cpu_joules=ce.joules if ce else None,
                gpu_j_per_request=ge.joules_per_request if ge else None,
                cpu_j_per_request=ce.joules_per_request if ce else None,
                gpu_j_per_1k=ge.joules_per_1k_requests if ge else None,
                cpu_j_per_1k=ce.joules_per_1k_requests if ce else None,
                gpu_watts=ge.watts if ge else None,
                cpu_watts=ce.watts if ce else None,
            )
        )
    notices = [n for n in (gpu_info.get("notice"), rapl.get("notice")) if n]
    gpu = GpuSection(
        available=bool(gpu_info.get("available")),
        notice=gpu_info.get("notice"),
        devices=gpu_info.get("devices", []),
        per_stage=gpu_rows,
    )
    energy = EnergySection(gpu_source=gpu_source, cpu_source=cpu_source, notices=notices, per_stage=energy_rows)
    return gpu, energy


def code_section(run: RunData) -> tuple[CodeSection, dict[str, Any]]:
    """py-spy's stacks per profiled stage, summarised; plus the evidence the traits read."""
    from profiler.sampling.pyspy import parse_collapsed, summarize_profile

    meta = run.meta
    notice = meta.get("pyspy_notice")
    if not meta.get("config", {}).get("pyspy", True) and not run.profiles:
        notice = notice or "Code attribution off (--no-pyspy)."
    rows: list[CodeStage] = []
    signals: dict[str, Any] = {}
    for stage, (text, sources, gil_text) in sorted(run.profiles.items()):
        profile = parse_collapsed(text)
        if profile.total_samples == 0:
            continue
        summary = summarize_profile(
            profile,
            source=lambda f, line, s=sources: s.get(f"{f}:{line}"),  # type: ignore[misc]
            # Both halves of the stage ran the same load for the same time: GIL-holding samples
            # over non-waiting samples is the share of busy time the GIL was held.
            gil_profile=parse_collapsed(gil_text) if gil_text is not None else None,
        )
        rows.append(
            CodeStage(
                stage=stage,
                samples=summary.total_samples,
                top_self=[FunctionShare(function=f.function, share=f.share) for f in summary.top_self],
                top_total=[FunctionShare(function=f.function, share=f.share) for f in summary.top_total],
                blocking_sites=[FunctionShare(function=f.function, share=f.share) for f in summary.blocking_sites],
                idle_share=summary.idle_share,
                blocking_on_loop_share=summary.blocking_on_loop or 0.0,
                gil_share=summary.gil_share,
                speedscope=f"{PYSPY_DIR}/stage-{stage}.speedscope.json",
            )
        )
        signals = {
            "blocking_on_loop_share": summary.blocking_on_loop,
            "idle_share": summary.idle_share,
            "top_function": summary.top_self[0].function if summary.top_self else None,
            "blocking_function": summary.blocking_sites[0].function if summary.blocking_sites else None,
        }
    if not rows and notice is None and run.profiles:
        notice = "py-spy recorded no samples."
    section = CodeSection(
        available=bool(rows),
        notice=notice if not rows else None,
        profiled_stages=sorted(run.profiles),
        rate_hz=meta.get("config", {}).get("pyspy_rate"),
        per_stage=rows,
    )
    return section, signals


def build_report(run: RunData, options: AnalysisOptions | None = None) -> Report:
    meta = run.meta
    options = options or AnalysisOptions.from_meta(meta)
    info = meta.get("sampler", {})
    profiled = frozenset(int(i) for i in meta.get("profiled_stages", [])) | {w.index for w in run.stages if w.profiled}
    stages = stage_reports(run, profiled)
    gpu, energy = device_sections(run, info)
    resources = resource_section(run.samples, info, gpu, energy)
    ri = run_info(run)
    target = target_info(meta)
    handoffs = handoff_section(run)
    code, code_signals = code_section(run)
    signals = build_signals(
        run,
        stages,
        handoffs,
        options.slo.percentile if options.slo else 95.0,
        gpu=gpu.per_stage,
        gpu_available=gpu.available,
        code=code_signals,
    )
    traits = classify(signals, options.memory_limit_mb)
    capacity = capacity_section(
        signals,
        options.slo.threshold_ms if options.slo else None,
        options.slo.label() if options.slo else None,
        options.peak_rps,
        options.headroom,
    )
    recommendations = recommend(traits, capacity, signals.ncpu, signals.processes)
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
        handoffs=handoffs,
        resources=resources,
        validity=validity(stages, resources, ri, target.exit_code),
        traits=traits,
        recommendations=recommendations,
        capacity=capacity,
        code=code,
        notices=notices,
    )
