"""Load from several processes on Locust's own master/worker engine: `--workers 2` on this
machine, and `profiler worker --master` joining a run from outside it, on 127.0.0.1. Every
request of every worker is in the one requests.csv, once, tagged with the stage it was sent in."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from profiler.base.config import free_port
from tests.conftest import APPS, ROOT, assert_no_traceback, launch_args, read_report, run_cli

APP = APPS / "tunable_app.py"


def _accounted(folder: Path) -> list[dict[str, str]]:
    finish = json.loads((folder / "stages.jsonl").read_text().splitlines()[-1])
    with (folder / "requests.csv").open() as fh:
        rows = [r for r in csv.DictReader(fh) if r["kind"] == "main"]
    assert finish["event"] == "finish" and finish["started"] == finish["written"] == len(rows), finish
    return rows


def _generator_processes(folder: Path) -> int:
    samples = [json.loads(line) for line in (folder / "samples.jsonl").read_text().splitlines()]
    return max(s["loadgen"].get("procs", 0) for s in samples)


@pytest.mark.slow
def test_two_workers_send_the_load_and_every_request_reaches_one_file(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    result = run_cli(
        "run", *launch_args(APP, "/", "--delay-ms", "5", "--timing-every", "2"),
        *("--workers", "2", "--users", "2,8", "--duration", "6s", "--no-pyspy", "--out", str(folder)),
        timeout=180,
    )  # fmt: skip
    assert_no_traceback(result)
    assert result.code == 0, result.output
    rows = _accounted(folder)
    assert _generator_processes(folder) >= 3  # the master and its two workers
    by_stage = Counter(r["stage"] for r in rows)
    assert by_stage["0"] > 50 and by_stage["1"] > 50  # each request tagged with the stage it was sent in
    assert all(r["status"] == "200" for r in rows)
    # Half the answers carry Server-Timing: a worker ships those as they are (the master numbers the
    # handoff slots) and writes the others itself; both kinds are on disk, whole.
    timed = [r for r in rows if r["server_ms"]]
    assert 0.3 < len(timed) / len(rows) < 0.7 and all(float(r["server_ms"]) == float(r["h0"]) == 5.0 for r in timed)
    assert all(r["h0"] == "" and r["latency_ms"] and r["name"] == "/" for r in rows if not r["server_ms"])
    assert json.loads((folder / "handoffs.jsonl").read_text().splitlines()[0])["name"] == "wait"
    report = read_report(folder)
    stages = report["load"]["stages"]
    assert [s["users"] for s in stages] == [2, 8] and all(s["missing"] == 0 for s in stages)
    # the generator is judged per process: its busiest one, not the sum of three
    assert all(s["loadgen_busiest_cpu_pct"] is not None for s in stages)
    assert all(s["loadgen_busiest_cpu_pct"] <= s["loadgen_cpu_pct"] + 1e-6 for s in stages)


@pytest.mark.slow
def test_a_worker_started_elsewhere_joins_the_run(tmp_path: Path) -> None:
    folder, port = tmp_path / "run", free_port()
    run = subprocess.Popen(
        [sys.executable, "-m", "profiler", "run", *launch_args(APP, "/", "--delay-ms", "5"),
         "--workers", "1", "--expect-workers", "1", "--master-port", str(port),
         "--users", "1,4", "--duration", "5s", "--no-pyspy", "--out", str(folder), "--quiet"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(2.0)  # the master listens once the target is ready; the worker retries its connection
    worker = subprocess.run(
        [sys.executable, "-m", "profiler", "worker", "--master", f"127.0.0.1:{port}"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    out, err = run.communicate(timeout=120)
    assert run.returncode == 0, out + err
    assert "Traceback" not in err + worker.stderr, worker.stderr
    assert worker.returncode == 0, worker.stderr
    rows = _accounted(folder)
    assert Counter(r["stage"] for r in rows)["1"] > 20 and all(r["status"] == "200" for r in rows)


def test_the_open_model_stays_in_one_process(tmp_path: Path) -> None:
    result = run_cli("run", "http://127.0.0.1:9/", "--launch", "sleep 60", "--rate", "5", "--workers", "2")
    assert result.code == 2 and "--rate runs in one process" in result.stderr, result.stderr
    bad = run_cli("worker", "--master", "nowhere")
    assert bad.code == 2 and "HOST:PORT" in bad.stderr and len(bad.stderr.splitlines()) == 1, bad.stderr
