"""From a run's data to its Report: the one place the analysis pieces are put together.

`profiler run` and `profiler analyze` both call `build_report(read_run(folder))`, so they cannot
disagree. Everything here is assembly: each figure is computed in `analysis/`.
"""

from __future__ import annotations

from dataclasses import dataclass

from profiler import __version__
from profiler.analysis.attribution import code_section
from profiler.analysis.capacity import capacity_section
from profiler.analysis.devices import device_sections
from profiler.analysis.digest import build_signals
from profiler.analysis.handoffs import handoff_section
from profiler.analysis.load import stage_reports
from profiler.analysis.recommend import recommend
from profiler.analysis.resources import resource_section
from profiler.analysis.server import server_of
from profiler.analysis.traits import find_traits
from profiler.analysis.traits.latency import warmup
from profiler.analysis.validity import validity
from profiler.config import DEFAULT_HEADROOM, DEFAULT_MEMORY_LIMIT_MB, Slo
from profiler.runfolder.read import RunData
from profiler.schema import LoadSection, Report, RunInfo, ServerInfo, TargetInfo

DEFAULT_SLO_PERCENTILE = 95.0  # the percentile latency limits are judged at without an SLO


@dataclass(frozen=True, slots=True)
class AnalysisOptions:
    """What the analysis is asked: taken from the run's own options unless `analyze` overrides them."""

    slo: Slo | None = None
    peak_rps: float | None = None
    headroom: float = DEFAULT_HEADROOM
    memory_limit_mb: float = DEFAULT_MEMORY_LIMIT_MB

    @classmethod
    def of(cls, run: RunData) -> AnalysisOptions:
        c = run.meta.config
        return cls(c.slo.slo() if c.slo else None, c.peak_rps, c.headroom, c.memory_limit_mb)


def run_info(run: RunData) -> RunInfo:
    meta = run.meta
    return RunInfo(
        folder=str(run.folder),
        started_at=max(0.0, meta.started_at),
        ended_at=meta.ended_at,
        status=meta.status or "incomplete",
        stop_reason=meta.stop_reason,
        profiler_version=meta.profiler_version if meta.profiler_version != "unknown" else __version__,
        folder_format=meta.format_version,
    )


def target_info(run: RunData, server: ServerInfo | None = None) -> TargetInfo:
    t, c = run.meta.target, run.meta.config
    return TargetInfo(
        url=c.url,
        method=c.method,
        command=t.command,
        pid=t.pid if t.pid and t.pid > 0 else None,
        attached=t.attached,
        ready_after_s=t.ready_after_s if t.ready_after_s is None or t.ready_after_s >= 0 else None,
        exit_code=t.exit_code,
        server=server,
    )


def build_report(run: RunData, options: AnalysisOptions | None = None) -> Report:
    meta = run.meta
    options = options or AnalysisOptions.of(run)
    stages = stage_reports(run)
    windows = [(w.index, w.start, w.end, t.count if (t := run.tally(w.index)) else 0) for w in run.stages]
    gpu, energy = device_sections(run.samples.device_rows, windows, meta.sampler.model_dump())
    resources = resource_section(run.samples, meta.sampler, gpu, energy)
    ri = run_info(run)
    server = server_of(run)
    target = target_info(run, server)
    handoffs = handoff_section(run)
    code, code_signals = code_section(
        run.profiles,
        pyspy_on=meta.config.pyspy,
        rate_hz=meta.config.pyspy_rate,
        notice=meta.pyspy_notice,
        busiest_pid=server.busiest_pid if server else None,
    )
    slo_pct = options.slo.percentile if options.slo else DEFAULT_SLO_PERCENTILE
    signals = build_signals(run, stages, handoffs, slo_pct, gpu.per_stage, gpu.available, code_signals, server)
    findings = find_traits(signals, options.memory_limit_mb)
    first_ms, settle = warmup(signals)
    target = target.model_copy(
        update={"first_request_ms": round(first_ms, 3) if first_ms is not None else None, "requests_to_settle": settle}
    )
    slo = options.slo
    capacity = capacity_section(
        signals, slo.threshold_ms if slo else None, slo.label() if slo else None, options.peak_rps, options.headroom
    )
    return Report(
        run=ri,
        target=target,
        load=LoadSection(
            model="open" if any(s.rate for s in stages) else "closed",
            stages=stages,
            requests=sum(s.requests for s in stages),
            probe_path=meta.config.probe_path,
        ),
        handoffs=handoffs,
        resources=resources,
        validity=validity(stages, resources, ri, target.exit_code),
        traits=[f.trait for f in findings],
        recommendations=recommend(findings, capacity, signals.ncpu, signals.processes, server),
        capacity=capacity,
        code=code,
        notices=list(meta.notices),
    )
