"""From a run's data to its Report: the one place the analysis pieces are put together.

`profiler run` and `profiler analyze` both call `build_report(read_run(folder))`, so they cannot
disagree. Everything here is assembly: each figure is computed in `analysis/`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from profiler import __version__
from profiler.analysis.advice.capacity import capacity_section
from profiler.analysis.advice.connections import connection_advice
from profiler.analysis.advice.plan import PlanOptions, plan_section
from profiler.analysis.advice.recommend import recommend
from profiler.analysis.advice.rollout import RunFacts
from profiler.analysis.attribution.devices import device_sections
from profiler.analysis.attribution.handoffs import handoff_section
from profiler.analysis.attribution.profiled import CodeSignals, code_section
from profiler.analysis.connections.figures import connections_section
from profiler.analysis.digest import build_signals
from profiler.analysis.figures.load import stage_reports
from profiler.analysis.figures.resources import resource_section
from profiler.analysis.figures.server import server_of
from profiler.analysis.figures.signals import Signals
from profiler.analysis.routes import route_reports
from profiler.analysis.traits import find_traits
from profiler.analysis.traits.connections import connection_traits
from profiler.analysis.traits.evidence import Finding, TraitEvidence
from profiler.analysis.traits.latency import warmup
from profiler.analysis.traits.transients import event_traits
from profiler.analysis.transients import step_events
from profiler.analysis.validity import validity
from profiler.analysis.wheretime.beside import beside_server_timing
from profiler.analysis.wheretime.section import where_time_section, with_work
from profiler.analysis.wheretime.summary import WhereTime
from profiler.analysis.wheretime.table import CategoryTable, default_table, extended
from profiler.base.config import DEFAULT_HEADROOM, DEFAULT_MEMORY_LIMIT_MB, Slo
from profiler.base.pricing import DEFAULT_WATTS_PER_CORE, Shape
from profiler.base.secrets import mask_command, mask_url
from profiler.runfolder.meta import RecordedConfig
from profiler.runfolder.names import CATEGORIES
from profiler.runfolder.read import RunData
from profiler.schema.events import EventsSection
from profiler.schema.report import (
    CapacitySection,
    CodeSection,
    ConnectionsSection,
    EnergySection,
    GpuSection,
    HandoffSection,
    LoadSection,
    Recommendation,
    Report,
    ResourceSection,
    RouteReport,
    RunInfo,
    ServerInfo,
    StageReport,
    TargetInfo,
    ValidityIssue,
    ValiditySection,
    WhereTimeSection,
)

DEFAULT_SLO_PERCENTILE = 95.0  # the percentile latency limits are judged at without an SLO
FAILED = "its analysis failed (see notices)"
T = TypeVar("T")


@dataclass
class SectionGuard:
    """Runs each analysis section: one that raises becomes a notice naming it and takes its
    fallback, so a defect in one analysis never costs a run its whole report."""

    notices: list[str] = field(default_factory=list)

    def __call__(self, name: str, compute: Callable[[], T], fallback: T) -> T:
        try:
            return compute()
        except Exception as exc:  # noqa: BLE001 - any defect of one section: the rest is still worth writing
            self.notices.append(
                f"analysis of '{name}' failed: {type(exc).__name__}: {exc}; the rest of the report is kept"
            )
            return fallback


@dataclass(frozen=True, slots=True)
class AnalysisOptions:
    """What the analysis is asked: taken from the run's own options unless `analyze` overrides them."""

    slo: Slo | None = None
    peak_rps: float | None = None
    headroom: float = DEFAULT_HEADROOM
    memory_limit_mb: float = DEFAULT_MEMORY_LIMIT_MB
    price_per_hour: float | None = None
    catalog: tuple[Shape, ...] = ()
    watts_per_core: float = DEFAULT_WATTS_PER_CORE
    burst: RunFacts | None = None  # `profiler plan --burst SHAPE_RUN`
    peak_connections: int | None = None  # a ws:// run: the fleet is sized for this many held

    @classmethod
    def of(cls, run: RunData) -> AnalysisOptions:
        c = run.meta.config
        return cls(c.slo.slo() if c.slo else None, c.peak_rps, c.headroom, c.memory_limit_mb,
                   c.price_per_hour, c.shapes(), c.watts_per_core, peak_connections=c.peak_connections)  # fmt: skip

    def plan(self) -> PlanOptions:
        return PlanOptions(self.peak_rps, self.headroom, self.price_per_hour, self.catalog, self.watts_per_core,
                           self.burst)  # fmt: skip


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
        requests_missing=requests_missing(run),
    )


def requests_missing(run: RunData) -> int | None:
    """Requests the generator started (its final count) that are not rows on disk; None when the
    count was never written (an older folder, or a generator killed before its end)."""
    if run.finish is None:
        return None
    on_disk = sum(t.count + t.unsent for t in run.tallies.values())
    return max(0, run.finish.started - on_disk)


def target_info(run: RunData, server: ServerInfo | None = None, signals: Signals | None = None) -> TargetInfo:
    t, c = run.meta.target, run.meta.config
    first_ms, settle = warmup(signals) if signals is not None else (None, None)
    return TargetInfo(
        # Masked again (masking is idempotent): a folder written before masking covered them, or
        # the target's own command line (meta keeps it as read), must not leak into the report.
        url=mask_url(c.url),
        method=c.method,
        command=mask_command(t.command) if t.command else t.command,
        pid=t.pid if t.pid and t.pid > 0 else None,
        attached=t.attached,
        ready_after_s=t.ready_after_s if t.ready_after_s is None or t.ready_after_s >= 0 else None,
        exit_code=t.exit_code,
        server=server,
        first_request_ms=round(first_ms, 3) if first_ms is not None else None,
        requests_to_settle=settle,
    )


def _not_checked() -> ValiditySection:
    issue = ValidityIssue(
        id="validity-not-checked",
        severity="error",
        message="The validity checks failed (see notices): nothing vouches for these numbers.",
    )
    return ValiditySection(valid=False, issues=[issue])


def _devices(run: RunData) -> tuple[GpuSection, EnergySection]:
    windows = [(w.index, w.start, w.end, t.count if (t := run.tally(w.index)) else 0) for w in run.stages]
    return device_sections(run.samples.device_rows, windows, run.meta.sampler.model_dump())


def _analysis(
    signals: Signals,
    options: AnalysisOptions,
    server: ServerInfo | None,
    guard: SectionGuard,
    events: EventsSection | None = None,
    connections: ConnectionsSection | None = None,
) -> tuple[list[Finding[TraitEvidence]], CapacitySection | None, list[Recommendation]]:
    """Traits, capacity and the advice on them, each kept apart by the guard. A shape run (events)
    is a timeline, not a ladder, and a run of connections is sized in connections held: neither
    has a capacity figure in requests a second."""
    slo = options.slo
    threshold, label = (slo.threshold_ms, slo.label()) if slo else (None, None)
    findings: list[Finding[TraitEvidence]] = guard("traits", lambda: find_traits(signals, options.memory_limit_mb), [])
    findings += guard("event traits", lambda: event_traits(events), [])
    findings += guard("connection traits", lambda: connection_traits(connections, options.memory_limit_mb), [])
    capacity = None if events is not None or connections is not None else guard(
        "capacity", lambda: capacity_section(signals, threshold, label, options.peak_rps, options.headroom), None
    )  # fmt: skip
    recs: list[Recommendation] = guard(
        "recommendations",
        lambda: recommend(
            findings,
            capacity,
            signals.ncpu,
            signals.processes,
            server,
            stages=signals.measured,
            generator_limited=[s for s in signals.delivered if s.generator_limited],
        ),  # fmt: skip
        [],
    )
    recs += guard("connection advice", lambda: connection_advice(connections, findings, server, signals.ncpu,
                  options.memory_limit_mb, options.headroom, options.peak_connections), [])  # fmt: skip
    return findings, capacity, recs


def _users_from(config: RecordedConfig) -> str | None:
    if config.locustfile:
        return f"locustfile {config.locustfile}"
    return f"scenario {config.scenario}" if config.scenario else None


def run_facts(run: RunData, events: EventsSection | None) -> RunFacts:
    """What the plan's rollout and burst playbook read of a run (analysis/advice/rollout.py)."""
    meta = run.meta
    open_model = any(p.rate for p in meta.plan) if meta.plan else False
    return RunFacts(str(run.folder), meta.config.url, meta.target.ready_after_s, events, open_model)


def _code(run: RunData, server: ServerInfo | None, stages: list[StageReport]) -> tuple[CodeSection, CodeSignals]:
    c = run.meta.config
    notice = run.meta.pyspy_notice
    return code_section(
        run.profiles, pyspy_on=c.pyspy, rate_hz=c.pyspy_rate, notice=notice, server=server, stages=stages
    )


def _categories(run: RunData) -> CategoryTable:
    """The category table, with the project's additions the run recorded (categories.json)."""
    return extended(default_table(), run.categories, CATEGORIES) if run.categories else default_table()


def _where(run: RunData, handoffs: HandoffSection) -> tuple[WhereTimeSection, WhereTime | None]:
    """Where the time goes, and beside it the app's own account where it sends Server-Timing."""
    table = _categories(run)
    where, figures = where_time_section(
        run.profiles, pyspy_on=run.meta.config.pyspy, notice=run.meta.pyspy_notice, table=table
    )
    return where.model_copy(update={"server_timing": beside_server_timing(where, handoffs, table)}), figures


def _not_placed() -> tuple[WhereTimeSection, WhereTime | None]:
    return WhereTimeSection(available=False, notice=f"not measured: {FAILED}"), None


def _generator_note(ri: RunInfo, capacity: CapacitySection | None) -> RunInfo:
    """A climb that stopped on a flat throughput that was the load generator's, not the target's, says so."""
    if ri.status == "saturated" and capacity is not None and capacity.limited_by == "generator":
        return ri.model_copy(update={"stop_reason": f"{ri.stop_reason or 'saturated'}; the load generator, not the "
                                     "target, was the limit (generator-limited)"})  # fmt: skip
    return ri


def build_report(run: RunData, options: AnalysisOptions | None = None) -> Report:
    meta = run.meta
    options = options or AnalysisOptions.of(run)
    guard = SectionGuard()
    stages: list[StageReport] = guard("load", lambda: stage_reports(run), [])
    gpu, energy = guard("devices", lambda: _devices(run), (GpuSection(available=False, notice=FAILED), EnergySection()))
    resources = guard(
        "resources",
        lambda: resource_section(run.samples, meta.sampler, gpu, energy, meta.config.observed),
        ResourceSection(samples=0, gpu=gpu, energy=energy),
    )
    ri = run_info(run)
    server = guard("server", lambda: server_of(run), None)
    handoffs = guard("handoffs", lambda: handoff_section(run), HandoffSection())
    code, code_signals = guard("code", lambda: _code(run, server, stages), (CodeSection(available=False, notice=FAILED),
                                                                            CodeSignals()))  # fmt: skip
    where, where_figures = guard("where_time_goes", lambda: _where(run, handoffs), _not_placed())
    code_signals = with_work(code_signals, where_figures)
    slo_pct = options.slo.percentile if options.slo else DEFAULT_SLO_PERCENTILE
    signals = guard(
        "signals",
        lambda: build_signals(run, stages, handoffs, slo_pct, gpu.per_stage, gpu.available, code_signals, server),
        Signals(stages=()),
    )
    events = guard("events", lambda: step_events(run, stages), None)
    connections = guard("connections", lambda: connections_section(run), None)
    findings, capacity, recommendations = _analysis(signals, options, server, guard, events, connections)
    ri = _generator_note(ri, capacity)
    target = guard("target", lambda: target_info(run, server, signals), target_info(run, server))
    routes: list[RouteReport] = guard("routes", lambda: route_reports(run, stages, capacity, slo_pct), [])
    checked = guard("validity", lambda: validity(stages, resources, ri, target.exit_code, run.hangs, connections),
                    _not_checked())  # fmt: skip
    plan = guard("plan", lambda: plan_section(stages, capacity, resources, server, {f.trait.id for f in findings},
                                              options.plan(), target.command, run_facts(run, events), routes), None)  # fmt: skip
    return Report(
        run=ri,
        target=target,
        load=LoadSection(
            model="open" if any(s.rate for s in stages) else "closed",
            stages=stages,
            requests=sum(s.requests for s in stages),
            probe_path=meta.config.probe_path,
            users_from=_users_from(meta.config),
        ),  # fmt: skip
        handoffs=handoffs,
        resources=resources,
        validity=checked,
        traits=[f.trait for f in findings],
        recommendations=recommendations,
        capacity=capacity,
        plan=plan,
        code=code,
        where_time_goes=where,
        routes=routes,
        events=events,
        connections=connections,
        notices=[*meta.notices, *meta.compatibility_notices(__version__), *guard.notices],
    )
