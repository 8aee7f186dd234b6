"""What cannot get better by waiting is said at once, in its own words: a host that does not
resolve, https:// to a plain-HTTP server, a server that is not HTTP, a --pid that does not own
the URL's port. Real servers on 127.0.0.1, the real CLI; each must fail well inside the
--ready-timeout it was given."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from profiler.base.config import free_port
from tests.conftest import BASIC_APP, CliResult, assert_no_traceback, run_cli

READY_TIMEOUT = "60"  # the errors below must come long before this


def one_line(result: CliResult) -> str:
    assert_no_traceback(result)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def timed_cli(*args: str) -> tuple[CliResult, float]:
    t0 = time.monotonic()
    result = run_cli(*args, "--ready-timeout", READY_TIMEOUT)
    return result, time.monotonic() - t0


@pytest.fixture
def not_http_server() -> Iterator[int]:
    """A TCP server that greets like SSH, as a non-HTTP service on a mistyped port would."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")
            time.sleep(0.05)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(timeout=2)
    server.close()


def test_host_that_does_not_resolve_fails_at_once(tmp_path: Path) -> None:
    result, took = timed_cli("run", "http://no-such-host.invalid/x", "--allow-remote", "--pid", "1",
                             "--out", str(tmp_path / "r"))  # fmt: skip
    line = one_line(result)
    assert result.code == 2 and "does not resolve" in line, line
    assert took < 20


def test_https_to_a_plain_http_server_fails_at_once(tmp_path: Path, started_app) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    app = started_app(BASIC_APP, port)
    _wait_listening(port)
    result, took = timed_cli("run", f"https://127.0.0.1:{port}/fast", "--pid", str(app.pid),
                             "--out", str(tmp_path / "r"))  # fmt: skip
    line = one_line(result)
    assert result.code == 2 and "does not speak TLS" in line and "http://" in line, line
    assert took < 20


def test_a_server_that_is_not_http_fails_at_once(tmp_path: Path, not_http_server: int) -> None:
    result, took = timed_cli("run", f"http://127.0.0.1:{not_http_server}/", "--pid", "1",
                             "--out", str(tmp_path / "r"))  # fmt: skip
    line = one_line(result)
    assert result.code == 2 and "not in HTTP" in line and "SSH-2.0" in line, line
    assert took < 20


def test_pid_that_does_not_own_the_port_is_refused(tmp_path: Path, started_app) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    started_app(BASIC_APP, port)
    _wait_listening(port)
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        result, took = timed_cli("run", f"http://127.0.0.1:{port}/fast", "--pid", str(sleeper.pid),
                                 "--out", str(tmp_path / "r"))  # fmt: skip
    finally:
        sleeper.kill()
        sleeper.wait()
    line = one_line(result)
    assert result.code == 3, line
    assert f"process {sleeper.pid} (sleep) does not serve" in line and "listens on no TCP port" in line, line
    assert f"port {port} belongs to pid" in line, line
    assert took < 20


def _wait_listening(port: int, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"nothing listens on {port}")
