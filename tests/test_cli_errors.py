"""Every error a user can cause: one readable line on stderr, non-zero exit, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from profiler.config import free_port
from tests.conftest import BASIC_APP, assert_no_traceback, launch_args, run_cli


def _one_line(result) -> str:  # type: ignore[no-untyped-def]
    assert_no_traceback(result)
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["run", "not-a-url", "--pid", "1"], 2, "not an http(s) URL"),
        (["run", "http://127.0.0.1:8000/", "--pid", "1", "--launch", "x"], 2, "exactly one of --launch or --pid"),
        (["run", "http://127.0.0.1:8000/"], 2, "exactly one of --launch or --pid"),
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
    assert "did not answer" in line and str(port) in line


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
