"""Bytes, disk and caching through the real pipeline: answers that repeat with nothing said about
caching (a waitress app, no headers), a real nginx proxy_cache in front of it saying X-Cache-Status,
and an app whose every request is a synced disk write. Real Locust load (a locustfile asking for
items at random), real waitress, real nginx, the target's /proc/PID/io."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from profiler.base.config import free_port
from tests.conftest import assert_no_traceback, read_report, run_cli
from tests.nginx_conf import NGINX, nginx_conf

pytestmark = pytest.mark.slow
APP = Path(__file__).resolve().parent / "apps" / "servers" / "catalog_waitress.py"

LOCUSTFILE = """
import random
from locust import FastHttpUser, task

class Shopper(FastHttpUser):
    @task
    def item(self):
        self.client.get(f"/item?id={random.randint(1, ITEMS)}", name="/item")
"""


def profile(tmp_path: Path, launch: str, items: int, users: str = "1,2,4") -> dict:
    locustfile = tmp_path / "shop.py"
    locustfile.write_text(LOCUSTFILE.replace("ITEMS", str(items)))
    out = tmp_path / "run"
    result = run_cli("run", "http://127.0.0.1:{port}/item?id=1", "--launch", launch, "--locustfile",
                     str(locustfile), "--users", users, "--duration", "8", "--out", str(out), timeout=240)  # fmt: skip
    assert_no_traceback(result)
    assert result.code == 0, result.output
    report = read_report(out)
    report["_stdout"] = result.stdout
    return report


def traits(report: dict) -> dict[str, dict]:
    return {t["id"]: t for t in report["traits"]}


def advice(report: dict) -> dict[str, dict]:
    return {r["id"]: r for r in report["recommendations"]}


def test_answers_that_repeat_with_no_cache_headers_read_as_cacheable_with_the_fleet_it_saves(tmp_path: Path) -> None:
    report = profile(tmp_path, f"{sys.executable} {APP} --port {{port}}", items=40)
    (route,) = report["routes"]
    payload = route["payload"]
    assert route["route"] == "GET /item"
    assert payload["distinct_requests"] == 40  # the request key tells the 40 items apart
    assert payload["repeat_share"] >= 0.9, payload  # all but each item's first answer repeat
    assert payload["cache_headers_share"] == 0.0 and payload["cache"] is None
    assert 100 <= payload["response_bytes_mean"] <= 140 and payload["request_bytes_mean"] == 0.0
    found = traits(report)["cacheable-responses"]
    assert found["subject"] == "GET /item" and "over 40 distinct requests" in found["evidence"]["summary"]
    rec = advice(report)["add-response-cache"]
    assert rec["evidence"]["hit_ratio"] == 0.9 and rec["evidence"]["instances_of_10"] == 1
    assert rec["evidence"]["capacity_rps_with_cache"] > rec["evidence"]["capacity_rps"]
    assert "keyed on the URL" in rec["action"]
    assert "cacheable-responses" in report["_stdout"] and "Bytes and caching" in report["_stdout"]
    assert "<h2>Bytes and caching</h2>" in (tmp_path / "run" / "report.html").read_text()


NGINX_CACHE = """  proxy_cache_path {site}/cache keys_zone=items:1m max_size=16m;
  upstream app {{ server 127.0.0.1:{app_port}; keepalive 8; }}
  server {{
    listen 127.0.0.1:PORT;
    location / {{
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_cache items;
      proxy_cache_valid 200 1s;
      add_header X-Cache-Status $upstream_cache_status always;
    }}
  }}"""


def cached_launch(tmp_path: Path, nginx: str) -> str:
    """A command that starts the app on a port of its own, waits until it listens, then becomes
    nginx (1 worker) caching its answers for 1 s, on the port the run picks: one process tree."""
    site = tmp_path / "nginx"
    site.mkdir()
    app_port = free_port()
    (site / "nginx.conf.in").write_text(nginx_conf(site, NGINX_CACHE.format(site=site, app_port=app_port), workers=1))
    wait = (f"import socket,time\nfor _ in range(100):\n    try: socket.create_connection(('127.0.0.1',{app_port}),1)"
            "; break\n    except OSError: time.sleep(0.1)\n")  # fmt: skip
    (site / "wait.py").write_text(wait)
    start = site / "start.sh"
    start.write_text(f'#!/bin/sh\nsed "s/PORT/$1/" {site}/nginx.conf.in > {site}/nginx.conf\n'
                     f"{sys.executable} {APP} --port {app_port} &\n{sys.executable} {site}/wait.py\n"
                     f"exec {nginx} -p {site} -c {site}/nginx.conf\n")  # fmt: skip
    start.chmod(0o755)
    return f"{start} {{port}}"


@pytest.mark.skipif(NGINX is None, reason="needs nginx (apt-get install nginx)")
def test_a_real_nginx_cache_that_mostly_misses_reads_as_a_low_hit_ratio_with_hits_and_misses_timed(
    tmp_path: Path,
) -> None:
    """3,000 items kept 1 s each: an item is rarely asked twice within its second, so nginx misses
    most; a miss is the app's ~3 ms of CPU, a hit nginx's own answer."""
    assert NGINX is not None
    report = profile(tmp_path, cached_launch(tmp_path, NGINX), items=3000)
    assert report["target"]["server"]["server"] == "nginx"
    cache = report["routes"][0]["payload"]["cache"]
    assert cache is not None and cache["reported"] >= 100, report["routes"][0]["payload"]
    assert set(cache["verdicts"]) <= {"hit", "miss", "stale", "bypass", "other"} and cache["verdicts"].get("miss")
    assert cache["hit_ratio"] < 0.5 and cache["verdicts"].get("hit"), cache  # a few repeats land within 1 s
    assert cache["miss_p50_ms"] > cache["hit_p50_ms"], cache
    found = traits(report)
    assert "cacheable-responses" not in found  # a cache already answers: its ratio is the news
    low = found["low-cache-hit-ratio"]
    assert low["subject"] == "GET /item"
    rec = advice(report)["raise-cache-hit-ratio"]
    assert rec["evidence"]["instances_of_10_then"] < rec["evidence"]["instances_of_10_now"]


def test_a_disk_write_per_request_is_a_figure_of_each_stage(tmp_path: Path) -> None:
    """Each request appends 64 KB and fsyncs it: the target tree's write calls and its disk writes
    per answered request (/proc/PID/io, summed over the tree) say so, stage by stage."""
    ledger = APP.with_name("ledger_waitress.py")
    out = tmp_path / "run"
    result = run_cli("run", "http://127.0.0.1:{port}/", "--launch", f"{sys.executable} {ledger} --port {{port}}",
                     "--users", "1,2", "--duration", "6", "--no-pyspy", "--out", str(out), timeout=240)  # fmt: skip
    assert_no_traceback(result)
    assert result.code == 0, result.output
    report = read_report(out)
    stages = [s for s in report["load"]["stages"] if s["requests"] >= 20]
    assert stages, report["load"]["stages"]
    for s in stages:
        # write calls: the 64 KB record and the small answer, within the sampler's one-interval grain
        assert 50_000 <= s["io_write_per_request"] <= 120_000, s
        assert s["disk_write_per_request"] >= 32_000, s  # fsync: the block layer saw most of it
    payload = report["routes"][0]["payload"]
    assert payload["response_bytes_mean"] == 12 and payload["repeat_share"] > 0.9
    assert "disk write" in result.stdout  # the terminal's I/O line
