"""`profiler run` through the real pipeline: real app, real Locust, real sampler, real folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from profiler.base.config import free_port
from profiler.runfolder.names import FORMAT_VERSION
from profiler.schema.report import SCHEMA_VERSION
from tests.conftest import (
    BASIC_APP,
    ROOT,
    assert_no_traceback,
    launch_args,
    profiler_children_gone,
    read_report,
    run_cli,
)

pytestmark = pytest.mark.slow


def test_run_saves_folder_and_analyze_reproduces_report(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = run_cli("run", *launch_args(BASIC_APP, "/timing"), "--users", "1,4", "--duration", "5", "--out", str(out))
    assert_no_traceback(result)
    assert result.code == 0, result.output
    for name in ("meta.json", "requests.csv", "samples.jsonl", "stages.jsonl", "target.log", "report.json"):
        assert (out / name).exists(), name
    report = read_report(out)
    assert report["schema_version"] == SCHEMA_VERSION
    assert report["run"]["folder_format"] == FORMAT_VERSION
    assert report["run"]["status"] == "completed"
    all_stages = report["load"]["stages"]
    stages = [s for s in all_stages if not s["profiled"]]
    assert [s["users"] for s in stages] == [1, 4]
    # py-spy ran on one extra stage at the load of best throughput; capacity ignores it
    profiled = [s for s in all_stages if s["profiled"]]
    assert len(profiled) == 1 and profiled[0]["users"] == 4 and profiled[0]["index"] == 2
    assert report["code"]["profiled_stages"] == [2]
    assert all(s["requests"] > 20 and s["error_rate"] == 0 for s in stages)
    # asyncio.sleep(0.01) per request: more users, more throughput
    assert stages[1]["rps"] > stages[0]["rps"] * 2
    assert stages[0]["latency"]["p50"] >= 10.0
    assert stages[0]["probe"]["count"] > 5  # the light probe ran beside the load
    assert stages[0]["target_cpu_pct"] is not None and stages[0]["target_rss_mb"] > 10
    assert report["resources"]["samples"] > 20
    # the handoff marks came through Server-Timing; the bogus entry was counted, not used
    h = report["handoffs"]
    assert set(h["handoffs"]) == {"features", "model"}
    assert h["dominant"] == "model"
    assert h["malformed_entries"] > 0
    assert h["unattributed"]["p50_ms"] >= 0
    assert "Load stages" in result.stdout
    # the target we launched was stopped
    assert (
        not psutil.pid_exists(report["target"]["pid"])
        or psutil.Process(report["target"]["pid"]).status() == psutil.STATUS_ZOMBIE
    )

    again = run_cli("analyze", str(out), "--json")
    assert again.code == 0, again.output
    assert json.loads(again.stdout) == report


def test_ctrl_c_mid_run_leaves_partial_report_and_no_orphans(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "profiler",
            "run",
            *launch_args(BASIC_APP, "/slow"),
            "--users",
            "2,4,8",
            "--duration",
            "60",
            "--out",
            str(out),
            "--quiet",
            "--no-pyspy",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    try:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            csv = out / "requests.csv"
            if csv.exists() and csv.stat().st_size > 2000:
                break
            time.sleep(0.2)
        else:
            pytest.fail("no requests were recorded")
        children = [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
        meta = json.loads((out / "meta.json").read_text())
        target_pid = meta["target"]["pid"]
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stdout + stderr
    report = read_report(out)
    assert report["run"]["status"] == "interrupted"
    assert report["load"]["requests"] > 0
    assert any(i["id"] == "partial-run" for i in report["validity"]["issues"])
    assert profiler_children_gone(children + [target_pid]), "a child of the profiler outlived it"


def test_target_that_exits_at_start_gives_one_clear_line(tmp_path: Path) -> None:
    result = run_cli("run", *launch_args(BASIC_APP, "/fast", "--exit-at-start"), "--out", str(tmp_path / "r"))
    assert_no_traceback(result)
    assert result.code == 3
    err = result.stderr.strip().splitlines()
    assert len(err) == 1, result.stderr
    assert "exited with code 3" in err[0] and "model weights not found" in err[0]
    assert "Fix:" in err[0]


def test_target_that_dies_mid_run_is_reported(tmp_path: Path) -> None:
    out = tmp_path / "r"
    result = run_cli(
        "run",
        *launch_args(BASIC_APP, "/slow"),
        "--users",
        "2,4",
        "--duration",
        "20",
        "--out",
        str(out),
        "--quiet",
        env={"BASIC_APP_DIE_AFTER": "60"},
    )
    assert_no_traceback(result)
    assert result.code == 3, result.output
    assert "exited" in result.stderr
    report = read_report(out)
    assert report["run"]["status"] == "target-exited"
    assert report["load"]["requests"] > 0
    assert not report["validity"]["valid"]
    # The stage the death cut short is marked so, with the cause, and never becomes capacity.
    last = report["load"]["stages"][-1]
    assert last["cut_short"] == "target exited" and not last["completed"], last
    assert report["capacity"] is None or report["capacity"]["capacity_stage"] != last["index"]
    assert report["run"]["requests_missing"] == 0  # the refused requests after the death are rows too


def test_attach_by_pid_follows_worker_processes(tmp_path: Path, started_app) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    app = started_app(BASIC_APP, port, "--workers", "2")
    out = tmp_path / "r"
    result = run_cli(
        "run",
        f"http://127.0.0.1:{port}/fast",
        "--pid",
        str(app.pid),
        "--users",
        "2,4",
        "--duration",
        "4",
        "--out",
        str(out),
        "--quiet",
        "--ready-timeout",
        "30",
    )
    assert result.code == 0, result.output
    report = read_report(out)
    assert report["target"]["attached"] is True
    assert report["resources"]["target"]["processes_max"] >= 3  # uvicorn's supervisor and two workers
    assert app.poll() is None, "an attached target must not be stopped"


def test_open_model_rate_sends_about_rate_times_duration(tmp_path: Path) -> None:
    out = tmp_path / "r"
    result = run_cli(
        "run",
        *launch_args(BASIC_APP, "/slow"),
        "--rate",
        "40",
        "--duration",
        "5",
        "--out",
        str(out),
        "--quiet",
        "--no-probe",
    )
    assert result.code == 0, result.output
    report = read_report(out)
    stage = report["load"]["stages"][0]
    assert report["load"]["model"] == "open"
    assert stage["rate"] == 40
    # 200 arrivals were scheduled; all are recorded whatever the target does
    assert 170 <= stage["requests"] <= 201
    assert stage["latency"]["p50"] >= 50.0


def test_json_flag_prints_the_report(tmp_path: Path) -> None:
    result = run_cli(
        "run",
        *launch_args(BASIC_APP, "/fail"),
        "--users",
        "2",
        "--duration",
        "3",
        "--out",
        str(tmp_path / "r"),
        "--json",
        "--no-probe",
    )
    assert result.code == 0, result.output
    report = json.loads(result.stdout)
    assert report["load"]["stages"][0]["error_rate"] == 1.0
    assert report["load"]["stages"][0]["errors"] == {"HTTP 500": report["load"]["stages"][0]["requests"]}


def test_streaming_response_has_early_first_byte(tmp_path: Path) -> None:
    out = tmp_path / "r"
    result = run_cli(
        "run",
        *launch_args(BASIC_APP, "/stream"),
        "--users",
        "2",
        "--duration",
        "3",
        "--out",
        str(out),
        "--quiet",
        "--no-probe",
    )
    assert result.code == 0, result.output
    stage = read_report(out)["load"]["stages"][0]
    assert stage["latency"]["p50"] >= 80.0  # five events 20 ms apart
    assert stage["ttfb"]["p50"] < stage["latency"]["p50"] / 2


def test_other_load_on_the_machine_is_flagged(tmp_path: Path) -> None:
    # A busy loop beside the run (bounded: it exits by itself) competes for the cores.
    hog = subprocess.Popen([sys.executable, "-c", "import time\nend = time.time() + 25\nwhile time.time() < end: pass"])
    try:
        out = tmp_path / "r"
        result = run_cli(
            "run",
            *launch_args(BASIC_APP, "/slow"),
            "--users",
            "1,2",
            "--duration",
            "4",
            "--out",
            str(out),
            "--quiet",
            "--no-pyspy",
        )
        assert result.code == 0, result.output
    finally:
        hog.kill()
        hog.wait()
    report = read_report(out)
    ids = {i["id"] for i in report["validity"]["issues"]}
    assert "other-load" in ids, report["validity"]
