"""The target's serving shape as report.json carries it (`target.server`); worked out by
profiler/analysis/figures/server.py. Its own module so the report schema stays one readable page."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from profiler.schema.base import ReportModel as _Model

ServingModel = Literal["sync-pool", "threaded-pool", "thread-per-request", "event-loop", "unknown"]


class ServerInfo(_Model):
    """The target's serving shape, worked out from its process tree (docs/traits.md, "The server")."""

    language: Literal["python", "other", "unknown"] = Field(
        description="Python when the serving processes run a Python interpreter; other: a native or other runtime."
    )
    program: str | None = Field(
        None, description="The program the root process runs (a script, `-m module`, a binary)."
    )
    server: str = Field(description="gunicorn, uvicorn, hypercorn, nginx, node, ... or unknown.")
    worker_class: str | None = Field(None, description="gunicorn's worker class (sync, gthread, uvicorn, gevent, ...).")
    model: ServingModel = Field(
        description="How requests are served at once: sync-pool (one per worker), threaded-pool (one per thread), "
        "thread-per-request, event-loop (many per loop), or unknown."
    )
    workers: int = Field(ge=0, description="Processes that serve requests (not the master, not helpers).")
    threads_per_worker: int | None = Field(None, ge=1, description="Request threads per worker, for a pool.")
    threads_seen_per_worker: int | None = Field(None, ge=0, description="Most threads sampled in one worker.")
    slots: int | None = Field(
        None,
        ge=1,
        description="Requests the server can serve at once (workers x threads); null when unbounded or unknown.",
    )
    master_pid: int | None = Field(None, description="The process that manages the workers, if any.")
    worker_pids: list[int] = Field(default_factory=list, description="The worker processes.")
    helper_pids: list[int] = Field(default_factory=list, description="Helpers that serve nothing (multiprocessing's).")
    busiest_pid: int | None = Field(None, description="The process that used the most CPU over the measured stages.")
    busiest_process: str | None = Field(None, description="What it runs, e.g. 'gunicorn (pid 41)'.")
    cores_available: float | None = Field(
        None, ge=0, description="Cores the target may use: the machine's, narrowed by affinity and cgroup quota."
    )
    cores_source: str | None = Field(
        None, description="Where that figure came from (machine, CPU affinity, cgroup quota)."
    )
    evidence: list[str] = Field(default_factory=list, description="How each part was found.")


class ProcessCode(_Model):
    """One process of the tree as py-spy saw it during a profiled stage."""

    pid: int | None = Field(None, description="Its pid (null when py-spy did not name processes).")
    command: str = Field(description="Its command line as py-spy read it, cut to 80 characters.")
    busy_share: float = Field(ge=0, le=1, description="Its busy (non-waiting) samples, as a share of all samples.")
    top_function: str | None = Field(None, description="Its top function by self time.")
