"""Every error a user can cause: one readable line on stderr, non-zero exit, no traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from profiler.base.config import free_port
from tests.conftest import BASIC_APP, assert_no_traceback, launch_args, run_cli


def _one_line(result) -> str:  # type: ignore[no-untyped-def]
    assert_no_traceback(result)
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["run", "not-a-url", "--pid", "1"], 2, "not an http(s) or ws(s) URL"),
        # A WebSocket run's options (docs/connections.md)
        (["run", "ws://127.0.0.1:8000/", "--pid", "1", "--connections", "0"], 2, "--connections '0'"),
        (
            ["run", "ws://127.0.0.1:8000/", "--pid", "1", "--message", "@/nonexistent/m.txt"],
            2,
            "cannot read message file",
        ),
        (["run", "ws://127.0.0.1:8000/", "--pid", "1", "--message", ""], 2, "--message is empty"),
        (["run", "ws://127.0.0.1:8000/", "--pid", "1", "--users", "4"], 2, "--users does not apply to a ws:// URL"),
        (["run", "ws://127.0.0.1:8000/", "--pid", "1", "--message-rate", "fast"], 2, "--message-rate 'fast'"),
        (["run", "ws://127.0.0.1:8000/", "--pid", "1", "--connect-rate", "0"], 2, "--connect-rate '0'"),
        (["run", "ws://127.0.0.1:8000/", "--pid", "1", "--shape", "5s:10/s"], 2, "connections held, not arrival"),
        (["run", "http://127.0.0.1:8000/", "--pid", "1", "--connections", "5"], 2, "applies to a ws:// or wss://"),
        (["run", "http://127.0.0.1:8000/", "--pid", "1", "--launch", "x"], 2, "one of --launch or --pid, not both"),
        (["run", "http://127.0.0.1:8000/", "--metrics-url", "ftp://127.0.0.1/m"], 2, "--metrics-url 'ftp://"),
        (["run", "http://192.0.2.10:8000/", "--pid", "1"], 2, "not a loopback address"),
        (["run", "http://127.0.0.1:8000/", "--pid", "1", "--header", "nocolon"], 2, "is not 'Name: value'"),
        (
            ["run", "http://127.0.0.1:8000/", "--pid", "1", "--body", "@/nonexistent/body.json"],
            2,
            "cannot read body file",
        ),
        (["run", "http://127.0.0.1:8000/", "--pid", "1", "--slo", "fast"], 2, "SLO 'fast'"),
        (["run", "http://127.0.0.1:8000/", "--pid", "1", "--users", "0,2"], 2, "--users"),
        (["run", "http://127.0.0.1:8000/", "--pid", "999999999"], 3, "no process with pid"),
        (["run", "http://127.0.0.1:{port}/", "--launch", "no-such-binary-xyz --port {port}"], 2, "was not found"),
        (["analyze", "/nonexistent/run"], 2, "is not a folder"),
        (["run", "http://[::1:8000/x", "--pid", "1"], 2, "is not a valid URL"),
        (["run", "http://127.0.0.1:8000/", "--pid", "1", "--probe-path", "health"], 2, "does not start with '/'"),
        (["run", "http://127.0.0.1:{port}/", "--launch", "python3 -V", "--cwd", "/etc/hostname"], 2, "is not a folder"),
        # Click's own usage errors: one line too, never the multi-line Rich box.
        (["run", "http://127.0.0.1:8000/", "--pid", "abc"], 2, "Invalid value for '--pid'"),
        (["run"], 2, "Missing argument 'url'"),
        (["run", "http://127.0.0.1:8000/", "--pid", "1", "--no-such-option"], 2, "No such option"),
        (["no-such-command"], 2, "No such command"),
        (["run", "http://127.0.0.1:8000/", "--pid", "1", "--duration", "2x"], 2, "--duration '2x'"),
        (["run", "http://127.0.0.1:8000/", "--pid", "1", "--timeout", "1s1m"], 2, "out of order"),
        (["gate", "/nonexistent/run", "--check", "p95<1s"], 2, "is not a folder"),
        (["compare", "/nonexistent/a", "/nonexistent/b"], 2, "/nonexistent/a"),
        (["analyze", "/nonexistent/run", "--out", "/tmp/x.json"], 2, "is not a folder"),
        (["plan", "/nonexistent/run"], 2, "is not a folder"),
        (["plan", "/nonexistent/run", "--price", "cheap"], 2, "--price 'cheap' is not a price"),
    ],
)
def test_bad_input_gives_one_line(args: list[str], code: int, needle: str, tmp_path: Path) -> None:
    result = run_cli(*args, "--out", str(tmp_path / "r")) if args[0] == "run" else run_cli(*args)
    line = _one_line(result)
    assert result.code == code, result.output
    assert needle in line
    assert "Fix:" in line


def test_unreachable_port_when_attaching(tmp_path: Path) -> None:
    import os

    port = free_port()  # nothing listens there
    result = run_cli(
        "run",
        f"http://127.0.0.1:{port}/",
        "--pid",
        str(os.getpid()),
        "--ready-timeout",
        "1",
        "--out",
        str(tmp_path / "r"),
    )
    line = _one_line(result)
    assert result.code == 3
    assert "not ready within" in line and "connection refused" in line and str(port) in line


def test_out_folder_holding_a_run_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "r"
    out.mkdir()
    (out / "meta.json").write_text("{}")
    result = run_cli("run", *launch_args(BASIC_APP, "/fast"), "--out", str(out))
    line = _one_line(result)
    assert result.code == 2 and "already holds a run" in line


def test_analyze_folder_without_run(tmp_path: Path) -> None:
    result = run_cli("analyze", str(tmp_path))
    assert "holds no run" in _one_line(result)


def test_every_run_option_reaches_the_saved_config(tmp_path: Path) -> None:
    # meta.json is written before the target is looked for, so a missing pid still leaves the
    # config on disk: every option must arrive there, under its own name.
    body = tmp_path / "body.json"
    body.write_text('{"x": 1}')
    out = tmp_path / "r"
    result = run_cli(
        "run",
        "http://127.0.0.1:8000/predict",
        "--pid",
        "999999999",
        "--out",
        str(out),
        "--ready-timeout",
        "7",
        "--duration",
        "12",
        "--users",
        "1,3,9",
        "--method",
        "post",
        "--header",
        "X-A: 1",
        "--header",
        "Authorization: Bearer secret",
        "--body",
        f"@{body}",
        "--timeout",
        "4",
        "--interval",
        "0.2",
        "--probe-path",
        "/health",
        "--no-early-stop",
        "--max-requests",
        "5000",
        "--slo",
        "p99=250ms",
        "--peak-rps",
        "300",
        "--headroom",
        "0.5",
        "--pyspy-rate",
        "50",
        "--pyspy-seconds",
        "7",
        "--pyspy-gil",
        "--memory-limit",
        "512",
        "--no-gpu",
    )
    assert result.code == 3
    import json

    config = json.loads((out / "meta.json").read_text())["config"]
    expected = {
        "ready_timeout_s": 7.0,
        "duration_s": 12.0,
        "users": [1, 3, 9],
        "method": "POST",
        "headers": ["X-A: 1", "Authorization: ***"],
        "body": "<8 bytes>",
        "request_timeout_s": 4.0,
        "sample_interval_s": 0.2,
        "probe_path": "/health",
        "early_stop": False,
        "max_requests": 5000,
        "slo": {"percentile": 99.0, "threshold_ms": 250.0},  # schema 2: numbers, not a label
        "peak_rps": 300.0,
        "headroom": 0.5,
        "pyspy": True,
        "pyspy_rate": 50,
        "pyspy_seconds": 7.0,
        "pyspy_gil": True,
        "memory_limit_mb": 512.0,
        "gpu": False,
    }
    assert {k: config[k] for k in expected} == expected


def test_unwritable_out_folder_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = run_cli("run", "http://127.0.0.1:8000/", "--pid", "1", "--out", str(blocker / "run"))
    line = _one_line(result)
    assert result.code == 2 and "cannot write the run folder" in line


def test_launch_script_without_shebang_is_one_line(tmp_path: Path) -> None:
    script = tmp_path / "start.sh"
    script.write_text("echo hi\n")
    script.chmod(0o755)
    result = run_cli("run", "http://127.0.0.1:{port}/", "--launch", str(script), "--out", str(tmp_path / "r"))
    line = _one_line(result)
    assert result.code == 2 and "cannot start the target" in line


@pytest.mark.parametrize("meta", ["[]", "{not json", "\xff\xfe"])
def test_analyze_damaged_folder_is_one_line(tmp_path: Path, meta: str) -> None:
    (tmp_path / "meta.json").write_text(meta, errors="surrogateescape")
    result = run_cli("analyze", str(tmp_path))
    line = _one_line(result)
    assert result.code == 2 and "meta.json" in line


def test_secrets_never_reach_the_run_folder(tmp_path: Path) -> None:
    out = tmp_path / "r"
    body = tmp_path / "body.json"
    body.write_text('{"card": "4111-SECRET-BODY"}')
    result = run_cli(
        "run",
        *launch_args(BASIC_APP, "/timing"),
        "-X",
        "POST",
        "-H",
        "Authorization: Bearer SECRET-TOKEN",
        "--body",
        f"@{body}",
        "--users",
        "1",
        "--duration",
        "2",
        "--out",
        str(out),
        "--quiet",
        "--no-pyspy",
    )
    assert result.code == 0, result.output
    for f in out.rglob("*"):
        if f.is_file():
            text = f.read_bytes()
            assert b"SECRET-TOKEN" not in text and b"SECRET-BODY" not in text, f
    assert json.loads((out / "loadgen-spec.json").read_text())["headers"]["Authorization"] == "***"
