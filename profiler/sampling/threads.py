"""The CPU time of every thread of the target's process tree, read from /proc.

py-spy's samples say which code each thread was in, not whether it was on a CPU there: a Python
frame that called sqlite3 (which lets the GIL go and scans in C) looks the same as one waiting on
a socket. The kernel knows: /proc/PID/task/TID/stat counts each thread's user and system time. Read
at the start and the end of a recording, the difference says how much of the recording each thread
spent on a CPU, which analysis/wheretime/ weighs against the thread's samples (py-spy's `--threads`
frames carry the same thread ids). Linux only; elsewhere, or for a process gone, nothing is read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import psutil

_PROC = Path("/proc")
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True, slots=True)
class ThreadTime:
    pid: int
    tid: int
    name: str
    cpu_s: float  # user + system time since the thread began


def _tree(root: int) -> list[int]:
    try:
        process = psutil.Process(root)
        return [root, *(child.pid for child in process.children(recursive=True))]
    except psutil.Error:
        return [root]


def _thread(pid: int, task: Path) -> ThreadTime | None:
    try:
        stat = (task / "stat").read_text()
    except OSError:
        return None  # the thread ended between the listing and the read
    # `tid (comm) state ppid ...`: comm may hold spaces and parentheses, so split at the last ')'.
    head, _, rest = stat.rpartition(")")
    fields = rest.split()
    if len(fields) < 13 or not task.name.isdigit():
        return None
    name = head.partition("(")[2]
    user, system = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5), counted from 1
    return ThreadTime(pid, int(task.name), name, (user + system) / _TICKS)


def thread_times(root: int) -> dict[int, ThreadTime]:
    """Each thread of the process tree under `root`, by thread id; empty where /proc is not."""
    found: dict[int, ThreadTime] = {}
    for pid in _tree(root):
        try:
            tasks = list((_PROC / str(pid) / "task").iterdir())
        except OSError:
            continue
        for task in tasks:
            thread = _thread(pid, task)
            if thread is not None:
                found[thread.tid] = thread
    return found


def cpu_between(before: dict[int, ThreadTime], after: dict[int, ThreadTime]) -> dict[int, ThreadTime]:
    """Each thread's CPU time between two readings (a thread born in between counts from zero)."""
    out: dict[int, ThreadTime] = {}
    for tid, end in after.items():
        start = before.get(tid)
        spent = end.cpu_s - (start.cpu_s if start is not None and start.pid == end.pid else 0.0)
        out[tid] = ThreadTime(end.pid, tid, end.name, max(0.0, spent))
    return out
