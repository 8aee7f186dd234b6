"""py-spy over the profiled stage of a run: the orchestrator's side of code attribution.

The session calls start() when the load worker announces the profiled stage, tick() from its
drive loop, and finish() on every way out. With --pyspy-gil the stage is split in halves: a
normal recording, then one with --gil (two py-spy cannot trace one process at once).

What it leaves in the run folder, beside py-spy's raw stacks: a flame graph, the source line
of each leaf frame (read now, while the target's files are surely there: py-spy cannot see C
calls such as time.sleep without --native, but the line that calls them says it, and
`analyze` must not depend on those files), and py-spy's own output in its log.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from profiler.analysis.attribution.stacks import CodeProfile, parse_collapsed, parse_frame
from profiler.base.errors import PySpyUnavailable
from profiler.report.speedscope import collapsed_to_speedscope
from profiler.runfolder.atomic import write_json_atomic
from profiler.runfolder.names import (
    PYSPY_DIR,
    PYSPY_LOG,
    pyspy_sources,
    pyspy_speedscope,
    pyspy_stacks,
    pyspy_threads,
)
from profiler.runfolder.threadcpu import ThreadCpu, ThreadCpuTimes
from profiler.sampling.pyspy import PySpyRecording, read_source_line
from profiler.sampling.threads import ThreadTime, cpu_between, thread_times


class PySpyStage:
    """Records one profiled stage. A py-spy failure is one notice (and `notice_text`), never an
    error: the run goes on without code attribution. Writing the run folder may raise OSError."""

    def __init__(
        self, folder: Path, *, rate: int, gil: bool, notice: Callable[[str], None], native: bool = False
    ) -> None:
        self.folder = folder
        self.rate = rate
        self.gil = gil
        self.native = native
        self._notice = notice
        self.notice_text: str | None = None  # why py-spy gave nothing, for meta.json
        self.profiled_stage: int | None = None
        self._recording: PySpyRecording | None = None
        self._gil_pending: tuple[int, int, int] | None = None  # (pid, stage, seconds) of the --gil half
        # Each thread's CPU time when the (normal) recording started, and when: which samples ran.
        self._threads_at_start: tuple[float, dict[int, ThreadTime]] | None = None

    def start(self, pid: int, stage: int, planned_s: float) -> None:
        """Attach py-spy for the stage, planned to last `planned_s` seconds."""
        self.profiled_stage = stage
        seconds = max(1, int(planned_s - 0.5))
        if self.gil:
            seconds = max(1, seconds // 2)
            self._gil_pending = (pid, stage, seconds)
        self._record(pid, pyspy_stacks(self.folder, stage), seconds, gil=False)

    def tick(self) -> None:
        """From the drive loop: when the first half's recording ends, start the --gil half."""
        if self._recording is None or self._recording.running or self._gil_pending is None:
            return
        pid, stage, seconds = self._gil_pending
        self._gil_pending = None
        first, self._recording = self._recording, None
        if self._collect(first, interrupted=False):
            self._record(pid, pyspy_stacks(self.folder, stage, gil=True), seconds, gil=True)

    def finish(self, interrupted: bool) -> None:
        """Collect the recording still under way, stopping it at once if the run was interrupted."""
        rec, self._recording = self._recording, None
        self._gil_pending = None
        if rec is not None:
            self._collect(rec, interrupted)

    def _failed(self, err: PySpyUnavailable) -> None:
        self.notice_text = str(err)
        self._notice(str(err))

    def _record(self, pid: int, path: Path, seconds: int, gil: bool) -> None:
        # The --gil half only counts samples holding the GIL: native frames would add cost, not answers.
        rec = PySpyRecording(pid, path, duration_s=seconds, rate=self.rate, gil=gil, native=self.native and not gil)
        if not gil:
            self._threads_at_start = (time.monotonic(), thread_times(pid))
        try:
            rec.start()
        except PySpyUnavailable as e:
            self._failed(e)
            self._gil_pending = None
            if not gil:
                # py-spy never attached (a target that is not Python, no permission): the stage ran
                # undisturbed and is a measurement like the others, not a profiled one.
                self.profiled_stage = None
            return
        self._recording = rec

    def _collect(self, rec: PySpyRecording, interrupted: bool) -> bool:
        """Collect one recording: the raw stacks, a flame graph, and the source lines of the
        leaves. False (and a notice) when py-spy failed."""
        try:
            stacks = rec.stop() if interrupted else rec.wait(timeout=rec.duration_s + 5.0)
            threads = self._thread_cpu(rec.pid) if not rec.gil else None
            text = rec.read_stacks()
        except PySpyUnavailable as e:
            self._failed(e)
            return False
        finally:
            with (self.folder / PYSPY_DIR / PYSPY_LOG).open("a") as log:
                log.write(rec.log)
        if rec.gil:
            return True  # the --gil half only counts samples; its stacks are the same code
        profile = parse_collapsed(text)
        write_json_atomic(pyspy_speedscope(stacks), collapsed_to_speedscope(profile, stacks.stem))
        write_json_atomic(pyspy_sources(stacks), leaf_sources(profile))
        if threads is not None:
            write_json_atomic(pyspy_threads(stacks), threads.to_dict())
        return True

    def _thread_cpu(self, pid: int) -> ThreadCpuTimes | None:
        """Each thread's CPU time since the recording started (read as it ends), or None."""
        started, self._threads_at_start = self._threads_at_start, None
        if started is None or not started[1]:
            return None
        wall = time.monotonic() - started[0]
        spent = cpu_between(started[1], thread_times(pid))
        rows = tuple(ThreadCpu(t.pid, t.tid, t.name, round(t.cpu_s, 4)) for t in spent.values())
        return ThreadCpuTimes(round(wall, 4), rows) if rows and wall > 0 else None


def leaf_sources(profile: CodeProfile) -> dict[str, str]:
    """`file:line` -> source text of the last two frames of every stack, where the file is here."""
    sources: dict[str, str] = {}
    for frames, _count in profile.stacks:
        for text in frames[-2:]:
            frame = parse_frame(text)
            if frame is None:
                continue
            key = f"{frame.file}:{frame.line}"
            if key not in sources and frame.file and frame.line:
                line = read_source_line(frame.file, frame.line)
                if line is not None:
                    sources[key] = line
    return sources
