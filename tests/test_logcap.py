"""Capped child logs (profiler/base/logcap.py): real subprocesses that print a lot, and one real run
against a target that prints 100 KB per request."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from profiler.base.logcap import HEAD_BYTES, MIB, TAIL_BYTES, CappedLog
from profiler.run.target import launch

from .conftest import APPS, launch_args, run_cli

KIB = 1024
# Writes argv[1] bytes of numbered lines (each 64 bytes), then "the end".
PRINTER = """
import sys
total = int(sys.argv[1])
line = 0
while total > 0:
    text = f"{line:08d} " + "x" * 54 + "\\n"
    sys.stdout.write(text[:total])
    total -= len(text)
    line += 1
sys.stdout.write("the end\\n")
sys.stdout.flush()
"""


def _printer(nbytes: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", PRINTER, str(nbytes)], stdout=subprocess.PIPE)


def _expected(nbytes: int) -> bytes:
    proc = subprocess.run([sys.executable, "-c", PRINTER, str(nbytes)], capture_output=True, check=True)
    return proc.stdout


def _capture(tmp_path: Path, nbytes: int, head: int, tail: int) -> tuple[CappedLog, bytes]:
    proc = _printer(nbytes)
    log = CappedLog.follow(tmp_path / "child.log", proc.stdout, head_bytes=head, tail_bytes=tail)
    assert proc.wait(timeout=30) == 0
    log.close(timeout_s=10)
    return log, (tmp_path / "child.log").read_bytes()


def test_small_output_is_kept_whole(tmp_path: Path) -> None:
    log, data = _capture(tmp_path, 10 * KIB, head=64 * KIB, tail=16 * KIB)
    assert data == _expected(10 * KIB)
    assert log.dropped == 0
    assert log.recent().endswith("the end\n")


def test_output_between_head_and_cap_is_kept_whole(tmp_path: Path) -> None:
    # Past the head, but the tail covers the rest: nothing is dropped, no note.
    log, data = _capture(tmp_path, 70 * KIB, head=64 * KIB, tail=16 * KIB)
    assert data == _expected(70 * KIB)
    assert b"[profiler:" not in data


def test_large_output_keeps_head_and_tail_and_ends_with_the_note(tmp_path: Path) -> None:
    head, tail, total = 64 * KIB, 16 * KIB, 3 * MIB
    log, data = _capture(tmp_path, total, head=head, tail=tail)
    full = _expected(total)
    dropped = len(full) - head - tail
    assert log.dropped == dropped
    assert data.startswith(full[:head])
    note = f"\n[profiler: {dropped} bytes of output dropped, the log is capped at {(head + tail) / MIB:g} MiB]\n"
    assert data.endswith(full[-tail:] + note.encode())
    marker = f"\n[profiler: {dropped} bytes cut here; the last {tail} follow]\n".encode()
    assert data == full[:head] + marker + full[-tail:] + note.encode()
    assert log.recent().endswith("the end\n")


def test_a_chatty_child_never_blocks(tmp_path: Path) -> None:
    # 32 MiB through a 64 KiB pipe: the child only finishes if the pump keeps draining it.
    script = "import sys\nfor _ in range(512): sys.stdout.buffer.write(b'z' * 65535 + b'\\n')\nprint('the end')"
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    log = CappedLog.follow(tmp_path / "child.log", proc.stdout)
    assert proc.wait(timeout=20) == 0
    log.close(timeout_s=10)
    assert log.received == 32 * MIB + len("the end\n")
    assert (tmp_path / "child.log").stat().st_size < HEAD_BYTES + TAIL_BYTES + 200
    assert log.recent().endswith("z\nthe end\n")


def test_close_gives_up_on_a_process_that_keeps_the_pipe(tmp_path: Path) -> None:
    # The child leaves a grandchild in a new session holding stdout: EOF never comes.
    script = (
        "import subprocess, sys; "
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'], start_new_session=True); "
        "print(p.pid, flush=True); print('x' * 300_000, flush=True)"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    log = CappedLog.follow(tmp_path / "child.log", proc.stdout, head_bytes=1000, tail_bytes=1000)
    try:
        assert proc.wait(timeout=10) == 0
        started = time.monotonic()
        log.close(timeout_s=0.5)
        assert time.monotonic() - started < 3
    finally:
        data = (tmp_path / "child.log").read_bytes()
        os.kill(int(data.split(b"\n", 1)[0]), signal.SIGKILL)
    assert data.endswith(f"bytes of output dropped, the log is capped at {2000 / MIB:g} MiB]\n".encode())


def test_launched_target_tail_reads_the_last_output(tmp_path: Path) -> None:
    """Target.tail() for error messages: the last lines of a target that just exited, even when
    its log is capped."""
    command = f"{sys.executable} -c \"print('y' * 6_000_000); print('fatal: no model at /x'); raise SystemExit(3)\""
    target = launch(command, tmp_path / "target.log")
    try:
        assert target.proc is not None and target.proc.wait(timeout=30) == 3
        assert target.tail().endswith("fatal: no model at /x")
    finally:
        target.stop()
    data = (tmp_path / "target.log").read_bytes()
    assert len(data) < HEAD_BYTES + TAIL_BYTES + 200
    assert data.rstrip().endswith(b"MiB]")
    assert b"fatal: no model at /x" in data


@pytest.mark.slow
def test_chatty_target_log_is_capped(tmp_path: Path) -> None:
    """A real run against a target printing 100 KB per request (about 20 MB in all)."""
    out = tmp_path / "run"
    result = run_cli(
        "run",
        *launch_args(APPS / "faulty.py", "/", "--mode", "print"),
        "--rate",
        "50",
        "--duration",
        "4",
        "--no-pyspy",
        "--quiet",
        "--out",
        str(out),
    )
    assert result.code == 0, result.output
    data = (out / "target.log").read_bytes()
    assert len(data) <= HEAD_BYTES + TAIL_BYTES + 200
    assert data.endswith(
        f"bytes of output dropped, the log is capped at {(HEAD_BYTES + TAIL_BYTES) // MIB} MiB]\n".encode()
    )
    assert (out / "loadgen.log").stat().st_size < HEAD_BYTES + TAIL_BYTES + 200
