"""One exception hierarchy for everything a user can cause; the CLI catches it once.

    ProfilerError                 base: `str(err)` is one line naming the problem and the fix
    ├── ConfigError               bad option, URL, header, body file, stage list, SLO...
    ├── TargetError               the target app
    │   ├── TargetExitedError     it exited (at start or mid-run)
    │   ├── TargetHungError       it stopped answering mid-run
    │   ├── TargetNotReadyError   it never answered within --ready-timeout
    │   └── TargetNotFoundError   --pid names no process we can see
    ├── LoadError                 the load generator failed to start or died
    ├── RunFolderError            a run folder is missing, unreadable or not a run
    └── SamplerUnavailable        an optional sampler (GPU, RAPL, py-spy) cannot run here;
        ├── GpuUnavailable        never fatal: the run goes on and the report says why
        ├── EnergyUnavailable
        └── PySpyUnavailable

Every message is written for the person at the terminal: what went wrong, then what to do.
"""

from __future__ import annotations

import errno
import re

# Exit codes, one meaning each (docs/cli.md): CI must tell "slower" from "could not measure".
EXIT_OK = 0
EXIT_CHECK_FAILED = 1  # a gate's check or --fail-on rule failed
EXIT_USAGE = 2  # bad option, check, config file or run folder; a full disk
EXIT_TARGET_FAILED = 3  # the target exited, hung, never answered, or is not the server at the URL
EXIT_LOAD_FAILED = 4  # the load generator failed
EXIT_NOT_JUDGEABLE = 5  # a gate could not judge: the run (or the stage a check names) is not valid enough
EXIT_INTERRUPTED = 130

_BREAKS = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")


def _one_line(text: str) -> str:
    return _BREAKS.sub(" ", text)


class ProfilerError(Exception):
    """Base of every error a user can cause. The message is one readable line."""

    exit_code = EXIT_USAGE

    def __init__(self, problem: str, fix: str | None = None) -> None:
        # One line whatever the user typed: a line break quoted from an option stays out of it.
        problem, fix = _one_line(problem), _one_line(fix) if fix is not None else None
        self.problem = problem
        self.fix = fix
        super().__init__(problem if not fix else f"{problem} Fix: {fix}")


class ConfigError(ProfilerError):
    """A command-line option or input file is invalid."""


class TargetError(ProfilerError):
    """The target application misbehaved."""

    exit_code = EXIT_TARGET_FAILED


class TargetExitedError(TargetError):
    """The target process exited."""


class TargetHungError(TargetError):
    """The target stopped answering during the run."""


class TargetNotReadyError(TargetError):
    """The target never answered at its URL."""


class TargetNotFoundError(TargetError):
    """No process with the given pid."""


class LoadError(ProfilerError):
    """The load generator could not run."""

    exit_code = EXIT_LOAD_FAILED


class RunFolderError(ProfilerError):
    """A run folder cannot be read or written."""


class SamplerUnavailable(ProfilerError):
    """An optional sampler cannot run on this machine; the run continues without it."""


class GpuUnavailable(SamplerUnavailable):
    """No NVML library or no GPU."""


class EnergyUnavailable(SamplerUnavailable):
    """No readable RAPL counters."""


class PySpyUnavailable(SamplerUnavailable):
    """py-spy is missing or lacks permission to read the target."""


def disk_fix(folder: object) -> str:
    """The fix for a run folder that cannot be written, the same wherever it is said."""
    return f"free disk space where {folder} is, or choose another --out"


def folder_write_error(
    folder: object, e: OSError, what: str | None = None, fix: str = "choose a writable --out folder"
) -> RunFolderError:
    """A run folder (or `what` in it) that could not be written, named for its cause: a full disk
    is not a permissions problem, and the fix differs."""
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return RunFolderError(f"the disk is full: cannot write the run folder {folder}.", disk_fix(folder))
    return RunFolderError(f"cannot write {what or f'the run folder {folder}'}: {e.strerror or e}.", fix)
