"""The report as JSON: report.json in the run folder, and `--json` on stdout."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from profiler.runfolder.atomic import write_json_atomic
from profiler.runfolder.names import REPORT
from profiler.schema.report import Report


def as_json(report: Report) -> dict[str, Any]:
    return report.model_dump(mode="json", by_alias=True)


def render(report: Report) -> str:
    return json.dumps(as_json(report), indent=2) + "\n"


def save(report: Report, folder: Path) -> Path:
    """Write report.json whole or not at all."""
    path = folder / REPORT
    write_json_atomic(path, as_json(report))
    return path
