"""Helpers shared by benchmarks/analyze_large.py and benchmarks/pyspy_overhead.py.

The same approach as benchmarks/sampling_overhead.py (which keeps its own copies): one target
started once on 127.0.0.1, the load worker driven with a spec JSON exactly as the product
drives it, CPU read with psutil from cumulative cpu_times.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from profiler.base.config import free_port  # noqa: E402
from profiler.base.procutil import child_preexec, stop_process_group  # noqa: E402

__all__ = [
    "ROOT",
    "cpu_s",
    "free_port",
    "machine_busy",
    "machine_info",
    "start_target",
    "start_worker",
    "stop_process_group",
    "tree_cpu_s",
    "wait_ready",
    "write_spec",
]


def cpu_s(proc: psutil.Process | None) -> float:
    """User + system CPU seconds of one process (0 when gone)."""
    if proc is None:
        return 0.0
    try:
        t = proc.cpu_times()
    except psutil.Error:
        return 0.0
    return t.user + t.system


def tree_cpu_s(root: psutil.Process | None) -> float:
    """User + system CPU seconds of a process and its children (0 when gone)."""
    if root is None:
        return 0.0
    try:
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    return sum(cpu_s(p) for p in procs)


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    ct = psutil.cpu_times()
    idle = ct.idle + getattr(ct, "iowait", 0.0)
    total = sum(ct)
    return total - idle, total


def machine_steal() -> tuple[float, float]:
    """(steal, total) CPU seconds of the whole machine since boot: the hypervisor's share between
    two readings says whether a measurement ran on the CPU it was given."""
    ct = psutil.cpu_times()
    return getattr(ct, "steal", 0.0), sum(ct)


def machine_info() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": psutil.cpu_count(),
        "cpu_model": model or platform.processor(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"target exited with code {proc.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                resp.read()
                return
        except urllib.error.HTTPError:
            return  # it answers: good enough
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise SystemExit(f"target did not answer {url} within {timeout_s:g} s")


def start_target(app: Path, port: int) -> subprocess.Popen[bytes]:
    """`python APP --port PORT` in its own process group, dying with us."""
    return subprocess.Popen(
        [sys.executable, str(app), "--port", str(port)],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=child_preexec(),
    )


def write_spec(folder: Path, url: str, users: int, duration_s: float, *, bare: bool = False) -> Path:
    """The same fields as profiler.load.driver.write_spec, for a one-stage closed-model plan,
    probe off and no extra py-spy stage (`profile_s` null)."""
    spec = {
        "url": url,
        "method": "GET",
        "headers": {},
        "body_b64": None,
        "timeout_s": 30.0,
        "plan": [{"index": 0, "users": users, "rate": None, "planned_s": duration_s}],
        "out_dir": str(folder),
        "probe_path": None,
        "probe_rate": 10.0,
        "early_stop": False,
        "max_requests": 2_000_000,
        "max_inflight": 1000,
        "profile_s": None,
        "bare": bare,
    }
    path = folder / "loadgen-spec.json"
    path.write_text(json.dumps(spec, indent=2) + "\n")
    return path


def start_worker(spec: Path, folder: Path) -> subprocess.Popen[bytes]:
    """`python -m profiler.load.worker SPEC`, as profiler.load.driver.LoadProcess starts it."""
    log = (folder / "loadgen.log").open("wb")
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "profiler.load.worker", str(spec)],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            start_new_session=True,
            preexec_fn=child_preexec(),
        )
    finally:
        log.close()
