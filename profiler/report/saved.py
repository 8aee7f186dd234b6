"""A run's report as saved: report.json when it is there and readable, else rebuilt from the folder
(a run killed before it wrote one, or a report of an older schema)."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from profiler.report.build import AnalysisOptions, build_report
from profiler.runfolder.names import REPORT
from profiler.runfolder.read import read_run
from profiler.schema.report import Report


def load_report(folder: Path) -> Report:
    """The folder's report.json, or the report rebuilt from its files (RunFolderError when it is
    not a run folder at all)."""
    path = folder / REPORT
    try:
        return Report.model_validate_json(path.read_bytes())
    except (OSError, ValidationError, ValueError):
        run = read_run(folder)
        return build_report(run, AnalysisOptions.of(run))
