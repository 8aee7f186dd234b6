"""Faults on the run's timeline through the real CLI: gunicorn reloaded with SIGHUP (graceful:
nothing lost) and a worker SIGKILLed (its master starts another), a real redis-server of the
target's tree paused (every request waits on it), and the bad input refused before any load."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from profiler.base.config import free_port
from tests.conftest import assert_no_traceback, run_cli
from tests.test_transients_pipeline import shaped as faulted  # a run with faults is a timeline too

pytestmark = pytest.mark.slow
SERVERS = Path(__file__).resolve().parent / "apps" / "servers"
GUNICORN = shutil.which("gunicorn") or str(Path(sys.executable).with_name("gunicorn"))
REDIS = shutil.which("redis-server")


def by_kind(report: dict) -> dict[str, dict]:
    assert report["events"] is not None
    return {e["kind"]: e for e in report["events"]["events"]}


def test_gunicorn_reloads_on_sighup_losing_nothing_and_respawns_a_killed_worker(tmp_path: Path) -> None:
    app = f"{GUNICORN} -w 2 -b 127.0.0.1:{{port}} --chdir {SERVERS} wsgi_blocking:app"
    report, stdout = faulted(tmp_path, app, "http://127.0.0.1:{port}/predict", "--shape", "14s:4",
                             "--fault", "reload@4s", "--fault", "kill-worker@9s")  # fmt: skip
    events = by_kind(report)
    reload, kill = events["reload"], events["kill-worker"]
    assert reload["failed"] == 0 and reload["lost"] == 0 and reload["unavailable_s"] == 0  # graceful
    assert reload["during"]["requests"] > 0 and reload["recovered"] is True
    assert 3.5 <= reload["at_s"] <= 5.0 and 8.5 <= kill["at_s"] <= 10.0
    log = (tmp_path / "run" / "target.log").read_text()
    pid = int(kill["process"].rsplit("(pid ", 1)[1].rstrip(")").split(")")[0])
    assert f"Worker (pid:{pid}) was sent SIGKILL" in log  # a worker booted by the reload, found at send time
    assert kill["recovered"] is True  # the master started another; the run went on
    # At most the killed worker's one request in flight can fail (sync workers, one request each).
    assert kill["failed"] <= 1
    found = {t["id"] for t in report["traits"]}
    assert ("restart-drops-requests" in found) == (kill["failed"] > 0 or reload["failed"] > 0)
    faults = [json.loads(line) for line in (tmp_path / "run" / "faults.jsonl").read_text().splitlines()]
    assert [f["kind"] for f in faults] == ["reload", "kill-worker"] and all(f["error"] is None for f in faults)
    assert "reload@4s on" in stdout


@pytest.mark.skipif(REDIS is None, reason="needs redis-server (apt-get install redis-server)")
def test_a_paused_redis_of_the_targets_tree_stalls_every_request_and_is_named(tmp_path: Path) -> None:
    redis_port = free_port()
    start = tmp_path / "start.sh"
    start.write_text(
        f"#!/bin/sh\n{REDIS} --port {redis_port} --bind 127.0.0.1 --save '' --appendonly no --dir {tmp_path} "
        f">/dev/null &\nsleep 0.5\nexec {sys.executable} {SERVERS / 'redis_waitress.py'} --port $1 "
        f"--redis-port {redis_port}\n"
    )
    start.chmod(0o755)
    report, _ = faulted(tmp_path, f"{start} {{port}}", "http://127.0.0.1:{port}/predict", "--shape", "12s:2",
                        "--fault", "pause@4s+2s:redis-server")  # fmt: skip
    pause = by_kind(report)["pause"]
    assert pause["process"].startswith("redis-server") or "redis-server" in pause["process"]
    assert 1.8 <= pause["until_s"] - pause["at_s"] <= 2.6
    assert pause["during"]["max_ms"] >= 1500, pause  # requests waited on the stopped Redis
    stall = {t["id"]: t for t in report["traits"]}["dependency-stall"]
    assert "redis-server" in stall["subject"]
    assert any(r["id"] == "bound-the-dependency" for r in report["recommendations"])
    assert pause["recovered"] is True  # SIGCONT: Redis answers again


def test_a_fault_with_nothing_to_act_on_is_one_line_exit_2_before_any_load(tmp_path: Path) -> None:
    app = f"{sys.executable} {SERVERS / 'catalog_waitress.py'} --port {{port}}"
    for fault, says in (("reload@3s", "has no reload signal"), ("pause@3s+1s:nosuch", "no process of the target"),
                        ("kill-worker@3s", "no worker processes")):  # fmt: skip
        out = tmp_path / fault.replace("@", "-").replace(":", "-").replace("+", "-")
        result = run_cli("run", "http://127.0.0.1:{port}/item?id=1", "--launch", app, "--shape", "6s:1",
                         "--fault", fault, "--no-pyspy", "--out", str(out), timeout=120)  # fmt: skip
        assert_no_traceback(result)
        assert result.code == 2 and says in result.stderr, (fault, result.stderr)
        assert not (out / "requests.csv").exists() or len((out / "requests.csv").read_text().splitlines()) <= 1
    for fault, says in (("explode@3s", "unknown kind"), ("reload@30s", "outside the run"),
                        ("pause@3s", "needs a length and a process name")):  # fmt: skip
        result = run_cli("run", "http://127.0.0.1:9/", "--shape", "6s:1", "--fault", fault)
        assert result.code == 2 and says in result.stderr, (fault, result.stderr)


UVICORN = shutil.which("uvicorn") or str(Path(sys.executable).with_name("uvicorn"))


def test_uvicorn_workers_respawn_a_killed_worker_and_its_resource_tracker_is_left_alone(tmp_path: Path) -> None:
    app = f"{UVICORN} --workers 2 --host 127.0.0.1 --port {{port}} --app-dir {SERVERS} --no-access-log asgi_sleep:app"
    report, _ = faulted(tmp_path, app, "http://127.0.0.1:{port}/predict", "--shape", "14s:4",
                        "--fault", "kill-worker@5s")  # fmt: skip
    kill = by_kind(report)["kill-worker"]
    # A worker (multiprocessing's spawn_main), not the resource tracker uvicorn's supervisor also starts.
    assert "spawn_main" in kill["process"] and "resource_tracker" not in kill["process"], kill["process"]
    pid = int(kill["process"].rsplit("(pid ", 1)[1].split(")")[0])
    log = (tmp_path / "run" / "target.log").read_text()
    assert f"Child process [{pid}] died" in log  # uvicorn's supervisor saw it and started another
    assert kill["recovered"] is True and kill["failed"] <= 4  # at most what that worker held (4 users)


def test_gunicorn_gthread_workers_reload_on_sighup_losing_nothing(tmp_path: Path) -> None:
    app = f"{GUNICORN} -w 2 -k gthread --threads 2 -b 127.0.0.1:{{port}} --chdir {SERVERS} wsgi_blocking:app"
    report, _ = faulted(tmp_path, app, "http://127.0.0.1:{port}/predict", "--shape", "12s:3",
                        "--fault", "reload@4s")  # fmt: skip
    reload = by_kind(report)["reload"]
    assert reload["failed"] == 0 and reload["lost"] == 0 and reload["unavailable_s"] == 0, reload
    assert reload["during"]["requests"] > 0 and reload["recovered"] is True
    log = (tmp_path / "run" / "target.log").read_text()
    assert "Handling signal: hup" in log and log.count("Booting worker") >= 4  # 2 at start, 2 from the reload
    assert "restart-drops-requests" not in {t["id"] for t in report["traits"]}
