"""The application under test: launched by us (`--launch`) or attached to (`--pid`).

A launched target runs in its own process session, so a Ctrl-C meant for the profiler does not
kill it mid-run; we stop it ourselves at the end (SIGINT, SIGTERM, SIGKILL) and keep its output
in the run folder. An attached target is only observed, never stopped.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psutil

from profiler.base.errors import ConfigError, TargetNotFoundError
from profiler.base.logcap import CappedLog
from profiler.base.procutil import GroupWatchdog, child_preexec, stop_process_group


@dataclass
class Target:
    """A running target: its root pid (None: reached by its URL alone, its processes elsewhere),
    and the process we started if we started it."""

    pid: int | None
    command: str | None
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    log: CappedLog | None = None  # a launched target's output, capped
    watchdog: GroupWatchdog | None = None  # kills its process group if we die first

    @property
    def launched(self) -> bool:
        return self.proc is not None

    def exit_code(self) -> int | None:
        """The exit code if the target has exited, else None (always, for one not on this machine)."""
        if self.proc is not None:
            return self.proc.poll()
        return None if self.pid is None or psutil.pid_exists(self.pid) else -1

    def alive(self) -> bool:
        return self.exit_code() is None

    def tail(self, lines: int = 8) -> str:
        if self.log is not None:
            # From memory: the file may be capped; a target that just exited may still have its
            # last lines in the pipe.
            data = self.log.recent(wait_s=0.0 if self.alive() else 1.0)
        elif self.log_path is None or not self.log_path.exists():
            return ""
        else:
            data = self.log_path.read_bytes()[-8192:].decode(errors="replace")
        return " | ".join(line.strip() for line in data.splitlines()[-lines:] if line.strip())

    def stop(self) -> None:
        if self.proc is not None:
            stop_process_group(self.proc)
        if self.watchdog is not None:
            self.watchdog.disarm()
        if self.log is not None:
            self.log.close()


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
    try:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,  # drained into a capped target.log (logcap)
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
    watchdog = GroupWatchdog(proc.pid)  # start_new_session: its pid is its process group's id
    log = CappedLog.follow(log_path, proc.stdout)
    return Target(pid=proc.pid, command=command, proc=proc, log_path=log_path, log=log, watchdog=watchdog)


def unobserved() -> Target:
    """A target reached by its URL alone: nothing here to sample, stop or watch for exit."""
    return Target(pid=None, command=None)


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
