"""Code attribution with py-spy: record the target's Python stacks, then summarise them.

This is the only module that runs the py-spy binary. Recording is `py-spy record` in its
default blocking mode (the target is paused for each sample, so stacks are consistent)
with `--idle` (waiting threads are kept: waiting is what we want to see) and
`--subprocesses` (uvicorn/gunicorn workers are children of the process we were given).
`--full-filenames` is added so the summary can read the source line a stack stopped on:
a coroutine calling `time.sleep` shows as a Python frame sitting on that line, since
py-spy does not show C functions without `--native`.

Everything after recording is pure: `parse_collapsed`, `summarize_profile`,
`collapsed_to_speedscope` work on text and values only (the source lookup is passed in).
"""

from __future__ import annotations

import linecache
import os
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from profiler.errors import PySpyUnavailable

PERMISSION_FIX = (
    "run as root, or `sudo sysctl kernel.yama.ptrace_scope=0`, or give the container SYS_PTRACE; or pass --no-pyspy."
)
MISSING_FIX = "pip install py-spy, or pass --no-pyspy."
_GONE_FIX = "check why the target exited (see its log), or pass --no-pyspy."
_NOT_PYTHON_FIX = "point --pid at the Python process serving requests, or pass --no-pyspy."
_OTHER_FIX = "pass --no-pyspy to run without code attribution."

SourceLookup = Callable[[str, int], str | None]


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
        binary: Path | None = None,
    ) -> None:
        self.pid = pid
        self.output = output
        self.duration_s = max(1, int(duration_s))
        self.rate = rate
        self.gil = gil
        self.binary = binary
        self.log = ""  # py-spy's own stdout+stderr, for the run folder
        self._proc: subprocess.Popen[str] | None = None
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
        ]
        return [*args, "--gil"] if self.gil else args

    def start(self) -> None:
        if self._proc is not None:
            raise RuntimeError("PySpyRecording.start() called twice")
        binary = self.binary if self.binary is not None else find_pyspy()
        self.output.parent.mkdir(parents=True, exist_ok=True)
        # A file left by an earlier run would pass for this run's result.
        self.output.unlink(missing_ok=True)
        try:
            self._proc = subprocess.Popen(
                self.command(binary),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                # Own session: a Ctrl-C at the terminal goes to the profiler, which then
                # stops py-spy itself, instead of py-spy racing it.
                start_new_session=True,
            )
        except OSError as err:
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
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            return self.stop()
        return self._finish(proc, out)

    def stop(self, grace_s: float = 5.0) -> Path:
        """End the recording now: SIGINT (py-spy writes its file), then SIGTERM, SIGKILL."""
        proc = self._started()
        if self._done:
            return self._result(proc)
        out = ""
        for sig, patience in ((signal.SIGINT, grace_s), (signal.SIGTERM, 2.0), (None, None)):
            if proc.poll() is None:
                if sig is None:
                    proc.kill()
                else:
                    proc.send_signal(sig)
            try:
                out, _ = proc.communicate(timeout=patience)
                break
            except subprocess.TimeoutExpired:
                continue
        return self._finish(proc, out)

    def profile(self) -> CodeProfile:
        """Parse the recorded file (after wait() or stop())."""
        try:
            text = self.output.read_text(errors="replace")
        except OSError as err:
            raise PySpyUnavailable(f"py-spy output unreadable ({self.output}: {err.strerror}).", _OTHER_FIX) from err
        return parse_collapsed(text)

    def _started(self) -> subprocess.Popen[str]:
        if self._proc is None:
            raise RuntimeError("PySpyRecording used before start()")
        return self._proc

    def _finish(self, proc: subprocess.Popen[str], out: str | None) -> Path:
        self.log += out or ""
        self._done = True
        return self._result(proc)

    def _result(self, proc: subprocess.Popen[str]) -> Path:
        has_file = self.output.is_file()
        has_data = has_file and self.output.stat().st_size > 0
        # rc 0 with an empty file is a recording of nothing (the target exited at once);
        # a non-zero rc with data is a partial recording, still worth keeping.
        if (proc.returncode == 0 and has_file) or has_data:
            return self.output
        raise classify_failure(self.pid, proc.returncode, self.log, probe_access(self.pid))


# -- parsing -----------------------------------------------------------------------------


_PROCESS_FRAME = re.compile(r'^process \d+:".*?"(?=;|$)')
_PREFIX_FRAME = re.compile(r"^(process \d+:|thread \()")
_STDLIB_DIR = re.compile(r"/lib/python\d+(?:\.\d+)?t?/")


@dataclass(frozen=True)
class Frame:
    """One Python (or native) frame of a stack: `name (file:line)` in py-spy's output."""

    name: str
    file: str
    line: int | None

    @property
    def function(self) -> str:
        """The function without its line: `name (file.py)`, with a short file."""
        return f"{self.name} ({short_location(self.file)})"

    @property
    def base(self) -> str:
        """The last part of the qualified name: `_run_once` for `BaseEventLoop._run_once`."""
        return self.name.rsplit(".", 1)[-1]


def short_location(file: str) -> str:
    """`asyncio/base_events.py` for a stdlib or site-packages path, else the file name.

    Matches py-spy's default shortening closely enough that full and short recordings
    give the same function names.
    """
    path = file.replace("\\", "/")
    for marker in ("/site-packages/", "/dist-packages/"):
        if marker in path:
            return path.rsplit(marker, 1)[1]
    stdlib = list(_STDLIB_DIR.finditer(path))
    if stdlib:
        return path[stdlib[-1].end() :]
    if path.startswith("/") or re.match(r"^[A-Za-z]:/", path):
        parts = path.rsplit("/", 2)
        # `__init__.py` alone says nothing; keep the package directory.
        return "/".join(parts[-2:]) if parts[-1] == "__init__.py" else parts[-1]
    return path


def parse_frame(text: str) -> Frame | None:
    """A frame, or None for py-spy's `process ...` / `thread (...)` prefix frames."""
    if _PREFIX_FRAME.match(text):
        return None
    if text.endswith(")") and " (" in text:
        name, _, location = text[:-1].rpartition(" (")
        file, sep, line = location.rpartition(":")
        if sep and line.isdigit():
            return Frame(name, file, int(line))
        return Frame(name, location, None)
    return Frame(text, "", None)


def _split_stack(text: str) -> list[str]:
    # The process frame quotes the command line, which may itself contain ';'.
    head = _PROCESS_FRAME.match(text)
    if head is None:
        return [f for f in text.split(";") if f]
    rest = text[head.end() + 1 :]
    return [head.group(0), *(f for f in rest.split(";") if f)]


@dataclass(frozen=True)
class CodeProfile:
    """Collapsed stacks: each (frames root to leaf, samples). Lines that did not parse
    are counted in `skipped_lines`."""

    total_samples: int
    stacks: tuple[tuple[tuple[str, ...], int], ...]
    skipped_lines: int = 0


def parse_collapsed(text: str) -> CodeProfile:
    """Parse py-spy raw / flamegraph.pl collapsed text: `frame;frame;leaf COUNT` a line."""
    counts: dict[tuple[str, ...], int] = {}
    skipped = 0
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        stack, _, count = line.rpartition(" ")
        frames = tuple(_split_stack(stack.strip())) if stack.strip() else ()
        if not frames or not count.isdigit() or int(count) == 0:
            skipped += 1
            continue
        counts[frames] = counts.get(frames, 0) + int(count)
    stacks = tuple(counts.items())
    return CodeProfile(sum(counts.values()), stacks, skipped)


# -- summarising ------------------------------------------------------------------------

# Leaves that mean "this thread is waiting", by (last part of function name, file suffix).
# Without --native, py-spy shows the innermost *Python* frame, so these are the Python
# functions that sit directly on top of a blocking C call.
WAITING_PYTHON_LEAVES: frozenset[tuple[str, str]] = frozenset(
    {
        ("select", "selectors.py"),  # select/poll/epoll/kqueue selectors
        ("_select", "selectors.py"),
        ("readinto", "socket.py"),  # socket reads under http.client, requests, urllib3
        ("accept", "socket.py"),
        ("create_connection", "socket.py"),
        ("getaddrinfo", "socket.py"),
        ("recv", "ssl.py"),
        ("recv_into", "ssl.py"),
        ("read", "ssl.py"),
        ("do_handshake", "ssl.py"),
        ("sendall", "ssl.py"),
        ("wait", "threading.py"),  # Condition/Event/Semaphore/Barrier waits, Future.result
        ("_wait_for_tstate_lock", "threading.py"),  # Thread.join
        ("get", "queue.py"),
        ("put", "queue.py"),
        ("_worker", "concurrent/futures/thread.py"),  # idle pool worker (SimpleQueue.get)
        ("_try_wait", "subprocess.py"),  # os.waitpid
        ("poll", "multiprocessing/connection.py"),
        ("_recv", "multiprocessing/connection.py"),
        # A pool thread waking the loop (call_soon_threadsafe): a socket write that mostly
        # waits for the GIL to come back; counting it as CPU would top every threadpool app.
        ("_write_to_self", "asyncio/selector_events.py"),
    }
)

# Native frames (only present with --native) that block: the C side of the same waits.
WAITING_NATIVE_FRAMES: frozenset[str] = frozenset(
    {
        "time_sleep",
        "pysleep",
        "clock_nanosleep",
        "nanosleep",
        "select",
        "poll",
        "epoll_wait",
        "recv",
        "recvfrom",
        "recvmsg",
        "accept",
        "accept4",
        "connect",
        "PyThread_acquire_lock_timed",
        "acquire_timed",
        "lock_PyThread_acquire_lock",
        "pthread_cond_wait",
        "pthread_cond_timedwait",
        "sem_wait",
        "sem_timedwait",
        "sem_clockwait",
    }
)

# A Python leaf sitting on one of these calls is inside a blocking C function; read from
# the source line because py-spy shows no frame for C functions. `await` on the line
# means the coroutine is suspending, not blocking.
_BLOCKING_SOURCE = re.compile(
    r"(?<![\w.])(?:time\.)?sleep\("  # time.sleep / from time import sleep
    r"|\.acquire\("  # threading.Lock / RLock (C)
    r"|(?<![\w.])select\.(?:select|poll|epoll)\("
    r"|\.(?:recv|recv_into|recvfrom|accept|connect|sendall)\("  # raw socket calls (C)
    r"|(?<![\w.])os\.(?:read|waitpid|wait)\("
    r"|\.(?:execute|executemany|fetchall|fetchone|commit)\("  # sync DB drivers in C
)

# The asyncio (or uvloop) event loop on a stack: the thread running it.
_LOOP_FUNCTIONS = frozenset({"run_forever", "_run_once", "_run", "run_until_complete"})


def _is_loop_frame(frame: Frame) -> bool:
    location = short_location(frame.file)
    if location.startswith("uvloop/") or location == "asyncio/runners.py":
        return True
    return location.startswith("asyncio/") and frame.base in _LOOP_FUNCTIONS


def _matches(frame: Frame, table: frozenset[tuple[str, str]]) -> bool:
    path = "/" + frame.file.replace("\\", "/")
    return any(frame.base == name and path.endswith("/" + suffix) for name, suffix in table)


def _is_loop_idle(py_frames: list[Frame]) -> bool:
    """The loop itself waiting for I/O: selector select under _run_once, or (uvloop, whose
    loop is C) nothing above the runner."""
    leaf = py_frames[-1]
    location = short_location(leaf.file)
    if leaf.base in {"select", "_select"} and location == "selectors.py":
        return len(py_frames) >= 2 and py_frames[-2].base == "_run_once"
    return location.startswith("uvloop/") or location == "asyncio/runners.py"


def _blocking_source(leaf: Frame, source: SourceLookup | None) -> bool:
    if source is None or leaf.line is None:
        return False
    text = source(leaf.file, leaf.line)
    if not text:
        return False
    match = _BLOCKING_SOURCE.search(text)
    return match is not None and "await" not in text[: match.start()]


def read_source_line(file: str, line: int) -> str | None:
    """Source lookup for summarize_profile: the line from the local file, if it exists."""
    text = linecache.getline(file, line)
    return text or None


@dataclass(frozen=True)
class FunctionShare:
    function: str  # `name (file.py)`
    samples: int
    share: float  # of all samples


@dataclass(frozen=True)
class ProfileSummary:
    """What the samples say about where time goes.

    idle_share: samples whose leaf is a waiting call (WAITING_* lists, source lookup).
    loop_share: samples on a thread running an asyncio/uvloop event loop.
    blocking_on_loop: of the loop-thread samples, the share spent in a blocking call
      (not the loop's own wait for I/O); None when no event loop was seen.
    blocking_sites: the functions those blocking samples stopped in.
    gil_share: GIL-holding samples (from a --gil recording of the same window) per
      non-waiting sample of this profile; None without that recording.
    """

    total_samples: int
    top_self: tuple[FunctionShare, ...]
    top_total: tuple[FunctionShare, ...]
    idle_share: float
    loop_share: float
    blocking_on_loop: float | None
    blocking_sites: tuple[FunctionShare, ...]
    gil_share: float | None

    def to_dict(self) -> dict[str, object]:
        def rows(items: tuple[FunctionShare, ...]) -> list[dict[str, object]]:
            return [{"function": i.function, "samples": i.samples, "share": i.share} for i in items]

        return {
            "total_samples": self.total_samples,
            "top_self": rows(self.top_self),
            "top_total": rows(self.top_total),
            "idle_share": self.idle_share,
            "loop_share": self.loop_share,
            "blocking_on_loop": self.blocking_on_loop,
            "blocking_sites": rows(self.blocking_sites),
            "gil_share": self.gil_share,
        }


def _ranked(counter: Counter[str], total: int, top: int) -> tuple[FunctionShare, ...]:
    ordered = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return tuple(FunctionShare(name, n, n / total) for name, n in ordered)


def summarize_profile(
    profile: CodeProfile,
    top: int = 15,
    *,
    gil_profile: CodeProfile | None = None,
    source: SourceLookup | None = None,
) -> ProfileSummary:
    """Top functions, waiting share and event-loop blocking evidence of a profile.

    Pass `source=read_source_line` (on the machine that ran the target, with a
    --full-filenames recording) to recognise blocking C calls such as time.sleep; without
    it only the Python-level waits in WAITING_PYTHON_LEAVES are seen.
    """
    self_counts: Counter[str] = Counter()
    total_counts: Counter[str] = Counter()
    blocking_sites: Counter[str] = Counter()
    waiting = on_loop = blocked = 0
    for frames, count in profile.stacks:
        parsed = [parse_frame(f) for f in frames]
        all_frames = [f for f in parsed if f is not None]
        py_at = [i for i, f in enumerate(all_frames) if f.file.endswith((".py", ".pyx"))]
        py_frames = [all_frames[i] for i in py_at]
        # Native frames (with --native) after the last Python frame are the C call it made.
        tail = all_frames[py_at[-1] + 1 :] if py_at else []
        leaf = all_frames[-1] if all_frames else None
        if not py_frames:
            self_counts[leaf.function if leaf else "(no frames)"] += count
            for function in {f.function for f in all_frames}:
                total_counts[function] += count
            continue
        loop = any(_is_loop_frame(f) for f in py_frames)
        loop_idle = loop and _is_loop_idle(py_frames)
        py_leaf = py_frames[-1]
        is_waiting = (
            loop_idle
            or any(f.base in WAITING_NATIVE_FRAMES for f in tail)
            or _matches(py_leaf, WAITING_PYTHON_LEAVES)
            or _blocking_source(py_leaf, source)
        )
        waiting += count if is_waiting else 0
        if not is_waiting:
            # Top functions rank where the CPU goes: with --idle, parked pool threads would
            # otherwise top every list. Waiting is reported as idle_share and blocking_sites.
            self_counts[leaf.function if leaf else "(no frames)"] += count
            for function in {f.function for f in all_frames}:
                total_counts[function] += count
        if loop:
            on_loop += count
            if is_waiting and not loop_idle:
                blocked += count
                blocking_sites[py_leaf.function] += count
    total = profile.total_samples
    if total == 0:
        return ProfileSummary(0, (), (), 0.0, 0.0, None, (), None)
    gil_share: float | None = None
    busy = total - waiting
    if gil_profile is not None and busy > 0:
        gil_share = min(1.0, gil_profile.total_samples / busy)
    return ProfileSummary(
        total_samples=total,
        # Shares of the busy (non-waiting) samples: with --idle every parked thread adds a sample
        # per tick, so shares of all samples would shrink with the size of the thread pool.
        top_self=_ranked(self_counts, max(busy, 1), top),
        top_total=_ranked(total_counts, max(busy, 1), top),
        idle_share=waiting / total,
        loop_share=on_loop / total,
        blocking_on_loop=blocked / on_loop if on_loop else None,
        blocking_sites=_ranked(blocking_sites, total, top),
        gil_share=gil_share,
    )


# -- speedscope --------------------------------------------------------------------------

SPEEDSCOPE_SCHEMA = "https://www.speedscope.app/file-format-schema.json"


def collapsed_to_speedscope(profile: CodeProfile, name: str) -> dict[str, object]:
    """A speedscope file (one "sampled" profile) to open at https://www.speedscope.app."""
    frame_index: dict[str, int] = {}
    frames: list[dict[str, object]] = []
    samples: list[list[int]] = []
    weights: list[int] = []
    for stack, count in profile.stacks:
        indices: list[int] = []
        for text in stack:
            if text not in frame_index:
                frame_index[text] = len(frames)
                parsed = parse_frame(text)
                entry: dict[str, object] = {"name": text}
                if parsed is not None:
                    entry = {"name": parsed.name, "file": parsed.file}
                    if parsed.line is not None:
                        entry["line"] = parsed.line
                frames.append(entry)
            indices.append(frame_index[text])
        samples.append(indices)
        weights.append(count)
    return {
        "$schema": SPEEDSCOPE_SCHEMA,
        "name": name,
        "exporter": "profiler",
        "activeProfileIndex": 0,
        "shared": {"frames": frames},
        "profiles": [
            {
                "type": "sampled",
                "name": name,
                "unit": "none",
                "startValue": 0,
                "endValue": profile.total_samples,
                "samples": samples,
                "weights": weights,
            }
        ],
    }
