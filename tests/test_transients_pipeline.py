"""Shapes through the real pipeline: a spike in the closed model on waitress (queued), in the open
model on gunicorn's sync workers (a backlog that outlasts the spike), uvicorn --limit-concurrency
shedding a spike with 503s, and a locustfile's own LoadTestShape honoured. Real servers, real
Locust load, the events read back from report.json."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from tests.conftest import assert_no_traceback, read_report, run_cli

pytestmark = pytest.mark.slow
SERVERS = Path(__file__).resolve().parent / "apps" / "servers"


def shaped(tmp_path: Path, launch: str, url: str, *options: str) -> tuple[dict, str]:
    out = tmp_path / "run"
    result = run_cli("run", url, "--launch", launch, "--out", str(out), "--no-pyspy", *options, timeout=240)
    assert_no_traceback(result)
    assert result.code == 0, result.output
    report = read_report(out)
    assert report["run"]["requests_missing"] == 0  # every request started is on disk with an outcome
    assert report["capacity"] is None  # a timeline, not a ladder
    return report, result.stdout


def events(report: dict) -> list[dict]:
    assert report["events"] is not None, report.get("notices")
    return report["events"]["events"]


def traits(report: dict) -> dict[str, dict]:
    return {t["id"]: t for t in report["traits"]}


def test_a_spike_of_users_on_waitress_queues_and_the_target_recovers_after_it(tmp_path: Path) -> None:
    app = f"{sys.executable} {SERVERS / 'catalog_waitress.py'} --port {{port}}"
    report, stdout = shaped(tmp_path, app, "http://127.0.0.1:{port}/item?id=3", "--shape", "5s:1,4s:24,6s:1")
    assert [s["users"] for s in report["load"]["stages"]] == [1, 24, 1]
    up, down = events(report)
    assert up["kind"] == "step-up" and down["kind"] == "step-down"
    assert up["load_before"] == 1 and up["load_after"] == 24 and 4.5 <= up["at_s"] <= 5.8
    assert up["during"]["p95_ms"] >= 3 * up["baseline"]["p95_ms"], up  # 24 users queue on 4 threads, 1 GIL
    assert up["during"]["max_in_flight"] >= 12 and up["failed"] == 0 and up["lost"] == 0
    assert up["recovered"] is True and up["recovery_s"] <= 3.0, up  # the backlog is 24 requests of ~3 ms
    assert traits(report)["spike-queues"]["subject"] == "stage 1"
    assert any(r["id"] == "bound-the-queue" for r in report["recommendations"])
    assert "Timeline" in stdout and "step-up at" in stdout


def test_an_arrival_spike_past_capacity_leaves_a_backlog_that_outlasts_it(tmp_path: Path) -> None:
    """gunicorn, 2 sync workers, 50 ms a request: 40 rps. 80/s for 3 s piles up ~120 requests the
    calm step after it (10/s) takes seconds to serve."""
    gunicorn = shutil.which("gunicorn") or str(Path(sys.executable).with_name("gunicorn"))
    app = f"{gunicorn} -w 2 -b 127.0.0.1:{{port}} --chdir {SERVERS} wsgi_blocking:app"
    report, _ = shaped(tmp_path, app, "http://127.0.0.1:{port}/predict", "--shape", "5s:10/s,3s:80/s,8s:10/s")
    assert report["load"]["model"] == "open"
    up = events(report)[0]
    assert up["kind"] == "step-up" and up["load_after"] == 80
    assert up["during"]["p95_ms"] >= 5 * up["baseline"]["p95_ms"], up
    assert up["recovered"] is not None and (up["recovery_s"] is None or up["recovery_s"] >= 1.0), up
    assert "spike-queues" in traits(report)


def test_uvicorn_past_its_limit_concurrency_sheds_the_spike_with_503s(tmp_path: Path) -> None:
    app = (f"{sys.executable} -m uvicorn --app-dir {SERVERS} asgi_sleep:app --port {{port}} "
           "--limit-concurrency 4 --no-access-log")  # fmt: skip
    report, _ = shaped(tmp_path, app, "http://127.0.0.1:{port}/predict", "--shape", "4s:2,4s:30,4s:2")
    up = events(report)[0]
    assert up["during"]["shed"] > 0 and up["during"]["errors_by_kind"], up
    assert up["lost"] == 0  # turned away with an answer, none left hanging
    found = traits(report)
    assert "sheds-load" in found and "spike-queues" not in found
    assert any(r["id"] == "retry-with-backoff" for r in report["recommendations"])


LOCUSTFILE = """
from locust import FastHttpUser, LoadTestShape, constant, task

class Shopper(FastHttpUser):
    wait_time = constant(0)

    @task
    def item(self):
        self.client.get("/item?id=1")

class Spike(LoadTestShape):
    def tick(self):
        t = self.get_run_time()
        if t >= 13:
            return None
        return (12, 50) if 4 <= t < 8 else (1, 10)
"""


def test_a_locustfiles_own_load_test_shape_drives_the_run(tmp_path: Path) -> None:
    locustfile = tmp_path / "shape.py"
    locustfile.write_text(LOCUSTFILE)
    app = f"{sys.executable} {SERVERS / 'catalog_waitress.py'} --port {{port}}"
    report, _ = shaped(tmp_path, app, "http://127.0.0.1:{port}/item?id=1", "--locustfile", str(locustfile))
    stages = report["load"]["stages"]
    assert [s["users"] for s in stages] == [1, 12, 1]  # its tick(), read a second at a time
    assert [round(s["measured_s"]) for s in stages] == [4, 4, 5]
    assert [e["kind"] for e in events(report)] == ["step-up", "step-down"]
