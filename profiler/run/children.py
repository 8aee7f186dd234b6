"""The run's children checked from the drive loop: a target that exited, a load generator that
stopped without saying why, each one error naming where to look."""

from __future__ import annotations

from profiler.base.errors import LoadError, TargetExitedError
from profiler.load.driver import LoadProcess
from profiler.run.target import Target


def check_children(load: LoadProcess, target: Target, restarting: bool = False) -> None:
    if not restarting and not target.alive():  # a --fault restart stops it on purpose
        raise TargetExitedError(f"the target exited (code {target.exit_code()}) during the run.", "see target.log")
    if load.running():
        return
    load.drain()  # its last lines ("done") may still be in the pipe
    if load.messages.empty() and load.done is None:
        raise LoadError(
            f"the load generator stopped unexpectedly (exit {load.proc.returncode})"
            + (f": {load.failure()}" if load.failure() else "."),
            f"see {load.log_path}",
        )
