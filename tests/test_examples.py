"""Smoke tests: every example app starts, answers /predict once, and stops cleanly.

Each app runs as a real subprocess on a free 127.0.0.1 port, exactly as the
profiler launches it (`python examples/NAME.py --port N`).
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"

APPS = [
    "cpu_bound",
    "io_bound",
    "blocked_loop",
    "concurrency_capped",
    "memory_leak",
    "sessions",
    "streaming",
    "cold_start",
    "tail_heavy",
    "errors_under_load",
    "retrograde",
    "demo_app",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_up(base: str, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    # Any HTTP answer (the probe path is a 404) means the server is serving.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"app exited early: {proc.communicate()[1]!r}"
        try:
            urllib.request.urlopen(f"{base}/__profiler_probe__", timeout=1).close()
            return
        except urllib.error.HTTPError as err:
            err.close()
            return
        except OSError:
            time.sleep(0.05)
    pytest.fail("app did not start listening in time")


def run_once(argv: list[str], cwd: Path) -> tuple[int, dict[str, str], bytes, float]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, *argv, "--port", str(port)],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(base, proc)
        started = time.monotonic()
        with urllib.request.urlopen(f"{base}/predict", timeout=10) as resp:
            body = resp.read()  # the whole body: matters for the streaming app
            status, headers = (
                resp.status,
                {k.lower(): v for k, v in resp.headers.items()},
            )
        elapsed = time.monotonic() - started
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            _, stderr = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            pytest.fail("app did not stop within 10 s of SIGTERM")
    # uvicorn shuts down gracefully, then re-raises the signal so the exit
    # status says what stopped it: -SIGTERM (or 0) is a clean stop.
    assert proc.returncode in (0, -signal.SIGTERM), stderr.decode()
    assert b"Traceback" not in stderr, stderr.decode()
    return status, headers, body, elapsed


@pytest.mark.parametrize("name", APPS)
def test_example_serves_predict(name: str, tmp_path: Path) -> None:
    # Run from an unrelated directory: the example must find the package itself.
    status, headers, body, elapsed = run_once([str(EXAMPLES / f"{name}.py")], tmp_path)
    assert status == 200
    assert "total;dur=" in headers["server-timing"]
    if name == "streaming":
        assert headers["content-type"].startswith("text/event-stream")
        assert body.count(b"data: ") == 10
        assert elapsed >= 0.15  # 9 gaps of 20 ms
    elif name == "sessions":
        assert headers["set-cookie"].startswith("session=")
        assert b'"visits":1' in body
    elif name == "cold_start":
        assert elapsed >= 1.0  # the first request pays the model load
        assert "load_model;dur=" in headers["server-timing"]
    elif name == "demo_app":
        for phase in ("features", "model", "serialize"):
            assert f"{phase};dur=" in headers["server-timing"]
        assert body.startswith(b"{")


def test_demo_app_runs_as_package_module() -> None:
    # `profiler demo` runs `python -m profiler.demo_app --port N`.
    status, headers, body, _ = run_once(["-m", "profiler.demo_app"], REPO)
    assert status == 200
    assert "model;dur=" in headers["server-timing"]
    assert b'"scores"' in body
