"""WebSocket connections held by the thousand, through the real CLI against real servers: the
`websockets` library's asyncio server (state kept per session), its threading server (two threads a connection),
a Starlette route under uvicorn, and Node's `ws` (docs/connections.md).

What each server really does is what the figures are checked against: the asyncio server keeps
64 KiB per session, so about that much memory per connection; the threaded one starts a thread per
connection; every connection is a file descriptor; a server that closes connections drops them."""

from __future__ import annotations

import csv
import json
import shutil
import sys
from pathlib import Path

import pytest

from profiler.report.html_data import charts
from profiler.report.saved import load_report
from profiler.runfolder.read import read_run
from tests.conftest import CliResult, assert_no_traceback, read_report, run_cli
from tests.test_html_report import _open as open_html

pytestmark = pytest.mark.slow
SERVERS = Path(__file__).resolve().parent / "apps" / "servers"
ASYNCIO = f"{sys.executable} {SERVERS / 'ws_asyncio.py'} {{port}}"
NODE_WS = Path("/usr/share/nodejs/ws")


def ws_run(tmp_path: Path, launch: str, *args: str, url: str = "ws://127.0.0.1:{port}/",
           env: dict[str, str] | None = None, timeout: float = 180, valid: bool = True) -> tuple[dict, CliResult]:  # fmt: skip
    out = tmp_path / "run"
    result = run_cli("run", url, "--launch", launch, "--no-pyspy", "--out", str(out), *args, timeout=timeout, env=env)
    assert_no_traceback(result)
    assert result.code == 0, result.output
    report = read_report(out)
    assert_connections_accounted(out, report)
    assert report["validity"]["valid"] is valid, report["validity"]  # idle connections, no message: still measured
    return report, result


def assert_connections_accounted(out: Path, report: dict) -> None:
    """Every handshake is a row with its outcome; every connection opened has its session row when
    it ended; connections.jsonl's counts agree with the rows; the messages are accounted as requests."""
    rows = list(csv.DictReader((out / "requests.csv").open()))
    shakes = [r for r in rows if r["kind"] == "connect"]
    opened = [r for r in shakes if r["status"] == "101" and not r["error"]]
    sessions = [r for r in rows if r["kind"] == "session"]
    assert len(sessions) == len(opened) > 0
    last = json.loads((out / "connections.jsonl").read_text().splitlines()[-1])
    assert last["held"] == 0 and last["opened"] == len(opened) and last["failed"] == len(shakes) - len(opened)
    assert last["dropped"] + last["closed"] == len(sessions)
    assert report["run"]["requests_missing"] == 0
    assert all(r["method"] == "WS" for r in (*shakes, *sessions))


def traits(report: dict) -> dict[str, dict]:
    return {t["id"]: t for t in report["traits"]}


def advice(report: dict) -> dict[str, dict]:
    return {r["id"]: r for r in report["recommendations"]}


def test_two_thousand_connections_on_an_asyncio_server_cost_the_memory_each_session_keeps(tmp_path: Path) -> None:
    """64 KiB of state per session: the fitted memory per connection is that and the socket's own."""
    report, result = ws_run(tmp_path, f"{ASYNCIO} 64", "--connections", "200,2000", "--connect-rate", "400",
                            "--message", "hello", "--duration", "12s", "--peak-connections", "50000")  # fmt: skip
    c = report["connections"]
    assert c["held_max"] == 2000 and [s["held"] for s in c["stages"]] == [200, 2000], c["stages"]
    top = c["stages"][-1]
    assert top["handshake_failed"] == 0 and top["dropped"] == 0 and top["unanswered"] == 0
    assert top["messages"] > 2000 * 3 and 1500 <= top["sent_per_s"] <= 2200, top  # 1/s per connection
    assert top["round_trip_p95_ms"] is not None and top["connect_p95_ms"] is not None
    assert top["fds"] >= 2000 and top["threads"] <= 4
    assert 60 <= c["memory_kb"]["slope"] <= 110 and c["memory_kb"]["r2"] >= 0.9, c["memory_kb"]
    assert 0.9 <= c["fds"]["slope"] <= 1.1, c["fds"]
    assert c["fd_limit"] and c["fd_limit"] > 2000
    found = traits(report)
    assert {"long-lived-connections", "memory-per-connection"} <= set(found)
    assert "thread-per-connection" not in found and "connection-drops-under-load" not in found
    assert 60 <= found["memory-per-connection"]["evidence"]["values"]["kb_per_connection"] <= 110
    fleet = advice(report)["fleet-by-connections"]
    per = fleet["evidence"]["usable_per_instance"]
    assert fleet["evidence"]["instances"] == -(-50000 // per)  # ceil: the fleet for the peak asked
    assert "balance-on-connections" in advice(report)
    # A fleet in connections, not a capacity in requests a second.
    assert report["capacity"] is None and report["plan"] is None
    assert "Connections: up to 2000 held, 0 dropped: memory" in result.stdout
    md = run_cli("report", str(tmp_path / "run"), "--markdown", str(tmp_path / "r.md"))
    assert md.code == 0, md.output
    assert "**Connections**" in (tmp_path / "r.md").read_text()
    # report.html: connections held over time against the target's memory, and against its fds and limit.
    drawn = {c["id"]: c for c in charts(load_report(tmp_path / "run"), read_run(tmp_path / "run"))}
    memory, fds = drawn["connections-memory"], drawn["connections-fds"]
    held = [v for v in memory["series"][0]["values"] if v is not None]
    assert max(held) == 2000 and memory["series"][1]["axis"] == "right"
    assert [s["label"] for s in fds["series"]] == ["connections held", "open fds", f"fd limit {c['fd_limit']}"]
    assert max(v for v in fds["series"][1]["values"] if v is not None) >= 2000
    page = open_html(tmp_path / "run" / "report.html")
    assert not page["problems"] and page["drawn"]["chart-connections-memory"] > 0, page
    assert page["drawn"]["chart-connections-fds"] > 0


def test_a_threaded_server_shows_its_threads_per_connection(tmp_path: Path) -> None:
    report, _ = ws_run(tmp_path, f"{sys.executable} {SERVERS / 'ws_threaded.py'} {{port}}", "--connections",
                       "20,200", "--message", "hi", "--duration", "8s")  # fmt: skip
    c = report["connections"]
    assert c["held_max"] == 200
    # websockets' threading server runs each connection's handler on a thread of its own and reads
    # its frames on a second one (sync.connection's recv_events thread): two threads a connection.
    assert 1.8 <= c["threads"]["slope"] <= 2.2 and c["threads"]["r2"] >= 0.9, c["threads"]
    assert c["stages"][-1]["threads"] >= 400
    found = traits(report)
    assert "thread-per-connection" in found
    loop = advice(report)["event-loop-for-connections"]
    assert "asyncio" in loop["action"]


def test_a_starlette_route_under_uvicorn_is_loaded_and_its_http_route_refused(tmp_path: Path) -> None:
    launch = f"{sys.executable} -m uvicorn --app-dir {SERVERS} ws_starlette:app --port {{port}}"
    report, _ = ws_run(tmp_path, launch, "--connections", "10,300", "--message", "ping me", "--duration", "8s",
                       url="ws://127.0.0.1:{port}/ws")  # fmt: skip
    c = report["connections"]
    assert c["held_max"] == 300 and c["stages"][-1]["round_trip_p50_ms"] is not None
    assert c["fds"]["slope"] >= 0.8 and c["stages"][-1]["threads"] < 50
    # The same server's plain HTTP route: its handshake is refused, said in one line before any load.
    bad = run_cli("run", "ws://127.0.0.1:{port}/", "--launch", launch, "--connections", "5", "--duration", "2s",
                  "--no-pyspy", "--out", str(tmp_path / "bad"))  # fmt: skip
    assert bad.code == 2 and "answered the WebSocket handshake with HTTP 403" in bad.stderr
    assert bad.stderr.count("\n") == 1 and "Traceback" not in bad.output
    tls = run_cli("run", "wss://127.0.0.1:{port}/ws", "--launch", launch, "--connections", "5", "--duration", "2s",
                  "--no-pyspy", "--out", str(tmp_path / "tls"))  # fmt: skip
    assert tls.code == 2 and "does not speak TLS" in tls.stderr


@pytest.mark.skipif(shutil.which("node") is None or not NODE_WS.exists(), reason="needs Debian's nodejs and node-ws")
def test_node_ws_holds_connections_and_gets_no_python_advice(tmp_path: Path) -> None:
    launch = f"node {SERVERS / 'ws_node.js'} {{port}}"
    report, _ = ws_run(tmp_path, launch, "--connections", "50,1000", "--connect-rate", "400", "--duration", "8s",
                       env={"NODE_PATH": "/usr/share/nodejs"})  # fmt: skip
    c = report["connections"]
    assert c["held_max"] == 1000 and c["stages"][-1]["round_trip_p95_ms"] is not None  # pings, answered by pongs
    assert 0.9 <= c["fds"]["slope"] <= 1.1
    assert report["target"]["server"]["language"] == "other"
    assert "thread-per-connection" not in traits(report)
    assert not any("asyncio" in r["action"] or "uvicorn" in r["action"] for r in report["recommendations"])


def test_a_server_that_closes_connections_has_them_dropped_with_its_close_code(tmp_path: Path) -> None:
    """Each connection asks the server to close it (the message `close`: 1011 from the server):
    every session ends dropped with that code, the users reconnect, and the trait names it."""
    report, _ = ws_run(tmp_path, ASYNCIO, "--connections", "5,50", "--message", "close", "--message-rate", "2",
                       "--duration", "8s", valid=False)  # fmt: skip
    assert "all-failed" in {i["id"] for i in report["validity"]["issues"]}  # no message was ever answered
    c = report["connections"]
    assert c["dropped"] > 50
    top = c["stages"][-1]
    assert set(top["close_codes"]) == {"1011"} and top["dropped"] > 50
    found = traits(report)["connection-drops-under-load"]
    assert found["evidence"]["values"]["close_codes"].startswith("1011 x")


def test_the_chat_example_pushes_to_idle_connections_and_they_are_counted(tmp_path: Path) -> None:
    """examples/chat_ws.py broadcasts a tick every 0.5 s; connections held idle (--message-rate 0)
    receive about 2 pushes a second each, and send nothing."""
    launch = f"{sys.executable} {SERVERS.parents[2] / 'examples' / 'chat_ws.py'} --port {{port}} --push-every 0.5"
    report, _ = ws_run(tmp_path, launch, "--connections", "20,100", "--message-rate", "0", "--duration", "8s",
                       url="ws://127.0.0.1:{port}/ws")  # fmt: skip
    top = report["connections"]["stages"][-1]
    assert top["held"] == 100 and top["messages"] == 0 and top["sent_per_s"] == 0
    assert 150 <= top["pushed_per_s"] <= 210, top  # 100 connections x 2 a second
    assert 32 <= report["connections"]["memory_kb"]["slope"] <= 120  # its 32 KiB a session and more
