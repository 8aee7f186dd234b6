"""How to restart and roll out without dropping requests (the plan's `rollout`), from what a run
measured: the time from start to first answer (the launch, or a --fault restart's), and a restart's
drain (SIGTERM to exit). The server's own drain flag, and the Kubernetes figures
(report/k8s.py writes them into the Deployment), each defined here once."""

from __future__ import annotations

import math
from dataclasses import dataclass
from urllib.parse import urlsplit

from profiler.schema.events import EventsSection
from profiler.schema.plan import Rollout

PRESTOP_S = 5  # a preStop sleep: endpoints and the load balancer stop sending before SIGTERM
GRACE_MARGIN_S = 5  # past the preStop and the drain, before Kubernetes' SIGKILL
MIN_GRACE_S = 30  # Kubernetes' own default: never plan below it
# A rolling update that never has fewer ready instances than asked: one new instance comes up
# and answers before an old one stops.
MAX_UNAVAILABLE = 0
MAX_SURGE = 1

# The server's own limit on draining at SIGTERM, with the value in seconds.
_DRAIN_FLAG = {
    "gunicorn": "--graceful-timeout {s}",
    "uvicorn": "--timeout-graceful-shutdown {s}",
    "hypercorn": "--graceful-timeout {s}",
    "nginx": "worker_shutdown_timeout {s}s;",
}


@dataclass(frozen=True, slots=True)
class RunFacts:
    """What a run measured that the rollout and the burst playbook read (report/build.py fills it)."""

    folder: str
    url: str
    ready_after_s: float | None  # the launch: started until it answered
    events: EventsSection | None
    open_model: bool


def graceful_timeout_s(timeout_s: float | None, stopped_after_s: float | None) -> int:
    """Long enough for a request in flight to finish (the plan's request timeout) and for the
    drain a restart measured, whichever is longer."""
    return max(1, math.ceil(max(timeout_s or 0.0, stopped_after_s or 0.0)))


def termination_grace_s(graceful_s: int) -> int:
    return max(MIN_GRACE_S, PRESTOP_S + graceful_s + GRACE_MARGIN_S)


def restart_figures(facts: RunFacts | None) -> tuple[float | None, float | None]:
    """A --fault restart's (stopped_after_s, ready_after_s), the slowest if several; (None, None)."""
    if facts is None or facts.events is None:
        return None, None
    restarts = [e.restart for e in facts.events.events if e.restart is not None]
    if not restarts:
        return None, None
    stopped = max(r.stopped_after_s for r in restarts)
    ready = [r.ready_after_s for r in restarts if r.ready_after_s is not None]
    return stopped, (max(ready) if ready else None)


def drain_flag(server: str | None, graceful_s: int) -> str | None:
    flag = _DRAIN_FLAG.get(server or "")
    return flag.format(s=graceful_s) if flag else None


def rollout(facts: RunFacts, server: str | None, timeout_s: float | None) -> Rollout:
    stopped, restart_ready = restart_figures(facts)
    graceful = graceful_timeout_s(timeout_s, stopped)
    parts = urlsplit(facts.url)
    return Rollout(
        ready_after_s=restart_ready if restart_ready is not None else facts.ready_after_s,
        stopped_after_s=stopped,
        graceful_timeout_s=graceful,
        prestop_s=PRESTOP_S,
        termination_grace_period_s=termination_grace_s(graceful),
        readiness_path=parts.path or "/",
        port=parts.port,
        server_flag=drain_flag(server, graceful),
    )
