"""`profiler analyze`: rebuild a run's report from its folder alone, no load sent."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from profiler.config import Slo
from profiler.errors import RunFolderError, folder_write_error
from profiler.report import json_file
from profiler.report.build import AnalysisOptions, build_report
from profiler.runfolder.names import REPORT
from profiler.runfolder.read import read_run
from profiler.schema import Report


def reanalyse(
    folder: Path,
    slo: Slo | None = None,
    peak_rps: float | None = None,
    headroom: float | None = None,
    memory_limit_mb: float | None = None,
) -> tuple[Report, RunFolderError | None]:
    """Rebuild report.json from the folder alone; given options override the run's own. The
    report comes back even when report.json could not be saved, with the error that says why."""
    run = read_run(folder)
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
        json_file.save(report, folder)
    except OSError as e:
        # The report is still shown; the error names the cause (a full disk is not a permission).
        fix = "run `profiler analyze` as a user who may write the run folder (or copy the folder first)"
        return report, folder_write_error(folder, e, what=str(folder / REPORT), fix=fix)
    return report, None
