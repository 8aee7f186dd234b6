"""Orchestrator side of the load generator: starts the worker process, relays its progress.

This module must not import Locust: it runs in the profiler's own process, on real threads.
"""

from __future__ import annotations

import base64
import json
import queue
import subprocess
import sys
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Any

from profiler.config import RunConfig
from profiler.errors import LoadError
from profiler.load.plan import StagePlan
from profiler.procutil import child_preexec, stop_process_group
from profiler.record import LOADGEN_LOG

SECRET_HEADERS = ("authorization", "cookie", "proxy-authorization", "x-api-key", "api-key")


def build_spec(config: RunConfig, plan: tuple[StagePlan, ...], folder: Path) -> dict[str, Any]:
    spec = {
        "url": config.url,
        "method": config.method,
        "headers": dict(config.headers),
        "body_b64": base64.b64encode(config.body).decode() if config.body else None,
        "timeout_s": config.request_timeout_s,
        "plan": [asdict(p) for p in plan],
        "out_dir": str(folder),
        "probe_path": config.probe_path if config.probe else None,
        "probe_rate": config.probe_rate,
        "early_stop": config.early_stop,
        "max_requests": config.max_requests,
        "max_inflight": config.max_inflight,
        "profile_s": config.pyspy_seconds if config.pyspy else None,
    }
    return spec


def write_spec(spec: dict[str, Any], folder: Path) -> Path:
    """A copy for the record, with secret headers masked and the body left out: the worker
    gets the real spec on its stdin."""
    shown = dict(spec)
    shown["headers"] = {k: ("***" if k.lower() in SECRET_HEADERS else v) for k, v in spec["headers"].items()}
    shown["body_b64"] = "<omitted>" if spec.get("body_b64") else None
    path = folder / "loadgen-spec.json"
    path.write_text(json.dumps(shown, indent=2) + "\n")
    return path


class LoadProcess:
    """The running load worker; `messages` receives its JSON progress lines."""

    def __init__(self, spec: dict[str, Any], folder: Path) -> None:
        self.messages: queue.Queue[dict[str, Any]] = queue.Queue()
        log = (folder / LOADGEN_LOG).open("ab")
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "profiler.load.worker", "-"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                start_new_session=True,  # our Ctrl-C is ours to relay, in order
                preexec_fn=child_preexec(),
            )
        except OSError as e:
            raise LoadError(f"cannot start the load generator: {e}.", "check the Python environment") from None
        finally:
            log.close()
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(spec).encode())
            self.proc.stdin.close()
        except OSError:
            pass  # it died at once; its log and exit code tell why
        self.log_path = folder / LOADGEN_LOG
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.done: dict[str, Any] | None = None

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            try:
                msg = json.loads(raw)
            except json.JSONDecodeError:
                continue
            if msg.get("type") == "done":
                self.done = msg
            self.messages.put(msg)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        """Ask the worker to stop (it flushes its records), escalating if it does not."""
        if self.running():
            stop_process_group(self.proc, grace_s=(0.1, 10.0))
        self._reader.join(timeout=2)

    def wait(self, timeout_s: float) -> int | None:
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def failure(self) -> str:
        """The last lines of the worker's log, for an error message."""
        try:
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(lines[-3:])
