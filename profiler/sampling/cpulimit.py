"""The CPU a process may use: its affinity mask and its cgroup's CPU quota (v1 or v2).

`psutil.cpu_count()` is the host's: a `--cpus=2` container on a 32-core host reads 32, and advice
sized from it ("run 32 workers") is wrong by 16x. The quota is read along the process's cgroup
path, nearest ancestor first (a quota anywhere above applies); inside a container the path in
/proc/PID/cgroup can be the host's, so the mount's own root is tried too.
"""

from __future__ import annotations

from pathlib import Path

import psutil

from profiler.runfolder.meta import CpuLimit

CGROUP_ROOT = Path("/sys/fs/cgroup")


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _quota_v2(text: str) -> float | None:
    """cpu.max is "QUOTA PERIOD" or "max PERIOD"."""
    parts = text.split()
    if len(parts) != 2 or parts[0] == "max":
        return None
    try:
        quota, period = float(parts[0]), float(parts[1])
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def _quota_v1(folder: Path) -> float | None:
    quota, period = _read(folder / "cpu.cfs_quota_us"), _read(folder / "cpu.cfs_period_us")
    try:
        q, p = float(quota or "-1"), float(period or "0")
    except ValueError:
        return None
    return q / p if q > 0 and p > 0 else None  # -1: no quota


def _ancestors(mount: Path, path: str) -> list[Path]:
    """The cgroup's folder and each parent up to the mount, then the mount itself."""
    parts = [p for p in path.split("/") if p]
    return [mount.joinpath(*parts[:i]) for i in range(len(parts), 0, -1)] + [mount]


def cgroup_quota(cgroup_file: str, root: Path = CGROUP_ROOT) -> tuple[float, str] | None:
    """(quota in cores, the file it came from) from the text of /proc/PID/cgroup; None: no quota."""
    found: list[tuple[float, str]] = []
    for line in cgroup_file.splitlines():
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hierarchy == "0" and controllers == "":
            for folder in _ancestors(root, path):
                text = _read(folder / "cpu.max")
                quota = _quota_v2(text) if text else None
                if quota is not None:
                    found.append((quota, str(folder / "cpu.max")))
        elif "cpu" in controllers.split(","):
            mount = next((m for m in (root / controllers, root / "cpu", root / "cpu,cpuacct") if m.is_dir()), None)
            for folder in _ancestors(mount, path) if mount is not None else []:
                quota = _quota_v1(folder)
                if quota is not None:
                    found.append((quota, str(folder / "cpu.cfs_quota_us")))
    return min(found) if found else None


def cpu_limit(pid: int) -> CpuLimit:
    """The cores process `pid` may use; what cannot be read is left out (None)."""
    machine = psutil.cpu_count() or 1
    affinity: int | None = None
    try:
        affinity = len(psutil.Process(pid).cpu_affinity() or []) or None
    except (psutil.Error, AttributeError, OSError):
        pass  # not on every platform, nor for every process
    quota = None
    text = _read(Path(f"/proc/{pid}/cgroup"))
    if text:
        quota = cgroup_quota(text)
    return CpuLimit(
        machine=machine,
        affinity=affinity,
        quota=round(quota[0], 3) if quota else None,
        quota_source=quota[1] if quota else None,
    )
