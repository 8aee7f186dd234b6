"""Each thread's CPU time over a py-spy recording, as `pyspy/stage-N.threads.json` holds it.

Written by the py-spy stage (run/pyspy_stage.py, read off /proc by sampling/threads.py) and read
by analysis/wheretime/, which weighs each thread's samples by the share of the recording it spent
on a CPU.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, TypeGuard

from profiler.runfolder.records import finite_number


def _id(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63


@dataclass(frozen=True, slots=True)
class ThreadCpu:
    """One thread's CPU time over a py-spy recording (sampling/threads.py), as threads.json holds it."""

    pid: int
    tid: int
    name: str
    cpu_s: float

    @staticmethod
    def parse(d: Any) -> ThreadCpu | None:
        if not isinstance(d, dict):
            return None
        pid, tid, cpu = d.get("pid"), d.get("tid"), finite_number(d.get("cpu_s"))
        if not (_id(pid) and _id(tid)) or cpu is None or cpu < 0:
            return None
        return ThreadCpu(pid, tid, str(d.get("name") or ""), cpu)


@dataclass(frozen=True, slots=True)
class ThreadCpuTimes:
    """Every thread's CPU time over the recording of `wall_s` seconds: which samples were on a CPU."""

    wall_s: float
    threads: tuple[ThreadCpu, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"wall_s": self.wall_s, "threads": [asdict(t) for t in self.threads]}

    @staticmethod
    def parse(d: Any) -> ThreadCpuTimes | None:
        wall = finite_number(d.get("wall_s")) if isinstance(d, dict) else None
        rows = d.get("threads") if isinstance(d, dict) else None
        if wall is None or wall <= 0 or not isinstance(rows, list):
            return None
        return ThreadCpuTimes(wall, tuple(t for r in rows if (t := ThreadCpu.parse(r)) is not None))
