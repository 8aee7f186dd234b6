"""Code attribution: what py-spy's stacks say about where the target's time goes.

Pure: profiles and saved source lines in, values out. `summarize_profile` reads one profile
(top functions, waiting share, event-loop blocking); `code_section` turns the profiled stages
of a run into the report's CodeSection and the few values the traits read (CodeSignals).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from profiler.analysis.attribution.stacks import CodeProfile, Frame, parse_frame, short_location

SourceLookup = Callable[[str, int], str | None]

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
        ("main", "multiprocessing/resource_tracker.py"),  # a helper reading its pipe, all its life
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
)
# A sync DB driver's call, in C: waiting on the database's socket (psycopg, pymysql), or running
# on this thread with the GIL let go (sqlite3 scans in C). Only the thread's CPU time tells which
# (analysis/wheretime/); the summary below counts it as waiting, the old reading.
_C_CALL_SOURCE = re.compile(r"\.(?:execute|executemany|executescript|fetchall|fetchone|fetchmany|commit)\(")

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


def _source_matches(pattern: re.Pattern[str], leaf: Frame, source: SourceLookup | None) -> bool:
    if source is None or leaf.line is None:
        return False
    text = source(leaf.file, leaf.line)
    if not text:
        return False
    match = pattern.search(text)
    return match is not None and "await" not in text[: match.start()]


SampleState = Literal["running", "waiting", "c-call"]


def sample_state(all_frames: list[Frame], source: SourceLookup | None) -> tuple[SampleState, bool, bool]:
    """(state, on an event loop's thread, the loop's own wait for I/O) of one stack's frames.

    running: in Python code (on a CPU, or waiting for the GIL); waiting: in a call that blocks
    (a sleep, a lock, a socket read, the loop's select); c-call: in a C call that may do either
    (a DB driver's execute): its thread's CPU time decides, where it was read.
    """
    py_at = [i for i, f in enumerate(all_frames) if f.file.endswith((".py", ".pyx"))]
    if not py_at:
        return "running", False, False
    py_frames = [all_frames[i] for i in py_at]
    # Native frames (with --native) after the last Python frame are the C call it made.
    tail = all_frames[py_at[-1] + 1 :]
    loop = any(_is_loop_frame(f) for f in py_frames)
    loop_idle = loop and _is_loop_idle(py_frames)
    py_leaf = py_frames[-1]
    if (
        loop_idle
        or any(f.base in WAITING_NATIVE_FRAMES for f in tail)
        or _matches(py_leaf, WAITING_PYTHON_LEAVES)
        or _source_matches(_BLOCKING_SOURCE, py_leaf, source)
    ):
        return "waiting", loop, loop_idle
    if _source_matches(_C_CALL_SOURCE, py_leaf, source):
        return "c-call", loop, loop_idle
    return "running", loop, loop_idle


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


@dataclass
class _Tally:
    """Sample counts gathered over the stacks of one profile."""

    self_counts: Counter[str] = field(default_factory=Counter)
    total_counts: Counter[str] = field(default_factory=Counter)
    blocking_sites: Counter[str] = field(default_factory=Counter)
    waiting: int = 0
    on_loop: int = 0
    blocked: int = 0

    def busy(self, frames: list[Frame], count: int) -> None:
        """Count a stack as CPU: its leaf's self time, every function's inclusive time."""
        self.self_counts[frames[-1].function if frames else "(no frames)"] += count
        for function in {f.function for f in frames}:
            self.total_counts[function] += count

    def add(self, stack: tuple[str, ...], count: int, source: SourceLookup | None) -> None:
        all_frames = [f for f in map(parse_frame, stack) if f is not None]
        state, loop, loop_idle = sample_state(all_frames, source)
        is_waiting = state != "running"
        if is_waiting:
            self.waiting += count
        else:
            # Top functions rank where the CPU goes: with --idle, parked pool threads would
            # otherwise top every list. Waiting is reported as idle_share and blocking_sites.
            self.busy(all_frames, count)
        if loop:
            self.on_loop += count
            if is_waiting and not loop_idle:
                self.blocked += count
                py_leaf = next(f for f in reversed(all_frames) if f.file.endswith((".py", ".pyx")))
                self.blocking_sites[py_leaf.function] += count


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

    Pass `source` (the source line at a file and line, e.g. the lines saved at record time)
    to recognise blocking C calls such as time.sleep; without it only the Python-level waits
    in WAITING_PYTHON_LEAVES are seen.
    """
    tally = _Tally()
    for frames, count in profile.stacks:
        tally.add(frames, count, source)
    total = profile.total_samples
    if total == 0:
        return ProfileSummary(0, (), (), 0.0, 0.0, None, (), None)
    gil_share: float | None = None
    busy = total - tally.waiting
    if gil_profile is not None and busy > 0:
        gil_share = min(1.0, gil_profile.total_samples / busy)
    return ProfileSummary(
        total_samples=total,
        # Shares of the busy (non-waiting) samples: with --idle every parked thread adds a sample
        # per tick, so shares of all samples would shrink with the size of the thread pool.
        top_self=_ranked(tally.self_counts, max(busy, 1), top),
        top_total=_ranked(tally.total_counts, max(busy, 1), top),
        idle_share=tally.waiting / total,
        loop_share=tally.on_loop / total,
        blocking_on_loop=tally.blocked / tally.on_loop if tally.on_loop else None,
        blocking_sites=_ranked(tally.blocking_sites, total, top),
        gil_share=gil_share,
    )
