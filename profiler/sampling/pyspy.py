"""Code attribution with py-spy: record the target's Python stacks.

This is the only module that runs the py-spy binary. Recording is `py-spy record` in its
default blocking mode (the target is paused for each sample, so stacks are consistent)
with `--idle` (waiting threads are kept: waiting is what we want to see) and
`--subprocesses` (uvicorn/gunicorn workers are children of the process we were given).
`--full-filenames` is added so the summary can read the source line a stack stopped on:
a coroutine calling `time.sleep` shows as a Python frame sitting on that line, since
py-spy does not show C functions without `--native`.

Recording is all this module does: parsing and summarising the stacks is analysis
(profiler/analysis/attribution/stacks.py, profiler/analysis/attribution/code.py), the flame graph a renderer
(profiler/report/speedscope.py).
"""

from __future__ import annotations

import linecache
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import IO, Literal

from profiler.base.errors import PySpyUnavailable
from profiler.base.procutil import child_preexec

PERMISSION_FIX = (
    "run as root, or `sudo sysctl kernel.yama.ptrace_scope=0`, or give the container SYS_PTRACE; or pass --no-pyspy."
)
MISSING_FIX = "pip install py-spy, or pass --no-pyspy."
_GONE_FIX = "check why the target exited (see its log), or pass --no-pyspy."
_NOT_PYTHON_FIX = "point --pid at the Python process serving requests, or pass --no-pyspy."
_OTHER_FIX = "pass --no-pyspy to run without code attribution."


# -- locating and running py-spy ---------------------------------------------------------


def find_pyspy() -> Path:
    """The py-spy binary: on PATH, else beside this interpreter (where the wheel puts it)."""
    on_path = shutil.which("py-spy")
    if on_path is not None:
        return Path(on_path)
    # Not resolve(): a venv's python is a symlink to the base interpreter, whose bin/
    # does not hold the venv's py-spy.
    beside = Path(sys.executable).parent / "py-spy"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    raise PySpyUnavailable("py-spy not found.", MISSING_FIX)


_PERMISSION_MARKERS = (
    "permission denied",
    "operation not permitted",
    "elevated permissions",
    "(os error 1)",
    "(os error 13)",
    "ptrace",
)
_GONE_MARKERS = (
    "no such process",
    "(os error 3)",
    "failed to get process executable name",
    "no such file or directory",
    "process exited",
)
_NOT_PYTHON_MARKERS = (
    "failed to find python version",
    "failed to find python interpreter",
    "failed to find a python interpreter",
    "not a python",
    "no python processes found",
)


def _detail(text: str) -> str:
    """The one line of py-spy's output worth quoting, shortened to fit a message."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln.startswith("py-spy>")]
    errors = [ln for ln in lines if ln.lower().startswith(("error:", "permission denied"))]
    chosen = errors[0] if errors else (lines[-1] if lines else "no output")
    chosen = chosen.removeprefix("Error:").strip()
    # py-spy's own advice ("Try running again with sudo ...") would contradict our fix.
    chosen = chosen.split(": Try running", 1)[0].rstrip(".")
    return chosen if len(chosen) <= 120 else chosen[:117] + "..."


Access = Literal["ok", "denied", "gone", "unknown"]


def probe_access(pid: int) -> Access:
    """Whether this process may trace `pid`, asked the way the kernel asks py-spy.

    Opening /proc/PID/mem goes through the same ptrace access check as PTRACE_ATTACH
    (uid match or CAP_SYS_PTRACE, and Yama's ptrace_scope), without attaching.
    """
    try:
        with open(f"/proc/{pid}/mem", "rb"):
            return "ok"
    except PermissionError:
        return "denied"
    except FileNotFoundError:
        return "gone"
    except OSError:
        return "unknown"


def classify_failure(pid: int, returncode: int | None, text: str, access: Access = "unknown") -> PySpyUnavailable:
    """Turn a failed py-spy run (exit status, combined output, probe_access) into one
    message.

    `access` matters because with --subprocesses py-spy reports a process it may not read
    only as "No python processes found in process N or any of its subprocesses".
    """
    lower = text.lower()
    detail = _detail(text)
    if access == "denied" or any(marker in lower for marker in _PERMISSION_MARKERS):
        return PySpyUnavailable(f"py-spy: not permitted to read process {pid} ({detail}).", PERMISSION_FIX)
    if access == "gone" or any(marker in lower for marker in _GONE_MARKERS):
        return PySpyUnavailable(f"py-spy: process {pid} is gone ({detail}).", _GONE_FIX)
    if any(marker in lower for marker in _NOT_PYTHON_MARKERS):
        return PySpyUnavailable(f"py-spy: process {pid} does not look like Python ({detail}).", _NOT_PYTHON_FIX)
    return PySpyUnavailable(f"py-spy failed (exit {returncode}: {detail}).", _OTHER_FIX)


class PySpyRecording:
    """One `py-spy record` run against a pid, writing raw collapsed stacks to `output`.

    start() launches it; wait() lets it run its duration (stopping it if the timeout
    passes first); stop() ends it early with SIGINT, on which py-spy still writes its
    file. Every py-spy problem surfaces as PySpyUnavailable, never as another error.
    """

    def __init__(
        self,
        pid: int,
        output: Path,
        *,
        duration_s: int,
        rate: int = 100,
        gil: bool = False,
        native: bool = False,
        binary: Path | None = None,
    ) -> None:
        self.pid = pid
        self.output = output
        self.duration_s = max(1, int(duration_s))
        self.rate = rate
        self.gil = gil
        self.native = native  # --native: C frames too (py-spy unwinds each native stack: dearer)
        self.binary = binary
        self.log = ""  # py-spy's own stdout+stderr, for the run folder
        self._proc: subprocess.Popen[bytes] | None = None
        self._out: IO[bytes] | None = None  # where py-spy writes its stdout+stderr
        self._done = False

    def command(self, binary: Path) -> list[str]:
        args = [
            str(binary),
            "record",
            "--pid",
            str(self.pid),
            "--rate",
            str(self.rate),
            "--duration",
            str(self.duration_s),
            "--format",
            "raw",
            "--output",
            str(self.output),
            "--idle",
            "--subprocesses",
            "--full-filenames",
            # `thread (TID): name` frames: the thread ids /proc counts each thread's CPU time by.
            "--threads",
        ]
        return [*args, *(["--gil"] if self.gil else []), *(["--native"] if self.native else [])]

    def start(self) -> None:
        if self._proc is not None:
            raise RuntimeError("PySpyRecording.start() called twice")
        binary = self.binary if self.binary is not None else find_pyspy()
        self.output.parent.mkdir(parents=True, exist_ok=True)
        # A file left by an earlier run would pass for this run's result.
        self.output.unlink(missing_ok=True)
        # A nameless file, not a pipe: if we die, py-spy must still be able to print its last lines,
        # or it fails on the broken pipe instead of writing its file and leaving.
        self._out = tempfile.TemporaryFile()  # noqa: SIM115 (lives until _finish() reads it)
        try:
            self._proc = subprocess.Popen(
                self.command(binary),
                stdin=subprocess.DEVNULL,
                stdout=self._out,
                stderr=subprocess.STDOUT,
                # Own session: a Ctrl-C at the terminal goes to the profiler, which then
                # stops py-spy itself, instead of py-spy racing it.
                start_new_session=True,
                # If we die, SIGINT: py-spy stops between two samples and detaches cleanly. A
                # SIGTERM or SIGKILL landing between its PTRACE_ATTACH and the wait for the stop
                # would leave that SIGSTOP pending, and the user's process stopped for good.
                preexec_fn=child_preexec(signal.SIGINT),
            )
        except OSError as err:
            self._out.close()
            raise PySpyUnavailable(f"py-spy could not be started ({binary}: {err.strerror}).", MISSING_FIX) from err

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def wait(self, timeout: float | None = None) -> Path:
        """Wait for py-spy to finish its duration; after `timeout` seconds stop it."""
        proc = self._started()
        if self._done:
            return self._result(proc)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return self.stop()
        return self._finish(proc)

    def stop(self, grace_s: float = 5.0) -> Path:
        """End the recording now: SIGINT (py-spy writes its file), then SIGTERM, SIGKILL."""
        proc = self._started()
        if self._done:
            return self._result(proc)
        for sig, patience in ((signal.SIGINT, grace_s), (signal.SIGTERM, 2.0), (None, None)):
            if proc.poll() is None:
                if sig is None:
                    proc.kill()
                else:
                    proc.send_signal(sig)
            try:
                proc.wait(timeout=patience)
                break
            except subprocess.TimeoutExpired:
                continue
        return self._finish(proc)

    def read_stacks(self) -> str:
        """The recorded collapsed stacks as text (after wait() or stop())."""
        try:
            return self.output.read_text(errors="replace")
        except OSError as err:
            raise PySpyUnavailable(f"py-spy output unreadable ({self.output}: {err.strerror}).", _OTHER_FIX) from err

    def _started(self) -> subprocess.Popen[bytes]:
        if self._proc is None:
            raise RuntimeError("PySpyRecording used before start()")
        return self._proc

    def _finish(self, proc: subprocess.Popen[bytes]) -> Path:
        if self._out is not None:
            self._out.seek(0)
            self.log += self._out.read().decode(errors="replace")
            self._out.close()
            self._out = None
        self._done = True
        return self._result(proc)

    def _result(self, proc: subprocess.Popen[bytes]) -> Path:
        has_file = self.output.is_file()
        has_data = has_file and self.output.stat().st_size > 0
        # rc 0 with an empty file is a recording of nothing (the target exited at once);
        # a non-zero rc with data is a partial recording, still worth keeping.
        if (proc.returncode == 0 and has_file) or has_data:
            return self.output
        raise classify_failure(self.pid, proc.returncode, self.log, probe_access(self.pid))


# -- at record time ------------------------------------------------------------------------


def read_source_line(file: str, line: int) -> str | None:
    """The line from the target's local source file, if it exists. Read while the target runs
    (the run folder keeps the lines of the leaf frames), so analysis never needs the files."""
    text = linecache.getline(file, line)
    return text or None
