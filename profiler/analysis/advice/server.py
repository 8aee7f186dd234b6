"""Advice in the words of the server found: which option adds processes or threads on gunicorn,
uvicorn, waitress, node... Never a Python server's option for a target that is not Python.

A table, by server name (analysis/server.py); a server not in it gets the generic wording.
"""

from __future__ import annotations

from dataclasses import dataclass

from profiler.schema.report import ServerInfo


@dataclass(frozen=True, slots=True)
class Knobs:
    """How a server is given more processes or threads; `{n}` / `{t}` are filled in."""

    processes: str | None  # more worker processes
    threads: str | None = None  # more request threads per worker
    concurrent: str | None = None  # a way to serve many requests per worker (async)


KNOBS: dict[str, Knobs] = {
    "gunicorn": Knobs(
        "`gunicorn -w {n}`",
        "`gunicorn -k gthread --threads {t}`",
        "an async worker class (`-k gevent` for a WSGI app patched for it, `-k uvicorn.workers.UvicornWorker` for ASGI)",
    ),
    "uvicorn": Knobs("`uvicorn --workers {n}`"),
    "hypercorn": Knobs("`hypercorn --workers {n}`"),
    "granian": Knobs("`granian --workers {n}`"),
    "waitress": Knobs(None, "`waitress-serve --threads {t}`"),
    "werkzeug": Knobs(None, None, None),
    "node": Knobs("the cluster module or `pm2 start app.js -i {n}`", "worker_threads for CPU work"),
    "nginx": Knobs("`worker_processes {n};`"),
}
GENERIC_PYTHON = Knobs("e.g. `gunicorn -w {n}` or `uvicorn --workers {n}`")
GENERIC_OTHER = Knobs("the server's worker or process setting")


def knobs(server: ServerInfo | None) -> Knobs:
    if server is not None and server.server in KNOBS:
        return KNOBS[server.server]
    return GENERIC_OTHER if server is not None and server.language == "other" else GENERIC_PYTHON


def processes_how(server: ServerInfo | None, n: int) -> str:
    """How to run `n` worker processes on this server: '`gunicorn -w 4`'."""
    how = knobs(server).processes
    if how is None:
        how = "several instances of the server behind a load balancer (it has no worker-process option)"
    return how.format(n=n)


def processes_text(server: ServerInfo | None, n: int) -> str:
    """'Run 4 worker processes per instance (`gunicorn -w 4`)' in the server's words."""
    return f"Run {n} worker processes per instance ({processes_how(server, n)})"


def threads_text(server: ServerInfo | None, t: int) -> str | None:
    how = knobs(server).threads
    return how.format(t=t) if how else None


def concurrent_text(server: ServerInfo | None) -> str | None:
    return knobs(server).concurrent


def server_name(server: ServerInfo | None) -> str:
    if server is None or server.server == "unknown":
        return "the server"
    return server.server + (f" ({server.worker_class} workers)" if server.worker_class else "")
