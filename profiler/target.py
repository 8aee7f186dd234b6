"""The application under test: launched by us (`--launch`) or attached to (`--pid`).

A launched target runs in its own process session, so a Ctrl-C meant for the profiler does not
kill it mid-run; we stop it ourselves at the end (SIGINT, SIGTERM, SIGKILL) and keep its output
in the run folder. An attached target is only observed, never stopped.
"""

from __future__ import annotations

import http.client
import os
import shlex
import socket
import ssl
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psutil

from profiler.errors import ConfigError, TargetExitedError, TargetNotFoundError, TargetNotReadyError
from profiler.procutil import child_preexec, stop_process_group


@dataclass
class Target:
    """A running target: its root pid, and the process we started if we started it."""

    pid: int
    command: str | None
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def launched(self) -> bool:
        return self.proc is not None

    def exit_code(self) -> int | None:
        """The exit code if the target has exited, else None."""
        if self.proc is not None:
            return self.proc.poll()
        return None if psutil.pid_exists(self.pid) else -1

    def alive(self) -> bool:
        return self.exit_code() is None

    def tail(self, lines: int = 8) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        data = self.log_path.read_bytes()[-8192:].decode(errors="replace")
        return " | ".join(line.strip() for line in data.splitlines()[-lines:] if line.strip())

    def stop(self) -> None:
        if self.proc is not None:
            stop_process_group(self.proc)


def launch(command: str, log_path: Path, cwd: Path | None = None) -> Target:
    try:
        argv = shlex.split(command)
    except ValueError as e:
        raise ConfigError(f"--launch command cannot be parsed: {e}.", "check its quotes") from None
    if not argv:
        raise ConfigError("--launch command is empty.", "give the command that starts your app")
    if cwd is not None and not cwd.is_dir():
        raise ConfigError(f"--cwd '{cwd}' is not a folder.", "give the folder the --launch command runs in")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    log = log_path.open("ab")
    try:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=child_preexec(),
        )
    except FileNotFoundError:
        raise ConfigError(
            f"cannot start the target: '{argv[0]}' was not found.",
            "check the --launch command (is its virtualenv active?)",
        ) from None
    except PermissionError:
        raise ConfigError(
            f"cannot start the target: '{argv[0]}' is not executable.", "check the --launch command"
        ) from None
    except OSError as e:
        raise ConfigError(
            f"cannot start the target '{argv[0]}': {e.strerror or e}.",
            "check the --launch command (a script needs a #! line and the executable bit)",
        ) from None
    finally:
        log.close()
    return Target(pid=proc.pid, command=command, proc=proc, log_path=log_path)


def attach(pid: int) -> Target:
    try:
        proc = psutil.Process(pid)
        cmd = " ".join(proc.cmdline())
    except psutil.NoSuchProcess:
        raise TargetNotFoundError(f"no process with pid {pid}.", "check the pid (e.g. `pgrep -f uvicorn`)") from None
    except psutil.AccessDenied:
        raise TargetNotFoundError(
            f"not allowed to read process {pid}.", "run the profiler as the same user as the target, or as root"
        ) from None
    return Target(pid=pid, command=cmd or None)


def _listening(url: str, timeout_s: float) -> bool:
    """The target accepts a TCP connection on the URL's port."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=timeout_s):
            return True
    except OSError:
        return False


def _answers(url: str, timeout_s: float) -> bool:
    parts = urlsplit(url)
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        # A local app often has a self-signed certificate; the load worker does not verify either.
        context = ssl._create_unverified_context()
        conn = http.client.HTTPSConnection(
            parts.hostname or "127.0.0.1", parts.port, timeout=timeout_s, context=context
        )
    else:
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout_s)
    try:
        conn.request("GET", parts.path or "/")
        conn.getresponse().read()
        return True  # any HTTP answer, even 404 or 405, means the server is up
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def ready_check(url: str, probe_path: str | None) -> Callable[[], bool]:
    """How readiness is checked without touching the endpoint: the probe path answers (any HTTP
    status), or without a probe the port accepts connections. A GET to the endpoint itself would
    absorb a lazily loaded model's cold start, and hide it from the report."""
    if probe_path is None:
        return lambda: _listening(url, timeout_s=2.0)
    parts = urlsplit(url)
    probe_url = urlunsplit((parts.scheme, parts.netloc, probe_path, "", ""))
    return lambda: _answers(probe_url, timeout_s=2.0)


def wait_ready(
    target: Target,
    url: str,
    timeout_s: float,
    cancelled: Callable[[], bool] = lambda: False,
    probe_path: str | None = None,
) -> float | None:
    """Block until the target is ready (`ready_check`); return seconds waited (None if cancelled).
    Raise if the target exits or stays silent."""
    ready = ready_check(url, probe_path)
    start = time.monotonic()
    while not cancelled():
        code = target.exit_code()
        if code is not None:
            tail = target.tail()
            raise TargetExitedError(
                f"the target exited with code {code} before answering at {url}"
                + (f"; its last output: {tail}" if tail else "."),
                "run the --launch command by hand to see why it fails",
            )
        if ready():
            return time.monotonic() - start
        if time.monotonic() - start > timeout_s:
            tail = target.tail()
            raise TargetNotReadyError(
                f"the target did not answer at {url} within {timeout_s:g}s"
                + (f"; its last output: {tail}" if tail else "."),
                "check the URL's port matches the app's, or raise --ready-timeout",
            )
        time.sleep(0.1)
    return None
