"""Orchestrator side of the load generator: starts the worker process, relays its messages.

This module must not import Locust: it runs in the profiler's own process, on real threads.
"""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
from pathlib import Path

from profiler.base.errors import LoadError
from profiler.base.logcap import CappedLog
from profiler.base.procutil import child_preexec, stop_process_group
from profiler.load.spec import LoadSpec
from profiler.runfolder import messages
from profiler.runfolder.names import LOADGEN_LOG, LOADGEN_SPEC

Message = messages.Tick | messages.StageDone | messages.ProfileStart | messages.Done


def write_spec(spec: LoadSpec, folder: Path) -> Path:
    """A copy for the record, with secret headers masked and the body left out: the worker
    gets the real spec on its stdin."""
    path = folder / LOADGEN_SPEC
    path.write_text(spec.masked().model_dump_json(indent=2) + "\n")
    return path


class LoadProcess:
    """The running load worker; `messages` receives its typed progress messages."""

    def __init__(self, spec: LoadSpec, folder: Path) -> None:
        self.messages: queue.Queue[Message] = queue.Queue()
        self.log_path = folder / LOADGEN_LOG
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "profiler.load.worker", "-"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,  # its messages
                stderr=subprocess.PIPE,  # drained into a capped loadgen.log (logcap)
                start_new_session=True,  # our Ctrl-C is ours to relay, in order
                preexec_fn=child_preexec(),
            )
        except OSError as e:
            raise LoadError(f"cannot start the load generator: {e}.", "check the Python environment") from None
        self.log = CappedLog.follow(self.log_path, self.proc.stderr)
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(spec.model_dump_json().encode())
            self.proc.stdin.close()
        except OSError:
            pass  # it died at once; its log and exit code tell why
        self.done: messages.Done | None = None
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            msg = messages.decode(raw)
            if msg is None:
                continue
            if isinstance(msg, messages.Done):
                self.done = msg
            self.messages.put(msg)

    def running(self) -> bool:
        return self.proc.poll() is None

    def drain(self, timeout_s: float = 1.0) -> None:
        """Wait for the last lines of an exited worker (its "done") to be read from the pipe."""
        self._reader.join(timeout=timeout_s)

    def stop(self) -> None:
        """Ask the worker to stop (it flushes its records), escalating if it does not."""
        if self.running():
            stop_process_group(self.proc, grace_s=(0.1, 10.0))
        self._reader.join(timeout=2)
        self.log.close()

    def failure(self) -> str:
        """The last lines of the worker's log, for an error message (from memory: the file may be
        capped, and the last lines of a worker that just exited may still be in the pipe)."""
        lines = self.log.recent(wait_s=0.0 if self.running() else 1.0).strip().splitlines()
        return " | ".join(lines[-3:])
