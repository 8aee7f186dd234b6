"""Orchestrator side of the process sampler: start it, stop it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from profiler.base.errors import ProfilerError
from profiler.base.logcap import CappedLog
from profiler.base.procutil import child_preexec, stop_process_group
from profiler.runfolder.names import METRICS, PROCESSES, SAMPLER_INFO, SAMPLER_LOG, SAMPLES
from profiler.sampling.metrics import METRICS_ENV


class SamplerProcess:
    def __init__(
        self,
        target_pid: int | None,
        folder: Path,
        interval_s: float,
        gpu: bool,
        metrics_urls: tuple[str, ...] = (),
        root_file: Path | None = None,  # a --fault restart writes the target's new root pid there
    ) -> None:
        # Target 0: not on this machine. The metrics URLs may carry credentials: they go in the
        # environment (readable by this user only, unlike argv), and are masked in all it writes.
        argv = [sys.executable, "-m", "profiler.sampling.process", "--target", str(target_pid or 0)]
        argv += ["--owner", str(os.getpid()), "--interval", str(interval_s)]
        argv += ["--out", str(folder / SAMPLES), "--info", str(folder / SAMPLER_INFO)]
        argv += ["--processes", str(folder / PROCESSES)]
        if not gpu:
            argv.append("--no-gpu")
        if root_file is not None:
            argv += ["--root-file", str(root_file)]
        argv += ["--metrics-out", str(folder / METRICS)]
        env = dict(os.environ, **{METRICS_ENV: json.dumps(list(metrics_urls))})
        try:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                env=env,
                stdout=subprocess.PIPE,  # drained into a capped sampler.log (logcap)
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=child_preexec(),
            )
        except OSError as e:
            raise ProfilerError(
                f"cannot start the sampler process ({argv[0]}: {e.strerror or e}).",
                "check that this Python can run subprocesses as the current user",
            ) from None
        self.log = CappedLog.follow(folder / SAMPLER_LOG, self.proc.stdout)

    def stop(self) -> None:
        # SIGINT first: the sampler flushes and closes its file on it.
        stop_process_group(self.proc, grace_s=(3.0, 2.0))
        self.log.close()
