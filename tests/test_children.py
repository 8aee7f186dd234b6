"""Every child dies with the profiler: `kill -9` of a real `profiler run` in each phase, then the
process table is checked for anything the profiler started (py-spy, the watchdog and a launched
target's own children included). An attached target (--pid) must survive, running."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from profiler.base.config import free_port
from profiler.base.errors import PySpyUnavailable
from profiler.sampling.pyspy import find_pyspy, probe_access

from .conftest import BASIC_APP, ROOT, launch_args

pytestmark = pytest.mark.slow

Seen = dict[tuple[int, float], str]  # (pid, create time) -> command line, of every descendant seen


class Run:
    """A real `profiler run` whose descendants are recorded as they come and go."""

    def __init__(self, args: list[str], out: Path) -> None:
        self.out = out
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "profiler", "run", *args, "--out", str(out), "--quiet", "--no-gpu"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "NO_COLOR": "1"},
        )
        self.seen: Seen = {}

    def descendants(self) -> list[psutil.Process]:
        try:
            procs: list[psutil.Process] = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        for p in procs:
            try:
                self.seen.setdefault((p.pid, p.create_time()), " ".join(p.cmdline()))
            except psutil.Error:
                continue
        return procs

    def wait_for(self, what: str, ready: Callable[[Run], bool], timeout_s: float = 40.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.descendants()
            if ready(self):
                self.descendants()
                return
            if self.proc.poll() is not None:
                pytest.fail(f"the profiler exited (code {self.proc.returncode}) before {what}")
            time.sleep(0.05)
        pytest.fail(f"timed out waiting for {what}")

    def kill(self) -> None:
        self.descendants()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def survivors(self, timeout_s: float = 10.0) -> list[str]:
        deadline = time.monotonic() + timeout_s
        while True:
            alive = [f"{pid} {cmd}" for (pid, created), cmd in self.seen.items() if _running(pid, created)]
            if not alive or time.monotonic() > deadline:
                return alive
            time.sleep(0.1)

    def meta(self) -> dict[str, Any]:
        try:
            return dict(json.loads((self.out / "meta.json").read_text()))
        except (OSError, ValueError):
            return {}

    def cleanup(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        for (pid, created), _ in self.seen.items():
            if _running(pid, created):
                os.kill(pid, signal.SIGKILL)


def _running(pid: int, created: float) -> bool:
    """Still the same process, and not a zombie waiting to be reaped."""
    try:
        proc = psutil.Process(pid)
        return proc.create_time() == created and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _has(run: Run, marker: str) -> bool:
    return any(marker in cmd for cmd in _commands(run))


def _commands(run: Run) -> list[str]:
    out = []
    for p in run.descendants():
        try:
            out.append(" ".join(p.cmdline()))
        except psutil.Error:
            continue
    return out


def _listening(run: Run) -> bool:
    for p in run.descendants():
        try:
            if "basic_app" in " ".join(p.cmdline()) and any(c.status == "LISTEN" for c in p.net_connections("tcp")):
                return True
        except psutil.Error:
            continue
    return False


def _loading(run: Run) -> bool:
    try:
        return len((run.out / "requests.csv").read_text().splitlines()) > 5
    except OSError:
        return False


def _pyspy_running(run: Run) -> bool:
    notices = [n for n in run.meta().get("notices", []) if n.startswith("py-spy")]
    if notices:
        pytest.skip(f"py-spy cannot run here: {notices[0]}")
    return _has(run, "py-spy record")


def _tearing_down(run: Run) -> bool:
    """The load worker has come and gone while the profiler still runs: teardown has begun."""
    worker_seen = any("profiler.load.worker" in cmd for cmd in run.seen.values())
    return worker_seen and not _has(run, "profiler.load.worker")


def _after(ready: Callable[[Run], bool], delay_s: float) -> Callable[[Run], bool]:
    """`ready`, then `delay_s` more (py-spy attached and sampling, not just started)."""
    since: list[float] = []

    def check(run: Run) -> bool:
        if not since and ready(run):
            since.append(time.monotonic())
        return bool(since) and time.monotonic() - since[0] >= delay_s

    return check


def _pyspy_usable() -> bool:
    try:
        find_pyspy()
    except PySpyUnavailable:
        return False
    # py-spy traces a sibling of itself, not a child: only root, CAP_SYS_PTRACE or ptrace_scope 0
    # allow that, as they allow reading our own parent's memory.
    return probe_access(os.getppid()) == "ok"


QUICK = ["--duration", "6", "--users", "2", "--no-pyspy"]
# py-spy records for longer than survivors() waits: it must be killed, not merely finish.
PYSPY = ["--duration", "2", "--users", "1", "--pyspy-seconds", "30"]
LAUNCH = launch_args(BASIC_APP, "/fast")
PHASES: dict[str, tuple[list[str], Callable[[Run], bool]]] = {
    # the target was just started: its process exists, it does not answer yet
    "starting-target": ([*LAUNCH, *QUICK], lambda run: _has(run, "basic_app")),
    # it listens, but not on the URL's port: the profiler waits for it
    "waiting-for-ready": (
        [f"http://127.0.0.1:{free_port()}/fast", "--launch", LAUNCH[2], "--ready-timeout", "30", *QUICK],
        _listening,
    ),
    "load": ([*LAUNCH, *QUICK], _loading),
    "pyspy-stage": ([*LAUNCH, *PYSPY], _after(_pyspy_running, 0.5)),
    "teardown": ([*LAUNCH, "--duration", "2", "--users", "1", "--no-pyspy"], _tearing_down),
    # grandchildren: uvicorn's worker processes, and a shell's background child
    "load-server-workers": ([*launch_args(BASIC_APP, "/fast", "--workers", "2"), *QUICK], _loading),
    "load-shell-child": (
        [LAUNCH[0], "--launch", f"sh -c '{sys.executable} {BASIC_APP} --port {{port}} & wait'", *QUICK],
        _loading,
    ),
}


@pytest.fixture
def run_factory(tmp_path: Path) -> Iterator[Callable[[list[str]], Run]]:
    runs: list[Run] = []

    def start(args: list[str]) -> Run:
        runs.append(Run(args, tmp_path / f"run{len(runs)}"))
        return runs[-1]

    yield start
    for run in runs:
        run.cleanup()


@pytest.mark.parametrize("phase", list(PHASES))
def test_kill_9_leaves_no_child(phase: str, run_factory: Callable[[list[str]], Run]) -> None:
    args, ready = PHASES[phase]
    if phase.startswith("pyspy") and not _pyspy_usable():
        pytest.skip("py-spy cannot trace a sibling process here")
    run = run_factory(args)
    run.wait_for(phase, ready)
    run.kill()
    assert run.seen, "the profiler had started no process"
    survivors = run.survivors()
    assert not survivors, f"left running after kill -9 during {phase}: {survivors}"


@pytest.mark.parametrize("phase", ["load", "pyspy-stage"])
def test_kill_9_leaves_an_attached_target_running(
    phase: str, run_factory: Callable[[list[str]], Run], started_app: Callable[..., subprocess.Popen[bytes]]
) -> None:
    if phase == "pyspy-stage" and not _pyspy_usable():
        pytest.skip("py-spy cannot trace a sibling process here")
    port = free_port()
    app = started_app(BASIC_APP, port)
    stages = QUICK if phase == "load" else PYSPY
    run = run_factory([f"http://127.0.0.1:{port}/fast", "--pid", str(app.pid), *stages])
    run.wait_for(phase, _loading if phase == "load" else _after(_pyspy_running, 0.5))
    run.kill()
    survivors = run.survivors()
    assert not survivors, f"left running after kill -9 during {phase}: {survivors}"
    target = psutil.Process(app.pid)
    # Not stopped either: a tracer killed mid-attach can leave its tracee in a SIGSTOP.
    assert target.status() not in (psutil.STATUS_STOPPED, psutil.STATUS_TRACING_STOP, psutil.STATUS_ZOMBIE)
    assert app.poll() is None
