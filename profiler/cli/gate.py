"""`profiler gate` (a saved run against checks and a baseline) and `profiler compare` (two runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from profiler.cli import options as opt


def gate(
    folder: Annotated[Path, typer.Argument(help="A run folder written by `profiler run`.")],
    check: opt.Check = None,
    forbid_trait: opt.ForbidTrait = None,
    baseline: opt.Baseline = None,
    fail_on: opt.FailOn = None,
    junit: opt.Junit = None,
    markdown: opt.Markdown = None,
    config_file: opt.ConfigFile = None,
    quiet: opt.Quiet = False,
    as_json: opt.AsJson = False,
) -> None:
    """Judge a saved run against checks (and a baseline): exit 0 passed, 1 failed, 5 not judgeable."""
    from profiler.cli.gating import conclude, gate_plan, gate_settings
    from profiler.run.analyze import load_report

    plan, settings = gate_plan(gate_settings(check, forbid_trait, baseline, fail_on, junit, markdown), config_file)
    report = load_report(folder)
    raise typer.Exit(conclude(plan, report, folder, settings, quiet, as_json))


def compare(
    base: Annotated[Path, typer.Argument(help="The base run folder (e.g. the stored baseline).")],
    new: Annotated[Path, typer.Argument(help="The new run folder.")],
    fail_on: opt.FailOn = None,
    junit: opt.Junit = None,
    markdown: opt.Markdown = None,
    quiet: opt.Quiet = False,
    as_json: opt.AsJson = False,
) -> None:
    """What changed between two runs, stage by stage, beyond the runs' own noise."""
    from profiler.cli.gating import compare_folders

    raise typer.Exit(compare_folders(base, new, tuple(fail_on or ()), junit, markdown, quiet, as_json))
