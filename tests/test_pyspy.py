from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from profiler.analysis.attribution import code
from profiler.analysis.attribution.code import summarize_profile
from profiler.analysis.attribution.stacks import CodeProfile, Frame, parse_collapsed, parse_frame, short_location
from profiler.base.errors import PySpyUnavailable
from profiler.report.speedscope import SPEEDSCOPE_SCHEMA, collapsed_to_speedscope
from profiler.sampling import pyspy
from profiler.sampling.pyspy import (
    PERMISSION_FIX,
    PySpyRecording,
    classify_failure,
    find_pyspy,
    read_source_line,
)

StartTarget = Callable[[str], int]  # runs a script, returns its pid once it says "ready"
STDLIB = "/usr/lib/python3.11"
LOOP = (
    f"<module> (/srv/app/main.py:40);run ({STDLIB}/asyncio/runners.py:190);"
    f"Runner.run ({STDLIB}/asyncio/runners.py:118);"
    f"BaseEventLoop.run_until_complete ({STDLIB}/asyncio/base_events.py:640);"
    f"BaseEventLoop.run_forever ({STDLIB}/asyncio/base_events.py:607);"
    f"BaseEventLoop._run_once ({STDLIB}/asyncio/base_events.py:1922)"
)
LOOP_IDLE = f"{LOOP};EpollSelector.select ({STDLIB}/selectors.py:468)"
HANDLER = f"{LOOP};Handle._run ({STDLIB}/asyncio/events.py:80);handler (/srv/app/main.py:12)"


# -- pure parsing ------------------------------------------------------------------------


def test_parse_frame_shapes() -> None:
    assert parse_frame("hot (/srv/app/x.py:7)") == Frame("hot", "/srv/app/x.py", 7)
    assert parse_frame("Runner.run (asyncio/runners.py:118)") == Frame("Runner.run", "asyncio/runners.py", 118)
    assert parse_frame("f (app.py)") == Frame("f", "app.py", None)  # --nolineno
    native = parse_frame("0x7f9a7c44524a (/usr/lib/x86_64-linux-gnu/libc.so.6)")
    assert native is not None and native.name == "0x7f9a7c44524a"
    assert parse_frame('process 12:"python app.py"') is None
    assert parse_frame("thread (2843): MainThread") is None
    assert parse_frame("thread (0x7f12ab)") is None


def test_short_location() -> None:
    assert short_location(f"{STDLIB}/asyncio/base_events.py") == "asyncio/base_events.py"
    assert short_location("/v/lib/python3.12/site-packages/fastapi/routing.py") == ("fastapi/routing.py")
    assert short_location("/srv/app/main.py") == "main.py"
    assert short_location("/srv/app/pkg/__init__.py") == "pkg/__init__.py"
    assert short_location("asyncio/runners.py") == "asyncio/runners.py"
    assert short_location("<frozen runpy>") == "<frozen runpy>"


def test_parse_collapsed_skips_malformed_and_merges() -> None:
    text = "\r\n".join(
        [
            'process 7:"python -c a;b";thread (7): MainThread;main (/a/x.py:1);hot (/a/x.py:3) 5',
            "main (/a/x.py:1);hot (/a/x.py:3) 2",
            "main (/a/x.py:1);hot (/a/x.py:3) 1",
            "no count here",
            "main (/a/x.py:1) notanumber",
            " 12",
            "main (/a/x.py:1) 0",
            "",
            "main (/a/x.py:1);cold (/a/x.py:9) 4",
        ]
    )
    profile = parse_collapsed(text)
    assert profile.total_samples == 12
    assert profile.skipped_lines == 4
    first_frames, first_count = profile.stacks[0]
    assert first_frames[0] == 'process 7:"python -c a;b"'  # ';' inside the quotes kept
    assert first_frames[1] == "thread (7): MainThread"
    assert first_count == 5
    assert profile.stacks[1] == (("main (/a/x.py:1)", "hot (/a/x.py:3)"), 3)


def test_parse_collapsed_empty() -> None:
    assert parse_collapsed("") == CodeProfile(0, (), 0)
    summary = summarize_profile(parse_collapsed("garbage\n"))
    assert summary.total_samples == 0
    assert summary.blocking_on_loop is None


def test_summary_self_and_total_shares() -> None:
    text = "\n".join(
        [
            "main (/a/x.py:1);work (/a/x.py:5);hot (/a/x.py:9) 6",
            "main (/a/x.py:1);work (/a/x.py:6);hot (/a/x.py:10) 2",  # other line, same fn
            "main (/a/x.py:1);work (/a/x.py:7) 1",
            "main (/a/x.py:1);rec (/a/x.py:20);rec (/a/x.py:21) 1",  # recursion counted once
        ]
    )
    summary = summarize_profile(parse_collapsed(text), top=2)
    assert summary.total_samples == 10
    assert [(f.function, f.samples) for f in summary.top_self] == [
        ("hot (x.py)", 8),
        ("rec (x.py)", 1),
    ]
    assert summary.top_self[0].share == pytest.approx(0.8)
    assert [(f.function, f.samples) for f in summary.top_total] == [
        ("main (x.py)", 10),
        ("work (x.py)", 9),
    ]
    full = summarize_profile(parse_collapsed(text))
    assert dict((f.function, f.samples) for f in full.top_total)["rec (x.py)"] == 1
    assert full.idle_share == 0.0
    assert full.loop_share == 0.0
    assert full.blocking_on_loop is None  # no event loop seen: no claim either way


def test_idle_loop_is_waiting_but_not_blocking() -> None:
    text = "\n".join(
        [
            f"{LOOP_IDLE} 70",
            f"{HANDLER} 30",  # CPU in a handler: busy, not a blocking call
            "_bootstrap (/x/threading.py:1);_worker (/x/concurrent/futures/thread.py:81) 50",
        ]
    )
    summary = summarize_profile(parse_collapsed(text))
    assert summary.idle_share == pytest.approx(120 / 150)
    assert summary.loop_share == pytest.approx(100 / 150)
    assert summary.blocking_on_loop == 0.0
    assert summary.blocking_sites == ()


def test_blocking_socket_read_on_loop() -> None:
    read = (
        f"{HANDLER};get (/v/lib/python3.11/site-packages/requests/api.py:73);"
        f"HTTPResponse.begin ({STDLIB}/http/client.py:286);"
        f"SocketIO.readinto ({STDLIB}/socket.py:706)"
    )
    text = f"{read} 60\n{LOOP_IDLE} 20\n{HANDLER} 20\n"
    summary = summarize_profile(parse_collapsed(text))
    assert summary.blocking_on_loop == pytest.approx(0.6)
    assert summary.blocking_sites[0].function == "SocketIO.readinto (socket.py)"
    # The same read on a worker thread is waiting, but no event loop is blocked.
    worker = f"Thread.run ({STDLIB}/threading.py:975);SocketIO.readinto ({STDLIB}/socket.py:706)"
    off_loop = summarize_profile(parse_collapsed(f"{worker} 10\n{LOOP_IDLE} 10"))
    assert off_loop.blocking_on_loop == 0.0
    assert off_loop.idle_share == 1.0


def test_time_sleep_seen_through_source_lines() -> None:
    sources = {
        ("/srv/app/main.py", 12): "    time.sleep(0.2)\n",
        ("/srv/app/main.py", 13): "    await asyncio.sleep(0.2)\n",
    }

    def lookup(file: str, line: int) -> str | None:
        return sources.get((file, line))

    awaiting = HANDLER.replace("main.py:12)", "main.py:13)")
    profile = parse_collapsed(f"{HANDLER} 9\n{awaiting} 1")
    blind = summarize_profile(profile)
    assert blind.blocking_on_loop == 0.0  # time.sleep is C: invisible without the source
    seen = summarize_profile(profile, source=lookup)
    assert seen.blocking_on_loop == pytest.approx(0.9)
    assert seen.blocking_sites[0].function == "handler (main.py)"


def test_native_sleep_frame_is_blocking() -> None:
    native = f"{HANDLER};time_sleep (/usr/lib/libpython3.11.so.1.0);clock_nanosleep (libc.so.6)"
    summary = summarize_profile(parse_collapsed(f"{native} 3\n{LOOP_IDLE} 1"))
    assert summary.blocking_on_loop == pytest.approx(0.75)
    # waiting samples are not CPU: they rank as blocking sites, not in top_self
    assert summary.top_self == ()
    assert summary.blocking_sites[0].function == "handler (main.py)"


def test_gil_share_from_second_profile() -> None:
    profile = parse_collapsed(f"{HANDLER} 80\n{LOOP_IDLE} 20")
    gil = parse_collapsed(f"{HANDLER} 60")
    assert summarize_profile(profile).gil_share is None
    assert summarize_profile(profile, gil_profile=gil).gil_share == pytest.approx(0.75)
    summary = summarize_profile(profile, gil_profile=gil)
    assert json.loads(json.dumps(dataclasses.asdict(summary)))["gil_share"] == pytest.approx(0.75)


def test_speedscope_document() -> None:
    profile = parse_collapsed(
        'process 7:"python x.py";main (/a/x.py:1);hot (/a/x.py:3) 5\n'
        'process 7:"python x.py";main (/a/x.py:1);cold (/a/x.py:9) 2\n'
    )
    doc = collapsed_to_speedscope(profile, "run-1")
    json.dumps(doc)  # must be JSON as is
    assert doc["$schema"] == SPEEDSCOPE_SCHEMA
    shared = doc["shared"]
    assert isinstance(shared, dict)
    frames = shared["frames"]
    assert [f["name"] for f in frames] == ['process 7:"python x.py"', "main", "hot", "cold"]
    assert frames[2] == {"name": "hot", "file": "/a/x.py", "line": 3}
    profiles = doc["profiles"]
    assert isinstance(profiles, list) and len(profiles) == 1
    sampled = profiles[0]
    assert sampled["type"] == "sampled"
    assert sampled["samples"] == [[0, 1, 2], [0, 1, 3]]
    assert sampled["weights"] == [5, 2]
    assert sampled["endValue"] == 7


# -- failures ----------------------------------------------------------------------------


def test_classify_permission_and_gone() -> None:
    denied = classify_failure(1, 1, "Permission Denied: Try running again with elevated permissions by going 'sudo'")
    assert str(denied) == (f"py-spy: not permitted to read process 1 (Permission Denied). Fix: {PERMISSION_FIX}")
    ptrace = classify_failure(1, 1, "Error: Operation not permitted (os error 1)\n")
    assert PERMISSION_FIX in str(ptrace)
    gone = classify_failure(
        5,
        1,
        "Error: Failed to get process executable name. Check that the process is running.\n"
        "\nCaused by:\n    0: No such file or directory (os error 2)\n",
    )
    assert str(gone).startswith("py-spy: process 5 is gone (Failed to get process executable")
    assert "\n" not in str(gone)
    not_python = classify_failure(5, 1, "Error: Failed to find python version from target")
    assert "does not look like Python" in str(not_python)
    hidden = "Error: No python processes found in process 5 or any of its subprocesses"
    assert "does not look like Python" in str(classify_failure(5, 1, hidden, "ok"))
    assert PERMISSION_FIX in str(classify_failure(5, 1, hidden, "denied"))
    assert "is gone" in str(classify_failure(5, 1, hidden, "gone"))
    other = classify_failure(5, 101, "thread 'main' panicked at src/main.rs")
    assert str(other).startswith("py-spy failed (exit 101: thread 'main' panicked")


def test_find_pyspy_beside_interpreter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    with pytest.raises(PySpyUnavailable) as info:
        find_pyspy()
    assert str(info.value) == "py-spy not found. Fix: pip install py-spy, or pass --no-pyspy."
    binary = tmp_path / "py-spy"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    assert find_pyspy() == binary


def test_probe_access() -> None:
    assert pyspy.probe_access(os.getpid()) == "ok"  # a process may always read itself
    assert pyspy.probe_access(2**22 + 7) == "gone"  # above any pid_max


def test_unstartable_binary_is_unavailable(tmp_path: Path) -> None:
    recording = PySpyRecording(os.getpid(), tmp_path / "out.txt", duration_s=1, binary=tmp_path / "missing")
    with pytest.raises(PySpyUnavailable, match="could not be started"):
        recording.start()


# -- real py-spy -------------------------------------------------------------------------

HOT_SCRIPT = """
import sys, time

def hot_loop_for_test():
    print("ready", flush=True)
    end = time.monotonic() + 6
    x = 0
    while time.monotonic() < end:
        x += 1

hot_loop_for_test()
"""

BLOCKED_LOOP_SCRIPT = """
import asyncio, time

async def blocking_handler_for_test():
    time.sleep(0.05)

async def main():
    print("ready", flush=True)
    end = time.monotonic() + 6
    while time.monotonic() < end:
        await blocking_handler_for_test()
        await asyncio.sleep(0)

asyncio.run(main())
"""


@pytest.fixture
def target(tmp_path: Path) -> Iterator[StartTarget]:
    started: list[subprocess.Popen[str]] = []

    def run(script: str) -> int:
        path = tmp_path / f"target_{len(started)}.py"
        path.write_text(textwrap.dedent(script))
        proc = subprocess.Popen([sys.executable, str(path)], stdout=subprocess.PIPE, text=True, cwd=tmp_path)
        started.append(proc)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        return proc.pid

    yield run
    for proc in started:
        proc.kill()
        proc.wait(timeout=5)


def _record(recording: PySpyRecording, *, stop_after: float | None = None) -> CodeProfile | None:
    """The recorded profile, or None when py-spy may not trace here (fix text checked)."""
    try:
        recording.start()
        if stop_after is None:
            recording.wait(timeout=recording.duration_s + 15)
        else:
            with pytest.raises(subprocess.TimeoutExpired):
                subprocess.run(["sleep", "60"], timeout=stop_after, check=False)
            assert recording.running
            recording.stop()
    except PySpyUnavailable as err:
        assert PERMISSION_FIX in str(err), str(err)
        return None
    return parse_collapsed(recording.output.read_text())


def test_real_hot_function_is_top(target: StartTarget, tmp_path: Path) -> None:
    pid = target(HOT_SCRIPT)
    profile = _record(PySpyRecording(pid, tmp_path / "hot.txt", duration_s=2, rate=100))
    if profile is None:
        return  # no ptrace permission here: PySpyUnavailable with the fix was asserted
    summary = summarize_profile(profile, source=read_source_line)
    assert summary.total_samples > 50
    assert summary.top_self[0].function.startswith("hot_loop_for_test (target_0.py")
    assert summary.top_self[0].share > 0.8
    assert summary.blocking_on_loop is None


def test_real_blocked_event_loop(target: StartTarget, tmp_path: Path) -> None:
    pid = target(BLOCKED_LOOP_SCRIPT)
    # Runs "forever" and is stopped with SIGINT after 2 s: py-spy must still write it.
    recording = PySpyRecording(pid, tmp_path / "loop.txt", duration_s=60, rate=100)
    profile = _record(recording, stop_after=2.0)
    if profile is None:
        return
    summary = summarize_profile(profile, source=read_source_line)
    assert summary.total_samples > 50
    assert summary.blocking_on_loop is not None and summary.blocking_on_loop > 0.5
    assert summary.blocking_sites[0].function.startswith("blocking_handler_for_test (")
    doc = collapsed_to_speedscope(profile, "loop")
    assert json.loads(json.dumps(doc))["profiles"][0]["type"] == "sampled"


def test_real_gone_process_is_unavailable(tmp_path: Path) -> None:
    # A pid far above pid_max is never a live process.
    recording = PySpyRecording(2**22 + 7, tmp_path / "gone.txt", duration_s=1)
    with pytest.raises(PySpyUnavailable) as info:
        recording.start()
        recording.wait(timeout=20)
    assert str(info.value).startswith(f"py-spy: process {2**22 + 7} is gone (")
    assert "\n" not in str(info.value)


NOBODY_RECORDS = """
import sys
from pathlib import Path
from profiler.base.errors import PySpyUnavailable
from profiler.sampling.pyspy import PySpyRecording
recording = PySpyRecording(int(sys.argv[1]), Path(sys.argv[2]), duration_s=1)
try:
    recording.start()
    recording.wait(timeout=20)
except PySpyUnavailable as err:
    print(err)
else:
    print("recorded")
"""


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="needs root and setpriv to run the profiler as an unprivileged user",
)
def test_real_permission_denied_is_unavailable(target: StartTarget) -> None:
    """The whole recording runs as `nobody` against a root-owned target, as a user without
    ptrace rights would, and must come back as PySpyUnavailable with the fix."""
    pid = target(HOT_SCRIPT)
    # pytest's tmp_path is private to root; nobody needs a folder it can write.
    scratch = Path(tempfile.mkdtemp(prefix="pyspy-perm-"))
    try:
        scratch.chmod(0o777)
        bin_dir = str(Path(sys.executable).parent)
        done = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
            + [sys.executable, "-c", NOBODY_RECORDS, str(pid), str(scratch / "out.txt")],
            capture_output=True,
            text=True,
            timeout=30,
            cwd=Path(__file__).resolve().parent.parent,
            env={"PATH": f"{bin_dir}:/usr/bin:/bin", "PYTHONPATH": "."},
            check=False,
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    message = done.stdout.strip()
    assert done.returncode == 0, done.stderr
    assert message.startswith(f"py-spy: not permitted to read process {pid} ("), message
    assert message.endswith(f"Fix: {PERMISSION_FIX}")
    assert "\n" not in message


def test_module_exports_waiting_lists() -> None:
    assert ("select", "selectors.py") in code.WAITING_PYTHON_LEAVES
    assert "time_sleep" in code.WAITING_NATIVE_FRAMES
