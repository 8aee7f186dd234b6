"""Gates on real run folders through the real CLI: pass, fail, unknown metric, not judgeable,
invalid run, target failed, each with its exit code; JUnit validated against the schema CI
systems read; the Markdown summary and $GITHUB_STEP_SUMMARY; settings from pyproject.toml."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import xmlschema

from tests.conftest import (
    BASIC_APP,
    ROOT,
    CliResult,
    assert_no_traceback,
    launch_args,
    read_report,
    run_cli,
    shared_measurement,
)

pytestmark = pytest.mark.slow
JUNIT_XSD = Path(__file__).parent / "schemas" / "JUnit.xsd"


def _one_line(result: CliResult) -> str:
    assert_no_traceback(result)
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def _junit(path: Path) -> dict[str, object]:
    schema = xmlschema.XMLSchema(str(JUNIT_XSD))
    schema.validate(str(path))  # raises with the offending element when invalid
    return schema.to_dict(str(path))  # type: ignore[return-value]


@shared_measurement
def slow_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real run of a 50 ms endpoint at 1 and 4 users, gated as it runs (the `run --check` path)."""
    out = tmp_path_factory.mktemp("gate") / "run"
    junit = out.parent / "run-junit.xml"
    result = run_cli(
        "run",
        *launch_args(BASIC_APP, "/slow"),
        "--users", "1,4", "--duration", "8s", "--timeout", "2500ms", "--no-pyspy", "--quiet",
        "--check", "p95<5s", "--check", "error_rate<1%", "--junit", str(junit),
        "--out", str(out),
    )  # fmt: skip
    assert_no_traceback(result)
    assert result.code == 0, result.output
    assert "gate passed: 2 of 2 checks passed." in result.stderr
    suite = _junit(junit)["testsuite"][0]  # type: ignore[index]
    assert suite["@tests"] == 2 and suite["@failures"] == 0 and suite["@errors"] == 0
    assert json.loads((out / "gate.json").read_text())["exit_code"] == 0
    return out


def test_a_passing_gate_exits_0_and_writes_valid_junit_and_markdown(slow_run: Path, tmp_path: Path) -> None:
    junit, md, summary = tmp_path / "j.xml", tmp_path / "s.md", tmp_path / "step-summary.md"
    summary.write_text("earlier step\n")
    result = run_cli(
        "gate", str(slow_run), "--check", "p95@4users<5s", "--check", "rps@4users>=10", "--check", "p50<2s",
        "--junit", str(junit), "--markdown", str(md), env={"GITHUB_STEP_SUMMARY": str(summary)},
    )  # fmt: skip
    assert result.code == 0, result.output
    suite = _junit(junit)["testsuite"][0]  # type: ignore[index]
    assert [c["@name"] for c in suite["testcase"]] == ["p95@4users<5s", "rps@4users>=10", "p50<2s"]
    text = md.read_text()
    assert "gate passed" in text and "| ✅ pass | `rps@4users>=10` |" in text
    assert summary.read_text().startswith("earlier step\n") and text in summary.read_text()


def test_a_failing_check_exits_1_and_names_the_stage(slow_run: Path, tmp_path: Path) -> None:
    junit = tmp_path / "j.xml"
    result = run_cli("gate", str(slow_run), "--check", "p95<10ms", "--check", "p95<5s", "--junit", str(junit))
    assert result.code == 1, result.output
    assert "gate failed: 1 of 2 checks failed." in result.stderr
    # the stage named is the worst one: at 1 user or at 4 users, whichever noise made slower (the
    # table may wrap a cell: its borders and line breaks read as spaces)
    text = re.sub(r"[\s│┃]+", " ", result.stdout)
    assert "p95 was" in text and re.search(r"at (1 user|4 users)\b", text), text
    suite = _junit(junit)["testsuite"][0]  # type: ignore[index]
    assert suite["@failures"] == 1 and "failure" in suite["testcase"][0]


def test_a_forbidden_trait_found_in_the_run_fails_the_gate(slow_run: Path) -> None:
    traits = [t["id"] for t in read_report(slow_run)["traits"]]
    absent = next(t for t in ("memory-growth", "gpu-bound", "cold-start") if t not in traits)
    passed = run_cli("gate", str(slow_run), "--forbid-trait", absent)
    assert passed.code == 0, passed.output
    if traits:  # the 50 ms endpoint shows at least one trait on most machines; judge it when it does
        failed = run_cli("gate", str(slow_run), "--forbid-trait", traits[0])
        assert failed.code == 1 and f"{traits[0]} found" in failed.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--check", "p59<1s"], "unknown metric 'p59'"),
        (["--check", "p95<<1s"], "the limit '<1s'"),
        (["--forbid-trait", "memory-growht"], "not a trait the profiler reports"),
        (["--fail-on", "p95:+10%"], "--baseline"),
        ([], "nothing to check"),
    ],
)
def test_a_bad_check_is_a_usage_error_in_one_line(slow_run: Path, args: list[str], needle: str) -> None:
    result = run_cli("gate", str(slow_run), *args)
    assert result.code == 2, result.output
    assert needle in _one_line(result)


def test_a_load_the_run_never_reached_is_not_judged_exit_5(slow_run: Path, tmp_path: Path) -> None:
    junit = tmp_path / "j.xml"
    result = run_cli("gate", str(slow_run), "--check", "p95@64users<1s", "--junit", str(junit))
    assert result.code == 5, result.output
    assert "no measured stage at 64 users" in result.stdout
    suite = _junit(junit)["testsuite"][0]  # type: ignore[index]
    assert suite["@errors"] == 1 and "error" in suite["testcase"][0]  # red in CI, never a silent skip


def test_settings_from_pyproject_are_used_and_named(slow_run: Path, tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.profiler]\nchecks = ["p95<10ms"]\n')
    env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "profiler", "gate", str(slow_run)], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 1, proc.stderr
    assert f"gate settings from {tmp_path / 'pyproject.toml'} [tool.profiler]" in proc.stderr
    wins = subprocess.run(
        [sys.executable, "-m", "profiler", "gate", str(slow_run), "--check", "p95<5s"],
        cwd=tmp_path, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert wins.returncode == 0, wins.stderr  # the command line's checks replace the file's


def test_a_run_where_every_request_failed_is_not_judgeable(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = run_cli(
        "run", *launch_args(BASIC_APP, "/fail"), "--users", "2", "--duration", "3s", "--no-pyspy", "--quiet",
        "--check", "p95<5s", "--out", str(out),
    )  # fmt: skip
    assert_no_traceback(result)
    assert result.code == 5, result.output
    assert "not judged" in result.stderr
    gate = json.loads((out / "gate.json").read_text())
    assert gate["results"][0]["outcome"] == "unknown" and "failed" in gate["results"][0]["detail"]


def test_a_target_that_dies_mid_run_is_exit_3_with_the_junit_written(tmp_path: Path) -> None:
    junit = tmp_path / "j.xml"
    result = run_cli(
        "run", *launch_args(BASIC_APP, "/fast"), "--users", "2", "--duration", "6s", "--no-pyspy", "--quiet",
        "--check", "p95<5s", "--junit", str(junit), "--out", str(tmp_path / "run"),
        env={"BASIC_APP_DIE_AFTER": "60"},
    )  # fmt: skip
    assert_no_traceback(result)
    assert result.code == 3, result.output
    assert "target exited" in result.stderr
    _junit(junit)


def test_a_what_if_analysis_never_replaces_the_runs_report(slow_run: Path, tmp_path: Path) -> None:
    before = (slow_run / "report.json").read_bytes()
    shown = run_cli("analyze", str(slow_run), "--slo", "p95=10ms", "--json")
    assert shown.code == 0 and json.loads(shown.stdout)["capacity"]["slo"] == "p95<=10ms"
    assert "what-if not saved" in shown.stderr
    saved = run_cli("analyze", str(slow_run), "--slo", "p95=10ms", "--out", str(tmp_path / "what-if.json"), "-q")
    assert saved.code == 0, saved.output
    assert json.loads((tmp_path / "what-if.json").read_text())["capacity"]["slo"] == "p95<=10ms"
    assert (slow_run / "report.json").read_bytes() == before


def test_the_report_fits_80_columns_and_repeated_warnings_are_said_once(slow_run: Path) -> None:
    import io

    from rich.console import Console

    from profiler.report.terminal import validity_lines
    from profiler.run.console import print_report
    from profiler.schema.report import Report, ValidityIssue, ValiditySection

    report = Report.model_validate_json((slow_run / "report.json").read_bytes())
    out = Console(width=80, record=True, file=io.StringIO(), color_system=None)
    print_report(report, out)
    lines = out.export_text().splitlines()
    table = [line for line in lines if line[:1] in "┏┃┡│└"]  # sentences soft-wrap; table cells must not
    assert table and all(len(line) <= 80 for line in table)
    rows = [line for line in lines if line.startswith("│ 0 ") or line.startswith("│ 1 ")]
    assert len(rows) == 2 and all(
        f"{s.latency.p95:.1f}" in row for s, row in zip(report.load.stages, rows, strict=False)
    )
    busy = [ValidityIssue(id="machine-saturated", severity="warning", message=f"busy {i}", stage=i) for i in range(4)]
    grouped = validity_lines(report.model_copy(update={"validity": ValiditySection(valid=True, issues=busy)}))
    assert grouped == ["WARNING in stages 0, 1, 2, 3: busy 0 (and alike in the others)"]


@pytest.mark.parametrize(
    ("status", "target_exit", "code"),
    [
        ("completed", None, 0),
        ("target-hung", None, 3),
        ("target-exited", 7, 3),
        ("failed", 3, 3),  # the target died before answering: the run failed because of it
        ("failed", None, 4),  # the load generator failed
        ("interrupted", None, 5),
        ("incomplete", None, 5),
    ],
)
def test_how_a_run_ended_decides_before_any_check(
    slow_run: Path, status: str, target_exit: int | None, code: int
) -> None:
    from profiler.gate.verdict import decide
    from profiler.schema.report import Report
    from profiler.schema.verdicts import CheckResult

    report = Report.model_validate_json((slow_run / "report.json").read_bytes())
    ended = report.model_copy(
        update={
            "run": report.run.model_copy(update={"status": status}),
            "target": report.target.model_copy(update={"exit_code": target_exit}),
        }
    )
    failing = CheckResult(kind="slo", check="p95<1ms", outcome="fail", detail="p95 was 50ms.")
    passing = CheckResult(kind="slo", check="p95<5s", outcome="pass", detail="p95 was 50ms.")
    results = [passing] if code == 0 else [failing]
    assert decide(ended, results).exit_code == code
