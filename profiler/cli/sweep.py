"""`profiler run --sweep NAME=V1,V2`: relaunch the target once per value with the same load plan,
each configuration a whole run in its own sub-folder, then sweep.json and the picks; and the
sweep's root read back, for `profiler plan` to plan its pick."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from profiler.analysis.advice.sweep import label, sweep_picks, sweep_point
from profiler.base.config import RunConfig
from profiler.base.errors import EXIT_INTERRUPTED, ConfigError, RunFolderError, folder_write_error
from profiler.base.secrets import mask_command
from profiler.report.sweep_text import sweep_lines
from profiler.runfolder.atomic import write_json_atomic
from profiler.runfolder.names import META
from profiler.schema.report import Report
from profiler.schema.sweep import SweepPoint, SweepSummary

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


def read_sweep(root: Path) -> SweepSummary | None:
    """The sweep whose root this folder is; None when it is not one (a run folder, or neither)."""
    path = root / SWEEP_FILE
    if (root / META).is_file() or not path.is_file():
        return None
    try:
        return SweepSummary.model_validate_json(path.read_bytes())
    except (OSError, ValueError) as e:  # pydantic's ValidationError is a ValueError
        why = e.strerror if isinstance(e, OSError) else "not the sweep.json `profiler run --sweep` writes"
        raise RunFolderError(f"{path} cannot be read: {why}.", "plan one of its configurations' folders") from None


def _folder(root: Path, point: SweepPoint) -> Path:
    # Each configuration's folder is a sub-folder of the root (cli/run_options.py); found by name
    # under the root given, so a sweep that was moved or copied since it ran still plans.
    return root / Path(point.folder).name


def picked_folder(root: Path, summary: SweepSummary) -> tuple[Path, str]:
    """The folder of the sweep's "most capacity" pick, with a line that says which and why and
    names the others; a ConfigError listing them all when nothing was picked."""
    pick = next((p for p in summary.picks if p.by == "capacity"), None)
    point = next((p for p in summary.points if pick is not None and p.values == pick.values), None)
    if pick is None or point is None:
        folders = ", ".join(str(_folder(root, p)) for p in summary.points) or "none: it measured no configuration"
        raise ConfigError(
            f"the sweep in {root} picked no configuration (none met the latency limit).",
            f"plan one of its configurations' folders: {folders}",
        )
    others = [str(_folder(root, p)) for p in summary.points if p is not point]
    note = f"planning {_folder(root, point)}: the sweep's pick for most capacity ({pick.reason})."
    if others:
        note += f" Plan another configuration with `profiler plan DIR`: {', '.join(others)}."
    return _folder(root, point), note
