"""`profiler run --sweep NAME=V1,V2`: relaunch the target once per value with the same load plan,
each configuration a whole run in its own sub-folder, then sweep.json and the picks."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from profiler.analysis.advice.sweep import label, sweep_picks, sweep_point
from profiler.base.config import RunConfig
from profiler.base.errors import EXIT_INTERRUPTED, folder_write_error
from profiler.base.secrets import mask_command
from profiler.report.sweep_text import sweep_lines
from profiler.runfolder.atomic import write_json_atomic
from profiler.schema.report import Report
from profiler.schema.sweep import SweepSummary

SWEEP_FILE = "sweep.json"


def run_sweep(
    axes: dict[str, list[str]],
    runs: list[tuple[dict[str, str], RunConfig]],
    template: str,
    run_one: Callable[[RunConfig], tuple[int, Report]],
    quiet: bool,
    as_json: bool,
) -> int:
    """Each configuration in turn (a failed one is measured and flagged, an interrupt stops the
    sweep with what was measured kept); the first non-zero exit code, else 0."""
    root = runs[0][1].out.parent
    points, code = [], 0
    for i, (values, config) in enumerate(runs, 1):
        if not quiet and not as_json:
            sys.stderr.write(f"sweep {i}/{len(runs)}: {label(values)}\n")
        run_code, report = run_one(config)
        points.append(sweep_point(values, str(config.out), report))
        code = code or run_code
        if run_code == EXIT_INTERRUPTED:
            break
    summary = SweepSummary(launch=mask_command(template), axes=axes, points=points, picks=sweep_picks(points))
    try:
        write_json_atomic(root / SWEEP_FILE, summary.model_dump(mode="json"))
    except OSError as e:
        raise folder_write_error(Path(root), e) from None
    if as_json:
        sys.stdout.write(summary.model_dump_json(indent=2) + "\n")
    elif not quiet:
        sys.stdout.write("".join(line + "\n" for line in sweep_lines(summary)))
    return code
