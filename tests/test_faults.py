"""Every request accounted for, under faults: real CLI runs against hostile targets on 127.0.0.1
(bodies cut mid-stream, a target that hangs, answers 500 to everything, floods Server-Timing), and
runs cut short by a signal. Each asserts the accounting invariant (every request started is on
disk once, with an outcome), the exit code, the one-line message, and no process left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.conftest import (
    APPS,
    BASIC_APP,
    ROOT,
    assert_no_traceback,
    launch_args,
    profiler_children_gone,
    read_report,
    run_cli,
)

pytestmark = pytest.mark.slow
FAULTY = APPS / "faulty.py"


def faulty(mode: str, every: int = 1) -> list[str]:
    return launch_args(FAULTY, "/x", "--mode", mode, "--every", str(every))


def assert_accounted(out: Path) -> dict[str, Any]:
    """The invariant: per stage, rows on disk == requests the generator started; nothing missing."""
    report = read_report(out)
    assert report["run"]["requests_missing"] == 0, report["run"]
    for s in report["load"]["stages"]:
        assert s["started"] is not None and s["missing"] == 0, s
        assert s["requests"] + s["unsent"] == s["started"], s
        assert 0.0 <= s["error_rate"] <= 1.0
    rows = (out / "requests.csv").read_text().count("\n") - 1
    events = [json.loads(line) for line in (out / "stages.jsonl").read_text().splitlines()]
    finish = [e for e in events if e["event"] == "finish"]
    assert len(finish) == 1 and finish[0]["written"] == finish[0]["started"]
    main_rows = sum(1 for line in (out / "requests.csv").read_text().splitlines()[1:] if ",main," in line)
    assert main_rows == finish[0]["started"] <= rows
    return report


def issue_ids(report: dict[str, Any]) -> set[str]:
    return {i["id"] for i in report["validity"]["issues"]}


def test_bodies_cut_mid_stream_are_recorded_as_body_cut(tmp_path: Path) -> None:
    out = tmp_path / "r"
    result = run_cli("run", *faulty("cut", every=2), "--users", "1,2", "--duration", "4", "--no-pyspy",
                     "--no-early-stop", "--out", str(out), "--quiet")  # fmt: skip
    assert_no_traceback(result)
    assert result.code == 0, result.output
    report = assert_accounted(out)
    for s in report["load"]["stages"]:
        assert s["requests"] > 20
        assert s["error_kinds"].get("body-cut", 0) > 0
        assert 0.3 < s["error_rate"] < 0.7  # every second response breaks
    assert (out / "loadgen.log").stat().st_size < 10_000  # no traceback per request


def test_target_answering_500_to_everything(tmp_path: Path) -> None:
    out = tmp_path / "r"
    result = run_cli("run", *faulty("error"), "--users", "1,2", "--duration", "4", "--no-pyspy", "--out", str(out),
                     "--quiet")  # fmt: skip
    assert_no_traceback(result)
    report = assert_accounted(out)
    for s in report["load"]["stages"]:
        assert s["error_rate"] == 1.0
        assert s["error_kinds"] == {"http-5xx": s["requests"]}
    assert report["capacity"]["capacity_rps"] is None
    assert report["capacity"]["limited_by"] == "errors"
    assert "all-failed" in issue_ids(report) and not report["validity"]["valid"]


def test_flood_of_server_timing_entries_stays_bounded_and_readable(tmp_path: Path) -> None:
    out = tmp_path / "r"
    result = run_cli("run", *faulty("timing"), "--users", "1,2", "--duration", "4", "--no-pyspy", "--out", str(out),
                     "--quiet")  # fmt: skip
    assert_no_traceback(result)
    assert result.code == 0, result.output  # readiness does not reject a 180 KB header line
    report = assert_accounted(out)
    rows = report["load"]["requests"] + sum(1 for _ in range(0))
    assert rows > 20
    size = (out / "requests.csv").stat().st_size
    assert size / rows < 4096, f"{size / rows:.0f} bytes a row"
    assert report["handoffs"]["handoffs"], "the first entries still become handoffs"
    again = run_cli("analyze", str(out), "--json")
    assert again.code == 0 and json.loads(again.stdout)["load"]["requests"] == report["load"]["requests"]


def _start(args: list[str], out: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "profiler", "run", *args, "--out", str(out), "--quiet"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "NO_COLOR": "1"},
    )  # fmt: skip


def _wait_for_rows(out: Path, stage: int, timeout_s: float = 40.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        stages = out / "stages.jsonl"
        if stages.exists() and f'"index": {stage}' in stages.read_text():
            return
        time.sleep(0.1)
    pytest.fail(f"stage {stage} never started")


def _children_when_stage_1_runs(proc: subprocess.Popen[str], out: Path) -> list[psutil.Process]:
    try:
        _wait_for_rows(out, stage=1)
    except BaseException:
        proc.kill()
        raise
    time.sleep(1.0)
    return psutil.Process(proc.pid).children(recursive=True)


def _finish_after(proc: subprocess.Popen[str], fault: Callable[[], None]) -> tuple[str, str]:
    """Inject the fault, then wait for the profiler to end (killed if it does not)."""
    try:
        fault()
        return proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_hung_target_is_a_hang_not_a_clean_run(tmp_path: Path) -> None:
    out = tmp_path / "r"
    proc = _start([*launch_args(BASIC_APP, "/slow"), "--users", "1,2,4", "--duration", "30", "--timeout", "2",
                   "--no-pyspy"], out)  # fmt: skip
    children = [c.pid for c in _children_when_stage_1_runs(proc, out)]
    target = json.loads((out / "meta.json").read_text())["target"]["pid"]
    stdout, stderr = _finish_after(proc, lambda: os.killpg(target, signal.SIGSTOP))  # the whole tree stops
    assert "Traceback" not in stdout + stderr
    assert proc.returncode == 3, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "stopped answering" in lines[0], stderr
    report = assert_accounted(out)
    assert report["run"]["status"] == "target-hung"
    hung = [s for s in report["load"]["stages"] if s["cut_short"] == "hung"]
    assert hung and all(not s["completed"] for s in hung)
    assert hung[0]["index"] >= 1  # the stage before the stop measured a live target
    assert "target-hung" in issue_ids(report) and not report["validity"]["valid"]
    capacity_stage = report["capacity"]["capacity_stage"] if report["capacity"] else None
    assert capacity_stage not in {s["index"] for s in hung}
    assert profiler_children_gone([*children, target]), "a child of the profiler outlived it"


def test_stage_cut_by_sigterm_is_marked_and_never_capacity(tmp_path: Path) -> None:
    out = tmp_path / "r"
    proc = _start([*launch_args(BASIC_APP, "/slow"), "--users", "1,2,4", "--duration", "30", "--no-pyspy"], out)
    _children_when_stage_1_runs(proc, out)
    stdout, stderr = _finish_after(proc, lambda: proc.send_signal(signal.SIGTERM))
    assert "Traceback" not in stdout + stderr
    assert proc.returncode == 130, stderr
    report = assert_accounted(out)
    last = report["load"]["stages"][-1]
    assert last["index"] == 1 and last["cut_short"] == "interrupted" and not last["completed"]
    assert last["measured_s"] < 9.0  # its real length, not the plan's 10 s
    assert report["capacity"] is None or report["capacity"]["capacity_stage"] != 1
    assert "stage-cut-short" in issue_ids(report)


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Any:
    """A 256 KiB tmpfs, where the machine lets us mount one (root, no seccomp ban), else a skip."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip() or 'not permitted'})")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_disk_full_mid_run_is_named_and_the_loss_counted(tiny_disk: Path) -> None:
    out = tiny_disk / "r"
    result = run_cli("run", *launch_args(BASIC_APP, "/fast"), "--users", "1,2", "--duration", "30", "--no-pyspy",
                     "--out", str(out), "--quiet")  # fmt: skip
    assert_no_traceback(result)
    assert result.code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "disk is full" in lines[0] and "free disk space" in lines[0], result.stderr
    assert not list(out.glob("*.tmp")), "a temporary file was left behind"
    again = run_cli("analyze", str(out), "--json")
    assert_no_traceback(again)
    report = json.loads(again.stdout)
    lost = [i for i in report["validity"]["issues"] if i["id"] in ("requests-lost", "accounting-unknown")]
    assert lost and not report["validity"]["valid"], report["validity"]
    assert all(not s["completed"] or s["missing"] for s in report["load"]["stages"][-1:])
    assert report["capacity"] is None or report["capacity"]["capacity_rps"] is None
