"""Paste-ready configuration from the plan: the worker command line for the server kind found
(gunicorn's and uvicorn's real flags, nothing for a server whose flags we do not know), with
what each flag is for. The Kubernetes objects are rendered in `report/k8s.py` from the plan."""

from __future__ import annotations

import math
import re
import shlex

from profiler.schema.plan import Envelope, ServerConfig
from profiler.schema.report import ServerInfo

# `module.path:attr` or `module:factory()`: an address (127.0.0.1:8000, localhost:80) is no such pair.
_APP = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*(\(.*\))?$")
BACKLOG = 2048  # a listen queue deep enough for a surge (the default 128/2048 varies by server)
KEEP_ALIVE_S = 5  # behind a load balancer, idle connections are held this long


def app_spec(command: str | None) -> str | None:
    """The `module:attr` application argument of a gunicorn/uvicorn command line, if it has one."""
    if not command:
        return None
    try:
        argv = shlex.split(command)
    except ValueError:
        return None
    return next((a for a in argv[1:] if _APP.match(a)), None)


def _gunicorn(server: ServerInfo, app: str, timeout: float) -> tuple[str, list[str]]:
    seconds = max(1, math.ceil(timeout))
    argv = ["gunicorn", app, "--workers", str(server.workers or 1)]
    if server.worker_class:
        argv += ["--worker-class", server.worker_class]
    if server.threads_per_worker and server.threads_per_worker > 1:
        argv += ["--threads", str(server.threads_per_worker)]
    argv += ["--timeout", str(seconds), "--graceful-timeout", str(seconds), "--keep-alive", str(KEEP_ALIVE_S),
             "--backlog", str(BACKLOG)]  # fmt: skip
    notes = [
        f"--workers {server.workers or 1}: the worker count measured; the capacity figures are for it",
        f"--timeout {seconds}: a worker silent this long is restarted (2 x the p99 at capacity)",
        f"--keep-alive {KEEP_ALIVE_S}: idle connections from a load balancer are kept, not reopened",
    ]
    return shlex.join(argv), notes


def _uvicorn(server: ServerInfo, app: str, limit: int | None) -> tuple[str, list[str]]:
    argv = ["uvicorn", app, "--workers", str(server.workers or 1)]
    notes = [f"--workers {server.workers or 1}: the worker count measured; the capacity figures are for it"]
    if limit:
        argv += ["--limit-concurrency", str(limit)]
        notes.append(f"--limit-concurrency {limit}: past the in-flight requests at capacity, answer 503 at once")
    argv += ["--backlog", str(BACKLOG), "--timeout-keep-alive", str(KEEP_ALIVE_S)]
    notes.append("uvicorn has no request timeout: set it at the proxy or load balancer in front")
    return shlex.join(argv), notes


def _named(server: str) -> str:
    return "a server of unknown kind" if server == "unknown" else server


def server_config(
    server: ServerInfo | None, env: Envelope, timeout: float, limit: int | None, command: str | None = None
) -> ServerConfig | None:
    if server is None:
        return None
    app = app_spec(command) or "APP_MODULE:app"
    if server.server == "gunicorn":
        line, notes = _gunicorn(server, app, timeout)
    elif server.server == "uvicorn":
        line, notes = _uvicorn(server, app, limit)
    else:
        shed = f"a concurrency limit of {limit} in flight and " if limit else ""
        return ServerConfig(
            server=server.server,
            notes=[
                f"no server flags are known for {_named(server.server)}: set {shed}a request timeout of {timeout:g} s at the "
                "proxy or load balancer in front"
            ],  # fmt: skip
        )
    if app == "APP_MODULE:app":
        notes.append("APP_MODULE:app stands for your application (the command line measured did not name one)")
    return ServerConfig(server=server.server, command=line, notes=notes)
