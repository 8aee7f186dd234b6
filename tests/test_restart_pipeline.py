"""`--fault restart@T` through the real CLI: the launched target SIGTERMed, started again with the
same command and waited for, while the load goes on and every request lands on disk.

What real servers do on SIGTERM, asserted from the event's figures: gunicorn's gthread worker
finishes the requests it holds (graceful), a single-process server with no handler fails them
and is down until it answers again; sessions it kept in memory are gone after it (401s); one
that does not come back ends the run with its status and exit code, its report written."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from profiler.base.config import free_port
from tests.conftest import assert_no_traceback, run_cli
from tests.test_faults import assert_accounted
from tests.test_faults_pipeline import by_kind
from tests.test_html_report import _chart_data, _open
from tests.test_transients_pipeline import shaped as faulted

pytestmark = pytest.mark.slow
SERVERS = Path(__file__).resolve().parent / "apps" / "servers"
GUNICORN = shutil.which("gunicorn") or str(Path(sys.executable).with_name("gunicorn"))
SESSION_APP = f"{sys.executable} {SERVERS / 'session_server.py'} --port {{port}}"


def traits(report: dict) -> dict[str, dict]:
    return {t["id"]: t for t in report["traits"]}


def test_gunicorn_gthread_restarted_with_sigterm_finishes_what_it_holds_and_is_followed(tmp_path: Path) -> None:
    app = f"{GUNICORN} -w 1 --threads 4 -b 127.0.0.1:{{port}} --chdir {SERVERS} wsgi_blocking:app"
    report, stdout = faulted(tmp_path, app, "http://127.0.0.1:{port}/predict", "--shape", "14s:3",
                             "--fault", "restart@5s")  # fmt: skip
    e = by_kind(report)["restart"]
    r = e["restart"]
    assert 4.5 <= e["at_s"] <= 6.0 and r["killed"] is False and r["exit_code"] == 0
    assert r["stopped_after_s"] < 5.0 and 0 < r["ready_after_s"] < 10.0
    assert abs(r["down_s"] - (e["until_s"] - e["at_s"])) < 0.01
    assert r["in_flight"] >= 1 and r["in_flight_failed"] == 0, r  # gthread drains: its 4 threads held all 3
    # Down on purpose: requests sent meanwhile fail (refused), and the outage is measured.
    assert e["failed"] > 0 and 0 < e["unavailable_s"] <= r["down_s"] + 1.0
    assert e["recovered"] is True
    log = (tmp_path / "run" / "target.log").read_text()
    assert log.count("Starting gunicorn") == 2 and "Handling signal: term" in log
    # The sampler followed the new processes: a new root in processes.jsonl, sampled after the restart.
    fault = json.loads((tmp_path / "run" / "faults.jsonl").read_text().splitlines()[0])
    new_root = fault["restart"]["pid_after"]
    procs = [json.loads(line) for line in (tmp_path / "run" / "processes.jsonl").read_text().splitlines()]
    assert new_root in {p["pid"] for p in procs} and new_root != fault["pid"]
    later = [json.loads(line) for line in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    later = [s for s in later if s["t"] > fault["until"] + 1.0 and s.get("target")]
    assert later and all(new_root in {p["pid"] for p in s["target"]["per_process"]} for s in later)
    assert "restart@5s on" in stdout and "in flight failed" in stdout
    # The HTML timeline: the requests over time, the restart marked and its recovery shaded, drawn offline.
    page = tmp_path / "run" / "report.html"
    charts = {c["id"]: c for c in _chart_data(page.read_text())["charts"]}
    for cid in ("events-latency", "events-throughput", "events-in-flight"):
        (band,) = charts[cid]["bands"]
        assert band["from"] == e["at_s"] and band["to"] >= e["until_s"] and band["label"] == "recovered"
        assert [m["label"] for m in charts[cid]["marks"]] == ["restart@5s"]
    tp = charts["events-throughput"]
    failed = dict(zip(tp["x"], tp["series"][1]["values"], strict=True))
    assert max(v for x, v in failed.items() if e["at_s"] - 0.5 <= x <= e["until_s"]) > 0  # the outage shows
    seen = _open(page)
    drawn = [seen["drawn"].get(f"chart-events-{c}", 0) for c in ("latency", "throughput", "in-flight")]
    assert seen["problems"] == [] and min(drawn) > 2000, seen["drawn"]


def test_gunicorn_sync_restarted_finishes_what_its_workers_hold_and_drops_its_backlog(tmp_path: Path) -> None:
    """2 sync workers, 4 users: 2 requests in the workers, 2 waiting in the listen backlog. On SIGTERM
    the master closes its socket (the backlog is reset) and the workers finish what they hold."""
    app = f"{GUNICORN} -w 2 -b 127.0.0.1:{{port}} --chdir {SERVERS} wsgi_blocking:app"
    report, _ = faulted(tmp_path, app, "http://127.0.0.1:{port}/predict", "--shape", "10s:4",
                        "--fault", "restart@4s")  # fmt: skip
    r = by_kind(report)["restart"]["restart"]
    assert r["killed"] is False and r["exit_code"] == 0 and r["ready_after_s"] is not None
    assert 1 <= r["in_flight_failed"] < r["in_flight"], r  # the backlog failed, what the workers held did not
    assert "restart-drops-requests" in traits(report)


def test_a_single_process_server_sigtermed_fails_its_in_flight_requests_and_is_down_a_measured_time(
    tmp_path: Path,
) -> None:
    report, _ = faulted(tmp_path, SESSION_APP, "http://127.0.0.1:{port}/predict", "--shape", "12s:4",
                        "--fault", "restart@4s")  # fmt: skip
    assert_accounted(tmp_path / "run")  # across the restart: every request started is on disk once
    e = by_kind(report)["restart"]
    r = e["restart"]
    # /predict takes 300 ms, so the 4 users each had one in flight; no SIGTERM handler: all fail.
    assert r["in_flight"] >= 3 and r["in_flight_failed"] == r["in_flight"], r
    assert r["stopped_after_s"] < 1.0 and r["exit_code"] == -15  # ended by the signal itself
    assert 0 < e["unavailable_s"] <= r["down_s"] + 1.0 and e["lost"] >= r["in_flight_failed"]
    found = traits(report)["restart-drops-requests"]
    assert found["subject"] == "restart@4s" and found["evidence"]["values"]["failed"] == e["failed"]
    drain = next(x for x in report["recommendations"] if x["id"] == "drain-before-restart")
    assert drain["evidence"]["termination_grace_period_s"] >= 30 and "preStop" in drain["action"]


def test_sessions_kept_in_the_process_are_lost_on_restart_and_said_so(tmp_path: Path) -> None:
    scenario = tmp_path / "cart.toml"
    scenario.write_text('[login]\npath = "/login"\njson = { user = "demo" }\ntoken = "access_token"\n'
                        '[[request]]\npath = "/cart"\n')  # fmt: skip
    report, _ = faulted(tmp_path, SESSION_APP, "http://127.0.0.1:{port}/", "--shape", "12s:3",
                        "--scenario", str(scenario), "--fault", "restart@4s")  # fmt: skip
    e = by_kind(report)["restart"]
    after = e["after"]
    assert after["baseline_client_errors"] == 0 and after["baseline_requests"] > 20  # all logged in before
    assert after["statuses"].get("401", 0) >= 0.9 * after["requests"], after  # the new process knows no one
    lost = traits(report)["sessions-lost-on-restart"]
    assert lost["subject"] == "restart@4s" and lost["evidence"]["values"]["statuses"].startswith(
        f"401 x {after['statuses']['401']}"
    )
    assert any(x["id"] == "external-session-store" for x in report["recommendations"])


def test_a_target_that_does_not_come_back_ends_the_run_with_its_status_and_the_report_written(
    tmp_path: Path,
) -> None:
    once = tmp_path / "started-once"
    out = tmp_path / "run"
    result = run_cli("run", "http://127.0.0.1:{port}/predict", "--launch", f"{SESSION_APP} --once {once}",
                     "--shape", "10s:2", "--fault", "restart@3s", "--no-pyspy", "--out", str(out), timeout=180)  # fmt: skip
    assert_no_traceback(result)
    assert result.code == 3, result.output  # EXIT_TARGET_FAILED
    assert "after its restart at 3s" in result.stderr and "exited with code 3" in result.stderr
    assert len([line for line in result.stderr.splitlines() if line.startswith("error:")]) == 1
    report = assert_accounted(out)
    assert report["run"]["status"] == "target-exited"
    fault = json.loads((out / "faults.jsonl").read_text().splitlines()[0])
    assert fault["restart"]["ready_after_s"] is None and "exited with code 3" in fault["error"]
    e = by_kind(report)["restart"]
    assert e["restart"]["ready_after_s"] is None and e["failed"] > 0


def test_restart_of_an_attached_target_is_one_line_exit_2_before_any_load(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(SERVERS / "session_server.py"), "--port", str(port)])
    try:
        time.sleep(1.0)
        out = tmp_path / "run"
        result = run_cli("run", f"http://127.0.0.1:{port}/predict", "--pid", str(proc.pid), "--shape", "6s:1",
                         "--fault", "restart@3s", "--no-pyspy", "--out", str(out), timeout=120)  # fmt: skip
        assert_no_traceback(result)
        assert result.code == 2 and "attached to (--pid)" in result.stderr and "--launch" in result.stderr
        assert not (out / "requests.csv").exists() or len((out / "requests.csv").read_text().splitlines()) <= 1
        assert proc.poll() is None  # never stopped
    finally:
        proc.terminate()
        proc.wait(timeout=10)
