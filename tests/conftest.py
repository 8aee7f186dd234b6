"""Shared helpers: real target apps on 127.0.0.1, the real CLI in a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import psutil
import pytest
from hypothesis import settings

# Property tests share two cores with real servers and load: an example that is slow for that
# reason is not a failure (hypothesis's default 200 ms deadline would make it one, at random).
settings.register_profile("shared-cores", deadline=None)
settings.load_profile("shared-cores")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A verdict read off real load on two shared cores (a hypervisor taking CPU time, the load
    generator on the same cores) can miss its line by noise alone: a test marked slow gets one
    rerun (pytest-rerunfailures), listed in the summary, so a regression, which fails both times,
    still fails."""
    for item in items:
        if item.get_closest_marker("slow") is not None and item.get_closest_marker("flaky") is None:
            item.add_marker(pytest.mark.flaky(reruns=1, reruns_delay=1))


T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[1]
APPS = Path(__file__).resolve().parent / "apps"
BASIC_APP = APPS / "basic_app.py"


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_cli(*args: str, timeout: float = 120, env: dict[str, str] | None = None, cwd: Path | None = None) -> CliResult:
    proc = subprocess.run(
        [sys.executable, "-m", "profiler", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd or ROOT,
        env={**os.environ, "NO_COLOR": "1", **(env or {})},
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def launch_args(app: Path, path: str, *extra: str) -> list[str]:
    return [
        f"http://127.0.0.1:{{port}}{path}",
        "--launch",
        f"{sys.executable} {app} --port {{port}} {' '.join(extra)}".strip(),
    ]


def read_report(folder: Path) -> dict:
    return json.loads((folder / "report.json").read_text())


# A measurement several tests read (a module's real run) is made once; a test that failed on it is
# rerun on a fresh one, not on the same numbers again.
STALE: set[str] = set()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    report = yield
    if report.when == "call" and report.failed:
        STALE.update(getattr(item, "fixturenames", ()))
    return report


def shared_measurement(make: Callable[[pytest.TempPathFactory], T]) -> Callable[..., T]:
    """A fixture that measures once for every test that reads it, and again after one of them failed."""
    name, cache = make.__name__, {}

    @pytest.fixture(name=name)
    def fixture(tmp_path_factory: pytest.TempPathFactory) -> T:
        if name not in cache or name in STALE:
            STALE.discard(name)
            cache.pop(name, None)
            cache[name] = make(tmp_path_factory)
        return cache[name]

    return fixture


def stage_figures(report: dict) -> str:
    """A failing verdict's context: each stage's load, throughput and CPU figures, one line each."""
    keys = ("users", "rate", "ok_rps", "target_cpu_pct", "target_busiest_process_cpu_pct", "loadgen_cpu_pct",
            "machine_cpu_pct", "machine_steal_pct")  # fmt: skip
    rows = [" ".join(f"{k}={s.get(k):.4g}" if isinstance(s.get(k), float) else f"{k}={s.get(k)}" for k in keys)
            for s in report["load"]["stages"]]  # fmt: skip
    return "\n".join(rows)


def assert_no_traceback(result: CliResult) -> None:
    assert "Traceback" not in result.output, result.output


def profiler_children_gone(pids: list[int], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
        if not alive:
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def started_app(tmp_path: Path) -> Iterator[callable]:  # type: ignore[valid-type]
    """Start a test app ourselves (for --pid attach); always stopped afterwards."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(app: Path, port: int, *extra: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, str(app), "--port", str(port), *extra],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)
