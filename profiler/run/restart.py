"""`--fault restart@T`: stop the launched target and start the same command again, on a thread, so
the drive loop keeps reading the load's messages (every request lands on disk with its outcome)
while the target is down.

The steps and what each one measures (faults.jsonl's `restart`, docs/transients.md):
1. SIGTERM to the target's process group: the server's own graceful shutdown (gunicorn and uvicorn
   finish the requests in flight on it). `stopped_after_s`: SIGTERM until the target's root process
   has exited; past RESTART_GRACE_S it is SIGKILLed (`killed`). What is left of the group goes then.
2. The same command started again in the same folder, its output appended to target.log; the
   sampler is told the new root pid through target.pid in the run folder (sampling/process.py).
3. Waited for until it answers (the run's own readiness check and --ready-timeout): `ready_after_s`.
A target that exits on the way back, or does not answer in time, is the restart's `error`; the run
then ends (target-exited, target-hung) with its report written.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from profiler.base.errors import ProfilerError, TargetExitedError, TargetHungError, TargetNotReadyError
from profiler.run.target import Target, launch
from profiler.runfolder.names import TARGET_DOWN

RESTART_GRACE_S = 30.0  # gunicorn's own --graceful-timeout default: a server that drains takes up to this
_KILL_WAIT_S = 5.0

ReadyWait = Callable[[Target, Callable[[], bool]], float | None]  # (target, cancelled) -> seconds waited


@dataclass(frozen=True, slots=True)
class RestartResult:
    stopped_after_s: float  # SIGTERM until the root process exited
    killed: bool  # it did not exit within RESTART_GRACE_S: SIGKILLed
    exit_code: int | None
    pid_after: int | None
    ready_after_s: float | None  # the new command started until it answered; None: it never did
    ended_at: float  # epoch s: back (or given up on)
    error: ProfilerError | None = None


def write_root(root_file: Path, text: str) -> None:
    tmp = root_file.with_suffix(".tmp")
    tmp.write_text(text + "\n")
    os.replace(tmp, root_file)  # the sampler never reads half a pid


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass  # already gone


def _stop(proc: subprocess.Popen[bytes], grace_s: float) -> tuple[float, bool, int | None]:
    start = time.monotonic()
    _signal_group(proc, signal.SIGTERM)
    killed = False
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        killed = True
        _signal_group(proc, signal.SIGKILL)
        try:
            proc.wait(timeout=_KILL_WAIT_S)
        except subprocess.TimeoutExpired:
            pass
    stopped = time.monotonic() - start
    _signal_group(proc, signal.SIGKILL)  # workers that outlived their master would hold the port the new one needs
    return stopped, killed, proc.poll()


class Restarter:
    """One restart. The stop and the wait for an answer run on threads; the new command is started
    from the main thread (step()), because PR_SET_PDEATHSIG (base/procutil.py) fires when the
    *thread* that forked a child ends, which would SIGTERM the new target at once."""

    def __init__(self, target: Target, cwd: Path | None, root_file: Path, ready: ReadyWait, at_s: float) -> None:
        self.target, self.cwd, self.root_file, self.ready, self.at_s = target, cwd, root_file, ready, at_s
        self.result: RestartResult | None = None
        self.cancelled = False  # teardown: stop waiting for it to answer
        self._stopped: tuple[float, bool, int | None] | None = None
        self._ready_s: float | None = None
        self._error: ProfilerError | None = None
        self._pid_after: int | None = None
        self._thread = threading.Thread(target=self._stop, name="restart: stop", daemon=True)

    def start(self) -> None:
        write_root(self.root_file, TARGET_DOWN)
        self._thread.start()

    def step(self) -> RestartResult | None:
        """From the drive loop (the main thread): the next step once the last is done; the result at the end."""
        if self.result is not None or self._thread.is_alive():
            return self.result
        if self._pid_after is None and self._error is None:
            self._launch()
            if self._error is None:
                self._thread = threading.Thread(target=self._wait, name="restart: wait", daemon=True)
                self._thread.start()
                return None
        stopped, killed, code = self._stopped or (0.0, False, None)
        self.result = RestartResult(round(stopped, 3), killed, code, self._pid_after,
                                    round(self._ready_s, 3) if self._ready_s is not None else None, time.time(),
                                    self._error)  # fmt: skip
        return self.result

    def cancel(self) -> None:
        self.cancelled = True
        self._thread.join(timeout=RESTART_GRACE_S + 2 * _KILL_WAIT_S)

    def _stop(self) -> None:
        t = self.target
        assert t.proc is not None
        self._stopped = _stop(t.proc, RESTART_GRACE_S)
        if t.watchdog is not None:
            t.watchdog.disarm()
        if t.log is not None:
            t.log.close()

    def _launch(self) -> None:
        t = self.target
        assert t.command is not None and t.log_path is not None
        if self.cancelled:
            self._error = TargetExitedError("the run was stopped while the target restarted.", "run it again")
            return
        try:
            new = launch(t.command, t.log_path, self.cwd)
        except ProfilerError as e:  # its command could not start again
            self._error = TargetExitedError(f"after its restart at {self.at_s:g}s, {e.problem}", e.fix)
            return
        t.proc, t.pid, t.log, t.watchdog = new.proc, new.pid, new.log, new.watchdog
        self._pid_after = new.pid
        write_root(self.root_file, str(new.pid))

    def _wait(self) -> None:
        try:
            self._ready_s = self.ready(self.target, lambda: self.cancelled)
        except TargetNotReadyError as e:
            self._error = TargetHungError(f"after its restart at {self.at_s:g}s, {e.problem}", e.fix)
        except ProfilerError as e:  # it exited before answering
            self._error = TargetExitedError(f"after its restart at {self.at_s:g}s, {e.problem}", e.fix)
