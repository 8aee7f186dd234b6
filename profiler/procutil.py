"""Process plumbing shared by the target, the sampler and the load worker: children that die with us."""

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


def _die_with_parent() -> None:
    # Linux: ask the kernel to SIGTERM this child when we die, even by SIGKILL, so that no
    # target, sampler or load worker is left orphaned on any exit path. Elsewhere a no-op.
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def child_preexec() -> Callable[[], None]:
    return _die_with_parent


def stop_process_group(proc: subprocess.Popen[bytes], grace_s: tuple[float, float] = (5.0, 3.0)) -> None:
    """SIGINT, then SIGTERM, then SIGKILL to the child's own process group, waiting between."""
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
