"""Where the time goes, through the real pipeline, on apps that send no Server-Timing and start
their server themselves (`waitress.serve`): real waitress, real Locust load, real py-spy with
thread ids, each thread's CPU time from /proc. The category, the function doing the work and the
trait come from the stacks alone.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from profiler.base.config import free_port
from tests.conftest import assert_no_traceback, read_report, run_cli
from tests.nginx_conf import NGINX, nginx_conf

pytestmark = pytest.mark.slow
SERVERS = Path(__file__).resolve().parent / "apps" / "servers"


def profile(tmp_path: Path, app: str, args: str = "", *options: str) -> dict:
    out = tmp_path / "run"
    launch = f"{sys.executable} {SERVERS / app} --port {{port}} {args}".rstrip()
    result = run_cli("run", "http://127.0.0.1:{port}/predict", "--launch", launch, "--users", "1,2,4",
                     "--duration", "9", "--out", str(out), *options, timeout=240)  # fmt: skip
    assert_no_traceback(result)
    assert result.code == 0, result.output
    report = read_report(out)
    report["_stdout"] = result.stdout
    return report


def top(report: dict) -> dict:
    where = report["where_time_goes"]
    assert where["available"], where
    return where["overall"]["categories"][0]


def traits(report: dict) -> dict[str, dict]:
    return {t["id"]: t for t in report["traits"]}


def test_a_sqlite_scan_reads_as_storage_in_the_query_function_on_a_cpu(tmp_path: Path) -> None:
    report = profile(tmp_path, "sqlite_waitress.py")
    assert report["target"]["server"]["server"] == "waitress"  # from its modules on the stacks
    first = top(report)
    assert first["category"] == "storage" and first["share"] >= 0.5, report["where_time_goes"]
    assert first["top_function"].startswith("scan_items (sqlite_waitress.py)")
    assert first["how"] == "call"  # sqlite3 runs in C: the line that calls execute says it
    # Its thread's CPU time says the scan runs (it was "waiting" to the stacks alone).
    assert "/proc" in report["where_time_goes"]["overall"]["method"]
    assert first["on_cpu_share"] is not None and first["on_cpu_share"] >= 0.3
    found = traits(report)
    assert found["storage-bound"]["subject"].startswith("scan_items")
    advice = " ".join(r["action"] for r in report["recommendations"])
    assert "scan_items" in advice and "wasyncore" not in advice  # never the server's dispatcher
    assert "Where the time goes" in report["_stdout"]
    html = (tmp_path / "run" / "report.html").read_text()
    assert 'data-category="storage"' in html  # its bar in the HTML report


def test_with_native_frames_the_scan_is_named_in_sqlites_c_code_under_the_query_function(tmp_path: Path) -> None:
    report = profile(tmp_path, "sqlite_waitress.py", "", "--pyspy-native")
    meta = json.loads((tmp_path / "run" / "meta.json").read_text())
    assert meta["config"]["pyspy_native"] is True
    stacks = next((tmp_path / "run" / "pyspy").glob("stage-*.txt")).read_text()
    assert "sqlite3VdbeExec (" in stacks and "libsqlite3" in stacks  # py-spy really unwound into sqlite's C code
    first = top(report)
    assert first["category"] == "storage" and first["share"] >= 0.5, report["where_time_goes"]
    assert first["how"] == "native"  # told by a C frame, not inferred from the calling line
    assert first["top_function"].startswith(("pysqlite_", "sqlite3")), first
    assert first["called_from"].startswith("scan_items (sqlite_waitress.py)")
    assert "native frames (--native)" in report["where_time_goes"]["overall"]["method"]
    assert "called from scan_items (sqlite_waitress.py)" in traits(report)["storage-bound"]["evidence"]["summary"]


def test_a_large_json_response_reads_as_serialization_with_its_bytes(tmp_path: Path) -> None:
    report = profile(tmp_path, "json_waitress.py")
    first = top(report)
    assert first["category"] == "serialization", report["where_time_goes"]
    assert "json/" in first["top_function"] and first["called_from"].startswith("app (json_waitress.py)")
    assert "serialization-bound" in traits(report)
    rec = next(r for r in report["recommendations"] if r["id"] == "cheaper-serialization")
    assert rec["evidence"]["bytes_per_response"] > 100_000  # ~420 KB of JSON a response
    assert "orjson" in rec["action"]


def test_orjson_a_c_encoder_is_seen_from_the_line_that_calls_it_and_is_not_the_bottleneck(tmp_path: Path) -> None:
    """orjson has no Python frame; the line that calls it names it. It is fast: sending the 1.3 MB
    body through waitress takes more than encoding it, and the report says so (no serialization-bound,
    where the standard library's encoder of the same kind of document is)."""
    report = profile(tmp_path, "orjson_waitress.py")
    categories = {c["category"]: c for c in report["where_time_goes"]["overall"]["categories"]}
    encode = categories["serialization"]
    assert encode["how"] == "call" and encode["top_function"].startswith("app (orjson_waitress.py)"), encode
    assert encode["share"] >= 0.05, categories
    assert top(report)["category"] == "framework"  # waitress writing the body out
    assert "serialization-bound" not in traits(report)
    assert report["load"]["stages"][0]["bytes_per_request"] > 1_000_000


REDIS = shutil.which("redis-server")


@pytest.fixture
def redis_port(tmp_path: Path) -> Iterator[int]:
    """A real Redis on loopback, in a temporary folder, no persistence; stopped after the test."""
    assert REDIS is not None
    port = free_port()
    proc = subprocess.Popen([REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("redis-server did not answer")
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.skipif(REDIS is None, reason="needs redis-server (apt-get install redis-server)")
def test_round_trips_to_a_real_redis_read_as_storage_waiting_in_the_function_that_makes_them(
    tmp_path: Path, redis_port: int
) -> None:
    report = profile(tmp_path, "redis_waitress.py", f"--redis-port {redis_port}")
    first = top(report)
    assert first["category"] == "storage" and first["share"] >= 0.4, report["where_time_goes"]
    assert "load_cart" in first["called_from"], first  # (or its list comprehension's frame)
    assert "redis/" in first["top_function"]
    assert first["on_cpu_share"] is not None and first["on_cpu_share"] < 0.5  # it waits on Redis
    found = traits(report)
    assert "load_cart" in found["storage-bound"]["subject"]
    rec = next(r for r in report["recommendations"] if r["id"] == "cheaper-storage")
    assert "load_cart" in rec["action"] and "the app waits on the database" in rec["action"]


AGREEMENT = 0.15  # the two accounts' split between the legs may differ by this much (sampling, GIL waits)


def test_the_stacks_agree_with_the_apps_own_server_timing_on_the_split_between_its_legs(tmp_path: Path) -> None:
    """An app that reports its query (`db`) and its encoding (`encode`) in Server-Timing: the share
    of storage against serialization read from the stacks alone is the share the app reports."""
    report = profile(tmp_path, "timed_waitress.py")
    where = report["where_time_goes"]["per_stage"][0]
    shares = {c["category"]: c["share"] for c in where["categories"]}
    assert shares.get("storage", 0) > 0.3 and shares.get("serialization", 0) > 0.03, shares
    stacks_db = shares["storage"] / (shares["storage"] + shares["serialization"])
    stage = next(s for s in report["handoffs"]["per_stage"] if s["stage"] == where["stage"])
    db, enc = stage["handoffs"]["db"]["mean_ms"], stage["handoffs"]["encode"]["mean_ms"]
    reported_db = db / (db + enc)
    assert abs(stacks_db - reported_db) <= AGREEMENT, (stacks_db, reported_db, shares, stage["handoffs"])
    # The report sets the two accounts side by side itself, the entries' categories read from their names.
    beside = report["where_time_goes"]["server_timing"]
    assert beside is not None and beside["stage"] == where["stage"], report["where_time_goes"]
    rows = {r["category"]: r for r in beside["rows"]}
    assert set(rows) == {"storage", "serialization"}
    assert rows["storage"]["handoffs"] == ["db"] and rows["serialization"]["handoffs"] == ["encode"]
    assert rows["storage"]["server_timing_share"] == pytest.approx(reported_db, abs=1e-3)
    assert rows["storage"]["stacks_share"] == pytest.approx(stacks_db, abs=1e-3)
    assert beside["largest_gap"] <= AGREEMENT
    assert "the stacks beside Server-Timing" in report["_stdout"]


def test_a_call_to_another_service_reads_as_waiting_downstream(tmp_path: Path) -> None:
    report = profile(tmp_path, "downstream_app.py")
    categories = {c["category"]: c for c in report["where_time_goes"]["overall"]["categories"]}
    downstream = categories["downstream"]
    assert downstream["share"] >= 0.3, categories
    assert downstream["called_from"].startswith("fetch_quote (downstream_app.py)")
    assert downstream["on_cpu_share"] is not None and downstream["on_cpu_share"] < 0.2  # it waits
    assert traits(report)["downstream-bound"]["subject"].startswith("urlopen")
    assert any(r["id"] == "bound-downstream" for r in report["recommendations"])


def nginx_launch(tmp_path: Path, nginx: str) -> str:
    """A command that starts nginx (2 workers, C, a static 2 KB file) on the port the run picks. Its
    workers run as root where the tests do (else as the same user): the temporary folder is 0700."""
    site = tmp_path / "nginx"
    (site / "www").mkdir(parents=True)
    (site / "www" / "file.txt").write_text("x" * 2048)
    (site / "nginx.conf.in").write_text(nginx_conf(site, f"  server {{ listen 127.0.0.1:PORT; root {site}/www; }}"))
    start = site / "start.sh"
    start.write_text(f'#!/bin/sh\nsed "s/PORT/$1/" {site}/nginx.conf.in > {site}/nginx.conf\n'
                     f"exec {nginx} -p {site} -c {site}/nginx.conf\n")  # fmt: skip
    start.chmod(0o755)
    return f"{start} {{port}}"


@pytest.mark.skipif(NGINX is None, reason="needs nginx (apt-get install nginx)")
def test_a_static_server_faster_than_the_generator_reads_as_generator_limited(tmp_path: Path) -> None:
    """nginx serving a small file outruns a Locust process on these cores: the generator is the
    queue. Before, its plateau read as a blocked event loop in nginx and got Node advice."""
    assert NGINX is not None
    out = tmp_path / "run"
    result = run_cli("run", "http://127.0.0.1:{port}/file.txt", "--launch", nginx_launch(tmp_path, NGINX),
                     "--users", "1,4,16,64", "--duration", "24", "--out", str(out), timeout=240)  # fmt: skip
    assert_no_traceback(result)
    assert result.code == 0, result.output
    report = read_report(out)
    assert report["target"]["server"]["server"] == "nginx"
    limited = [i for i in report["validity"]["issues"] if i["id"] == "generator-limited"]
    assert limited, report["validity"]["issues"]
    found = set(traits(report))
    assert not found & {"event-loop-blocked", "concurrency-capped", "cpu-bound", "io-bound", "retrograde-scaling"}
    cap = report["capacity"]
    assert cap["limited_by"] == "generator" and cap["capacity_is_lower_bound"], cap
    recs = [r["id"] for r in report["recommendations"]]
    assert recs[0] == "measure-with-more-load" and "unblock-event-loop" not in recs, recs
    assert report["code"]["profiled_stages"] == []  # py-spy cannot attach to nginx: no stage set apart
    assert "the load generator was the limit" in result.stdout
    if report["run"]["status"] == "saturated":  # the climb stopped: said to be the generator's plateau
        assert "the load generator, not the target, was the limit" in report["run"]["stop_reason"]
