"""The sampler's view of the process trees: the target's (its root, and, after a --fault restart,
the new root written to target.pid) and the load generator's (the profiler's other children),
refreshed once a second, each process described once as it is first seen (processes.jsonl)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from profiler.base.secrets import mask_argv
from profiler.runfolder.names import TARGET_DOWN
from profiler.runfolder.records import ProcessInfo

CHILD_REFRESH_S = 1.0


def describe(pid: int) -> ProcessInfo | None:
    """Name, executable and (masked) command line of one process; None once it is gone."""
    try:
        proc = psutil.Process(pid)
        with proc.oneshot():
            name, ppid, cmdline = proc.name(), proc.ppid(), proc.cmdline()
            try:
                exe = proc.exe()
            except psutil.AccessDenied:
                exe = ""
    except psutil.Error:
        return None
    return ProcessInfo(pid, ppid, name, exe, mask_argv(cmdline), round(time.time(), 3))


def tree_pids(root: psutil.Process) -> list[int]:
    try:
        return [root.pid] + [c.pid for c in root.children(recursive=True)]
    except psutil.Error:
        return []


@dataclass
class Trees:
    """The target's pids and the load generator's (the profiler's other children), refreshed each second."""

    target: psutil.Process | None  # None: not on this machine
    owner: psutil.Process | None
    pids: list[int] = field(default_factory=list)
    gen_pids: list[int] = field(default_factory=list)
    refreshed: float = -CHILD_REFRESH_S
    seen: set[int] = field(default_factory=set)
    root_file: Path | None = None  # a --fault restart's current root pid (run/restart.py writes it)
    down: bool = False  # the target is restarting: not sampled until its new root is known

    def follow(self) -> bool:
        """The target's root is gone: True while a restart is under way, taking its new root once
        written; False when the target has simply exited."""
        if self.root_file is None or self.target is None:
            return False
        try:
            text = self.root_file.read_text().strip()
        except OSError:
            return False
        if text.isdigit() and int(text) != self.target.pid:
            try:
                self.target = psutil.Process(int(text))
            except psutil.Error:
                return False
            self.down, self.refreshed = False, -CHILD_REFRESH_S
            return True
        self.down = text == TARGET_DOWN
        return self.down

    def refresh(self, now: float) -> list[ProcessInfo]:
        """Refresh both trees once a second; the target's processes not seen before."""
        if now - self.refreshed < CHILD_REFRESH_S:
            return []
        self.refreshed = now
        self.pids = tree_pids(self.target) if self.target is not None else []
        new = [info for pid in self.pids if pid not in self.seen and (info := describe(pid)) is not None]
        self.seen.update(self.pids)
        self._refresh_generator()
        return new

    def _refresh_generator(self) -> None:
        if self.owner is None:
            return
        skip = set(self.pids) | {os.getpid()}
        try:
            children = self.owner.children(recursive=True)
            self.gen_pids = [c.pid for c in children if c.pid not in skip and not _is_pyspy(c)]
        except psutil.Error:
            self.gen_pids = []


def _is_pyspy(proc: psutil.Process) -> bool:
    """py-spy is a child of the profiler too, but it is not the load generator."""
    try:
        return bool(proc.name() == "py-spy")
    except psutil.Error:
        return True
