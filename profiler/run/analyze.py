"""`profiler analyze`: rebuild a run's report from its folder alone, no load sent."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from profiler.analysis.advice.rollout import RunFacts
from profiler.base.config import Slo
from profiler.base.errors import ConfigError, RunFolderError, folder_write_error
from profiler.base.pricing import Shape
from profiler.report import html as html_report
from profiler.report import json_file, saved
from profiler.report import markdown as markdown_report
from profiler.report.build import AnalysisOptions, build_report, run_facts
from profiler.runfolder.atomic import write_json_atomic
from profiler.runfolder.names import REPORT
from profiler.runfolder.read import RunData, read_run
from profiler.schema.report import PlanSection, Report


@dataclass(frozen=True, slots=True)
class Pricing:
    """What `analyze` and `plan` may be told of money and power (None: the run's own)."""

    price_per_hour: float | None = None
    catalog: tuple[Shape, ...] | None = None
    watts_per_core: float | None = None

    def given(self) -> bool:
        return any(v is not None for v in (self.price_per_hour, self.catalog, self.watts_per_core))


def _options(
    run: RunData, slo: Slo | None, peak_rps: float | None, headroom: float | None, memory_limit_mb: float | None,
    pricing: Pricing,
) -> AnalysisOptions:  # fmt: skip
    base = AnalysisOptions.of(run)
    return replace(
        base,
        slo=slo if slo is not None else base.slo,
        peak_rps=peak_rps if peak_rps is not None else base.peak_rps,
        headroom=headroom if headroom is not None else base.headroom,
        memory_limit_mb=memory_limit_mb if memory_limit_mb is not None else base.memory_limit_mb,
        price_per_hour=pricing.price_per_hour if pricing.price_per_hour is not None else base.price_per_hour,
        catalog=pricing.catalog if pricing.catalog is not None else base.catalog,
        watts_per_core=pricing.watts_per_core if pricing.watts_per_core is not None else base.watts_per_core,
    )


def burst_facts(folder: Path) -> RunFacts:
    """`--burst SHAPE_RUN`: the timeline of another run, for the plan's burst playbook."""
    run = read_run(folder)
    report = build_report(run)
    if report.events is None or not any(e.kind == "step-up" for e in report.events.events):
        raise ConfigError(f"--burst {folder}: that run has no step up to read a spike from.",
                          "give a run made with --shape (e.g. --shape 20s:2,6s:40,30s:2) or a LoadTestShape")  # fmt: skip
    return run_facts(run, report.events)


def hosting_plan(
    folder: Path, slo: Slo | None, peak_rps: float | None, headroom: float | None, pricing: Pricing,
    burst: Path | None = None,
) -> PlanSection:  # fmt: skip
    """The plan of a saved run with these options over its own; nothing is written."""
    run = read_run(folder)
    options = replace(_options(run, slo, peak_rps, headroom, None, pricing),
                      burst=burst_facts(burst) if burst is not None else None)  # fmt: skip
    report = build_report(run, options)
    if report.plan is None:
        c = report.capacity
        limit = f" ({c.slo_basis})" if c is not None else ""
        raise ConfigError(
            f"no stage of {folder} met the latency limit{limit}: there is no capacity to plan from.",
            "run again with lighter stages (e.g. --users 1,2,4) or a looser --slo",
        )
    return report.plan


def reanalyse(
    folder: Path,
    slo: Slo | None = None,
    peak_rps: float | None = None,
    headroom: float | None = None,
    memory_limit_mb: float | None = None,
    out: Path | None = None,
    pricing: Pricing | None = None,
) -> tuple[Report, RunFolderError | None]:
    """Rebuild the report from the folder alone; given options override the run's own. It is
    saved to `out` when given, else over the folder's report.json only when no option changed
    it: a what-if never replaces the record of what the run found. The report comes back even
    when it could not be saved, with the error that says why."""
    run = read_run(folder)
    pricing = pricing or Pricing()
    what_if = any(v is not None for v in (slo, peak_rps, headroom, memory_limit_mb)) or pricing.given()
    report = build_report(run, _options(run, slo, peak_rps, headroom, memory_limit_mb, pricing))
    try:
        if out is not None:
            write_json_atomic(out, json_file.as_json(report))
        elif not what_if:
            html_report.save_outputs(report, run, folder)
    except OSError as e:
        # The report is still shown; the error names the cause (a full disk is not a permission).
        fix = "run `profiler analyze` as a user who may write the run folder (or copy the folder first)"
        return report, folder_write_error(folder, e, what=str(out or folder / REPORT), fix=fix)
    return report, None


def load_report(folder: Path) -> Report:
    """The report a gate judges: the run's own report.json (what the run found), else rebuilt."""
    if not folder.is_dir():
        raise RunFolderError(f"{folder} is not a folder.", "give a run folder written by `profiler run`")
    return saved.load_report(folder)


def rebuild_outputs(folder: Path, html: bool, markdown: Path | None) -> list[Path]:
    """report.html in the folder and/or a Markdown summary, from the folder alone."""
    report = load_report(folder)
    written: list[Path] = []
    try:
        if html:
            written.append(html_report.save(report, read_run(folder), folder))
        if markdown is not None:
            markdown.write_text(markdown_report.render(report, [], f"run {report.run.status}"), encoding="utf-8")
            written.append(markdown)
    except OSError as e:
        raise folder_write_error(
            folder, e, what=str(markdown if written else folder), fix="choose a writable path"
        ) from None
    return written
