"""Process plumbing shared by the target, the sampler, the load worker and py-spy: children that
die with us.

Every child is started with PR_SET_PDEATHSIG (child_preexec): the kernel signals it when the
profiler dies, even by SIGKILL. That reaches the direct child only, so a launched target's own
children (a shell's, the workers of gunicorn or `uvicorn --workers`) are covered by a
GroupWatchdog that kills the target's whole process group if the profiler dies without stopping it.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1


# Loaded once here, in the parent: between fork and exec the child may only make the call.
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def child_preexec(sig: int = signal.SIGTERM) -> Callable[[], None]:
    """A preexec_fn that has the kernel send `sig` to the child when we die, even by SIGKILL,
    so that nothing is left orphaned on any exit path (Linux; elsewhere a no-op).

    The kernel sends it when the *thread* that forked the child exits, not the process: children
    are started from the main thread (the session's), never from a thread that may end first.
    The setting is dropped on exec of a set-user-ID binary; none of ours is one.
    """
    parent = os.getpid()  # read here, in the parent

    def die_with_parent() -> None:
        if _LIBC is None:
            return
        _LIBC.prctl(_PR_SET_PDEATHSIG, sig)
        # If we died between fork and prctl, no signal will ever come: the child must not run on.
        if os.getppid() != parent:
            os._exit(1)

    return die_with_parent


def stop_process_group(proc: subprocess.Popen[bytes], grace_s: tuple[float, float] = (5.0, 3.0)) -> None:
    """SIGINT, then SIGTERM, then SIGKILL to the child's own process group, waiting between.
    A stopped group (SIGSTOP, a debugger) is continued first, or it could not act on SIGINT."""
    try:
        os.killpg(proc.pid, signal.SIGCONT)
    except (ProcessLookupError, PermissionError):
        pass
    for sig, wait_s in ((signal.SIGINT, grace_s[0]), (signal.SIGTERM, grace_s[1]), (signal.SIGKILL, 5.0)):
        if proc.poll() is not None:
            break
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        except PermissionError:
            proc.send_signal(sig)
        try:
            proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            continue
    # Whatever else the child left in its group (e.g. workers that ignored the signal) goes too.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def wait_until(predicate: Callable[[], bool], timeout_s: float, step_s: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step_s)
    return predicate()


# Run as `python -I -S -c`: no site and no profiler import, so it starts in milliseconds and does
# not depend on the profiler's environment. A byte on stdin disarms it; EOF alone means the
# profiler died (the kernel closed its end of the pipe): then the group gets SIGTERM, and SIGKILL
# after the grace.
_WATCHDOG = """
import os, signal, sys, time
pgid, grace = int(sys.argv[1]), float(sys.argv[2])
if sys.stdin.buffer.read():
    sys.exit()
for sig in (signal.SIGTERM, signal.SIGKILL):
    deadline = time.monotonic() + grace
    try:
        os.killpg(pgid, sig)
        while time.monotonic() < deadline:
            time.sleep(0.1)
            os.killpg(pgid, 0)
    except OSError:
        sys.exit()
"""


class GroupWatchdog:
    """Kills a launched target's whole process group if the profiler dies without stopping it.

    PR_SET_PDEATHSIG reaches only the target's direct child: the children of a shell
    (`sh -c 'app & wait'`), or workers a server master does not get to stop, would be orphaned.
    The watchdog is a tiny process of its own (its own session: a Ctrl-C does not reach it) that
    waits on a pipe only we hold. What it cannot reach: a process that left the group (setsid,
    a daemon); what the target forked in the milliseconds between its start and the watchdog's,
    if we die right then; and, if the whole group ended before we died, a later group that
    reused its id, which needs the pid space to wrap meanwhile.
    """

    def __init__(self, pgid: int, grace_s: float = 3.0) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _WATCHDOG, str(pgid), str(grace_s)],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError:
            pass  # e.g. out of processes: the target's direct child still dies with us (PDEATHSIG)

    def disarm(self) -> None:
        """The group was stopped in order: let the watchdog go without touching it."""
        proc, self.proc = self.proc, None
        if proc is None or proc.stdin is None:
            return
        try:
            proc.stdin.write(b"x")
            proc.stdin.close()
        except OSError:
            pass  # it is already gone
        try:
            proc.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
