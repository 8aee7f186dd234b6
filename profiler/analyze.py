"""`profiler analyze`: rebuild a run's report from its folder alone, no load sent."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from profiler.config import Slo
from profiler.errors import RunFolderError, folder_write_error
from profiler.report import html as html_report
from profiler.report import json_file, saved
from profiler.report import markdown as markdown_report
from profiler.report.build import AnalysisOptions, build_report
from profiler.runfolder.atomic import write_json_atomic
from profiler.runfolder.names import REPORT
from profiler.runfolder.read import read_run
from profiler.schema import Report


def reanalyse(
    folder: Path,
    slo: Slo | None = None,
    peak_rps: float | None = None,
    headroom: float | None = None,
    memory_limit_mb: float | None = None,
    out: Path | None = None,
) -> tuple[Report, RunFolderError | None]:
    """Rebuild the report from the folder alone; given options override the run's own. It is
    saved to `out` when given, else over the folder's report.json only when no option changed
    it: a what-if never replaces the record of what the run found. The report comes back even
    when it could not be saved, with the error that says why."""
    run = read_run(folder)
    what_if = any(v is not None for v in (slo, peak_rps, headroom, memory_limit_mb))
    base = AnalysisOptions.of(run)
    options = replace(
        base,
        slo=slo if slo is not None else base.slo,
        peak_rps=peak_rps if peak_rps is not None else base.peak_rps,
        headroom=headroom if headroom is not None else base.headroom,
        memory_limit_mb=memory_limit_mb if memory_limit_mb is not None else base.memory_limit_mb,
    )
    report = build_report(run, options)
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
