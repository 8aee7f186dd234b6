"""The gate and compare commands' steps after the core has judged: show the verdict, write the
outputs CI reads (gate.json in the run folder, --junit, --markdown, $GITHUB_STEP_SUMMARY), and
return the exit code."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from profiler.base.errors import EXIT_CHECK_FAILED, EXIT_NOT_JUDGEABLE, EXIT_OK, ConfigError, folder_write_error
from profiler.gate import GatePlan, GateVerdict, plan_gate
from profiler.gate.settings import GateSettings, project_settings
from profiler.report import junit, markdown
from profiler.runfolder.atomic import write_json_atomic
from profiler.runfolder.names import GATE
from profiler.schema.report import Report
from profiler.schema.verdicts import CheckResult, Comparison


def _say(text: str) -> None:
    sys.stderr.write(text + "\n")


def gate_settings(
    check: list[str] | None,
    forbid_trait: list[str] | None,
    baseline: Path | None,
    fail_on: list[str] | None,
    junit: Path | None,
    markdown: Path | None,
) -> GateSettings:
    """The gate's options as the command line gave them (the project's settings are read under them)."""
    return GateSettings.given(check, forbid_trait, fail_on, baseline=baseline, junit=junit, markdown=markdown)


def gate_plan(cli: GateSettings, config: Path | None) -> tuple[GatePlan, GateSettings]:
    """The project's settings under the command line's, parsed whole before any load is sent."""
    settings = project_settings(config, Path.cwd()).overridden_by(cli)
    if settings.source is not None:
        _say(f"gate settings from {settings.source} (the command line wins)")
    if settings.baseline is not None and not (settings.baseline / "meta.json").is_file():
        raise ConfigError(f"--baseline {settings.baseline} is not a run folder.", "give a folder `profiler run` wrote")
    return plan_gate(settings), settings


def verdict_json(verdict: GateVerdict) -> dict[str, Any]:
    return {
        "verdict": verdict.headline,
        "exit_code": verdict.exit_code,
        "results": [r.model_dump(mode="json") for r in verdict.results],
        "comparison": verdict.comparison.model_dump(mode="json") if verdict.comparison else None,
    }


def _write(path: Path, text: str, append: bool = False) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a" if append else "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as e:
        raise folder_write_error(path.parent, e, what=str(path), fix="choose a writable path") from None


def write_outputs(
    report: Report,
    results: list[CheckResult],
    headline: str,
    code: int,
    settings: GateSettings,
    comparison: Comparison | None,
) -> None:
    if settings.junit is not None:
        _write(settings.junit, junit.render(report, results, headline, code))
    summary = markdown.render(report, results, headline, comparison)
    if settings.markdown is not None:
        _write(settings.markdown, summary)
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        _write(Path(step_summary), summary + "\n", append=True)


def conclude(plan: GatePlan, report: Report, folder: Path, settings: GateSettings, quiet: bool, as_json: bool) -> int:
    """Judge the run in `folder`, show and save the verdict, and return its exit code."""
    verdict = plan.evaluate(report, folder)
    try:
        write_json_atomic(folder / GATE, verdict_json(verdict))
    except OSError as e:  # a read-only folder of someone else's run: the outputs still go out
        _say(f"note: {GATE} not saved in {folder}: {e.strerror or e}")
    write_outputs(report, list(verdict.results), verdict.headline, verdict.exit_code, settings, verdict.comparison)
    if as_json:
        sys.stdout.write(json.dumps(verdict_json(verdict), indent=2) + "\n")
    elif not quiet:
        from profiler.run.console import print_gate

        print_gate(verdict.results)
        if verdict.comparison is not None:
            from profiler.run.console import print_comparison

            print_comparison(verdict.comparison)
    _say(verdict.headline)
    return verdict.exit_code


def compare_code(results: list[CheckResult]) -> tuple[int, str]:
    """`profiler compare` with --fail-on rules: 1 when one fails, 5 when one cannot be judged."""
    if not results:
        return EXIT_OK, "compared (no --fail-on rule to judge)."
    failed = sum(r.outcome == "fail" for r in results)
    unknown = sum(r.outcome == "unknown" for r in results)
    if failed:
        return EXIT_CHECK_FAILED, f"compare failed: {failed} of {len(results)} rules failed."
    if unknown:
        return EXIT_NOT_JUDGEABLE, f"compare not judged: {unknown} of {len(results)} rules could not be judged."
    return EXIT_OK, f"compare passed: {len(results)} of {len(results)} rules passed."


def compare_folders(
    base: Path,
    new: Path,
    fail_on: tuple[str, ...],
    junit_path: Path | None,
    markdown_path: Path | None,
    quiet: bool,
    as_json: bool,
) -> int:
    """`profiler compare`: the comparison shown, the rules judged, the outputs written."""
    from profiler.compare import compare_runs
    from profiler.compare.failon import judge_fail_on, parse_fail_on
    from profiler.run.analyze import load_report

    rules = [parse_fail_on(r) for r in fail_on]
    comparison = compare_runs(base, new)
    results = judge_fail_on(rules, comparison)
    code, headline = compare_code(results)
    settings = GateSettings(junit=junit_path, markdown=markdown_path)
    write_outputs(load_report(new), results, headline, code, settings, comparison)
    if as_json:
        out = {"verdict": headline, "exit_code": code, "results": [r.model_dump(mode="json") for r in results]}
        sys.stdout.write(json.dumps({**out, "comparison": comparison.model_dump(mode="json")}, indent=2) + "\n")
    elif not quiet:
        from profiler.run.console import print_comparison, print_gate

        print_comparison(comparison)
        if results:
            print_gate(results)
    _say(headline)
    return code
