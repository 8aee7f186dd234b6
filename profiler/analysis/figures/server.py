"""The serving shape of the target, worked out from its process tree: what the verdicts rest on.

A plateau with the CPU idle means different things on different servers. On gunicorn's sync
workers it is the worker pool full (each worker serves one request at a time, and even a probe
waits for a free worker); on an asyncio server it is a loop blocked by a call that does not
await; on either, a cap inside the app (a lock, a small pool) leaves the probe fast. So the
analysis first says which server it is, how many requests it can serve at once (its *slots*:
workers x threads for a pool, unbounded for an event loop), and the cores it may use.

Everything comes from what the sampler kept (processes.jsonl: names and masked command lines,
per-process threads and CPU, the target's CPU limit), with py-spy's stacks as a hint where taken.
Each fact says how it was found (`evidence`); what cannot be told is `unknown`, never guessed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from profiler.runfolder.engine import ProcessFigures
from profiler.runfolder.meta import CpuLimit
from profiler.runfolder.read import RunData
from profiler.runfolder.records import ProcessInfo
from profiler.schema.report import ServerInfo, ServingModel

PYTHON_EXE = re.compile(r"^(python|pypy)[\d.]*[dmu]?$")
HELPER_MARKERS = ("multiprocessing.resource_tracker", "multiprocessing.semaphore_tracker", "multiprocessing.forkserver")
SPAWNED_MARKER = "multiprocessing.spawn"


@dataclass(frozen=True, slots=True)
class KnownServer:
    """A server recognised by the program it runs: its language and how it serves by default."""

    name: str
    python: bool
    model: ServingModel  # without options that say otherwise
    threads: int | None = None  # request threads per worker by default (pools)


# By the name of the program in the root's command line (a script's name, or `-m module`).
KNOWN: dict[str, KnownServer] = {
    "gunicorn": KnownServer("gunicorn", True, "sync-pool", 1),
    "uvicorn": KnownServer("uvicorn", True, "event-loop"),
    "hypercorn": KnownServer("hypercorn", True, "event-loop"),
    "daphne": KnownServer("daphne", True, "event-loop"),
    "granian": KnownServer("granian", True, "event-loop"),
    "fastapi": KnownServer("uvicorn", True, "event-loop"),  # `fastapi run` is uvicorn
    "waitress-serve": KnownServer("waitress", True, "threaded-pool", 4),
    "flask": KnownServer("werkzeug", True, "thread-per-request"),
    "django": KnownServer("django runserver", True, "thread-per-request"),
    "nginx": KnownServer("nginx", False, "event-loop"),
    "node": KnownServer("node", False, "event-loop"),
    "deno": KnownServer("deno", False, "event-loop"),
    "bun": KnownServer("bun", False, "event-loop"),
}

# By the server's own modules on py-spy's stacks, for an app that starts its server itself
# (`waitress.serve(app)`, `uvicorn.run(app)`, `app.run()`): the file path a frame is in -> KNOWN key.
STACK_SERVERS: tuple[tuple[str, str], ...] = (
    ("/gunicorn/", "gunicorn"),
    ("/waitress/", "waitress-serve"),
    ("/uvicorn/", "uvicorn"),
    ("/hypercorn/", "hypercorn"),
    ("/daphne/", "daphne"),
    ("/granian/", "granian"),
    ("/django/core/servers/basehttp.py", "django"),
    ("/werkzeug/serving.py", "flask"),
)

# gunicorn's worker classes (-k): how each serves requests.
GUNICORN_CLASSES: dict[str, ServingModel] = {
    "sync": "sync-pool",
    "gthread": "threaded-pool",
    "gevent": "event-loop",
    "eventlet": "event-loop",
    "tornado": "event-loop",
    "uvicorn": "event-loop",  # uvicorn.workers.UvicornWorker, uvicorn_worker.UvicornWorker
    "aiohttp": "event-loop",
}


def is_python(p: ProcessInfo) -> bool:
    names = [os.path.basename(p.exe), p.name, os.path.basename(p.cmdline[0]) if p.cmdline else ""]
    return any(PYTHON_EXE.match(n) for n in names if n)


def is_helper(p: ProcessInfo) -> bool:
    """multiprocessing's own helpers: they serve nothing."""
    joined = " ".join(p.cmdline)
    return any(marker in joined for marker in HELPER_MARKERS)


def program(p: ProcessInfo) -> str:
    """The program a process runs: the script after the interpreter, `-m module`, or the binary."""
    args = list(p.cmdline)
    if args and is_python(p):
        rest = args[1:]
        while rest and rest[0].startswith("-") and rest[0] not in ("-m", "-c"):
            rest = rest[1:]
        if rest[:1] == ["-c"]:
            return "multiprocessing worker" if SPAWNED_MARKER in " ".join(rest) else "python -c"
        if rest[:1] == ["-m"] and len(rest) > 1:
            return rest[1].split(".")[0]
        if rest:
            return os.path.basename(rest[0])
        return "python"
    # A native server's name is its own (nginx rewrites its command line to "nginx: master ...").
    return p.name or (os.path.basename(args[0]) if args else "")


def option(argv: Sequence[str], *names: str) -> str | None:
    """The value of an option given as `-w 2`, `--workers 2` or `--workers=2` (the last one wins)."""
    found = None
    for i, arg in enumerate(argv):
        for name in names:
            if arg == name and i + 1 < len(argv):
                found = argv[i + 1]
            elif arg.startswith(name + "=") and name.startswith("--"):
                found = arg.split("=", 1)[1]
            elif (
                not name.startswith("--") and arg.startswith(name) and len(arg) > len(name) and arg[len(name)].isdigit()
            ):
                found = arg[len(name) :]  # -w2
    return found


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


def _gunicorn_class(value: str | None) -> str | None:
    """'uvicorn.workers.UvicornWorker' -> 'uvicorn'; 'gthread' -> 'gthread'."""
    if value is None:
        return None
    low = value.lower()
    return next((k for k in GUNICORN_CLASSES if k in low), low)


@dataclass
class _Shape:
    """What is being worked out, with how each part was found."""

    server: str = "unknown"
    python: bool | None = None
    model: ServingModel = "unknown"
    worker_class: str | None = None
    threads: int | None = None
    evidence: list[str] = field(default_factory=list)

    def say(self, text: str) -> None:
        self.evidence.append(text)


def _roles(
    processes: Sequence[ProcessInfo], root: int | None
) -> tuple[ProcessInfo | None, list[ProcessInfo], list[ProcessInfo]]:
    """(master, workers, helpers): the root is a master when it has children that are not helpers."""
    by_pid = {p.pid: p for p in processes}
    top = by_pid.get(root) if root is not None else None
    if top is None and processes:
        top = min(processes, key=lambda p: (p.pid not in {q.ppid for q in processes}, p.t, p.pid))
    helpers = [p for p in processes if is_helper(p)]
    others = [p for p in processes if p is not top and not is_helper(p)]
    if top is None:
        return None, others, helpers
    direct = [p for p in others if p.ppid == top.pid]
    if direct:
        return top, direct, helpers
    return None, [top], helpers


def _apply_gunicorn(shape: _Shape, argv: Sequence[str], workers: list[ProcessInfo]) -> None:
    cls = _gunicorn_class(option(argv, "-k", "--worker-class"))
    threads = _int(option(argv, "--threads"))
    if cls is None:
        cls = "gthread" if threads and threads > 1 else "sync"
        shape.say(f"worker class {cls}: no -k given" + (f", --threads {threads}" if threads else ""))
    else:
        shape.say(f"worker class {cls} from -k")
    shape.worker_class = cls
    shape.model = GUNICORN_CLASSES.get(cls, "unknown")
    if shape.model == "sync-pool":
        shape.threads = 1
    elif shape.model == "threaded-pool":
        shape.threads = threads or 1
    declared = _int(option(argv, "-w", "--workers"))
    if declared is not None and declared != len(workers):
        shape.say(f"-w {declared} given, {len(workers)} worker processes seen")


def _apply_known(shape: _Shape, root: ProcessInfo, workers: list[ProcessInfo], stack_server: str | None) -> None:
    name = program(root)
    known = KNOWN.get(name)
    if known is None and stack_server is not None:
        known = KNOWN[stack_server]
        shape.server, shape.model, shape.threads = known.name, known.model, known.threads
        shape.say(f"{known.name} from its modules on py-spy's stacks (the program '{name}' starts it itself)")
        return
    if known is None:
        shape.say(f"server not recognised from its program '{name}'")
        return
    shape.server, shape.model, shape.threads = known.name, known.model, known.threads
    shape.say(f"{known.name} from the command line")
    if known.name == "gunicorn":
        _apply_gunicorn(shape, root.cmdline, workers)
    elif known.name == "waitress":
        shape.threads = _int(option(root.cmdline, "--threads")) or known.threads


def infer_server(
    processes: Sequence[ProcessInfo],
    figures: Sequence[ProcessFigures],
    limit: CpuLimit | None,
    root_pid: int | None = None,
    asyncio_seen: bool | None = None,
    stack_server: str | None = None,
) -> ServerInfo:
    """The target's serving shape; `asyncio_seen` and `stack_server` (a KNOWN key) are py-spy's
    hints: asyncio frames, a server's own modules in its stacks."""
    shape = _Shape()
    master, workers, helpers = _roles(processes, root_pid)
    root = master or (workers[0] if workers else None)
    if root is not None:
        shape.python = is_python(root)
        _apply_known(shape, root, workers, stack_server)
    if shape.model == "unknown" and asyncio_seen is not None and shape.python:
        shape.model = "event-loop" if asyncio_seen else "unknown"
        if asyncio_seen:
            shape.say("asyncio event loop in py-spy's stacks")
    cpu = {f.pid: f for f in figures}
    busiest = max(figures, key=lambda f: f.cpu_mean, default=None)
    threads_seen = max((cpu[w.pid].threads_max or 0 for w in workers if w.pid in cpu), default=0) or None
    cores = limit.available if limit is not None else None
    slots = len(workers) * shape.threads if shape.threads and shape.model in ("sync-pool", "threaded-pool") else None
    return ServerInfo(
        language="python" if shape.python else "unknown" if shape.python is None else "other",
        program=program(root) if root is not None else None,
        server=shape.server,
        worker_class=shape.worker_class,
        model=shape.model,
        workers=len(workers),
        threads_per_worker=shape.threads,
        threads_seen_per_worker=threads_seen,
        slots=slots,
        master_pid=master.pid if master is not None else None,
        worker_pids=[w.pid for w in workers],
        helper_pids=[h.pid for h in helpers],
        busiest_pid=busiest.pid if busiest is not None and busiest.cpu_mean > 0 else None,
        busiest_process=_describe(next((p for p in processes if busiest and p.pid == busiest.pid), None)),
        cores_available=round(cores, 2) if cores is not None else None,
        cores_source=_cores_source(limit),
        evidence=shape.evidence,
    )


def _describe(p: ProcessInfo | None) -> str | None:
    if p is None:
        return None
    role = "helper" if is_helper(p) else program(p)
    return f"{role} (pid {p.pid})"


def _cores_source(limit: CpuLimit | None) -> str | None:
    if limit is None:
        return None
    if limit.quota is not None and limit.quota <= min(limit.machine, limit.affinity or limit.machine):
        return f"cgroup quota ({limit.quota_source})"
    if limit.affinity is not None and limit.affinity < limit.machine:
        return "CPU affinity"
    return "machine"


def server_line(s: ServerInfo) -> str:
    """One line for the terminal: 'gunicorn, 2 sync workers x 1 thread, Python, 2 cores available'."""
    parts = [s.server if s.server != "unknown" else (s.program or "unknown server")]
    kind = s.worker_class or {"event-loop": "event-loop", "sync-pool": "sync", "threaded-pool": "threaded"}.get(s.model)
    workers = f"{s.workers} {kind + ' ' if kind else ''}worker{'s' if s.workers != 1 else ''}"
    if s.threads_per_worker is not None and s.model in ("sync-pool", "threaded-pool"):
        workers += f" x {s.threads_per_worker} thread{'s' if s.threads_per_worker != 1 else ''}"
    parts.append(workers)
    parts.append({"python": "Python", "other": "not Python"}.get(s.language, "language unknown"))
    if s.cores_available is not None:
        parts.append(f"{s.cores_available:g} cores available")
    return ", ".join(parts)


ASYNCIO_FRAMES = ("asyncio/base_events.py", "(base_events.py)", "uvloop")


def server_of(run: RunData) -> ServerInfo | None:
    """The run's serving shape; None when the sampler saw no process of the target."""
    if not run.processes:
        return None
    stacks = [p.stacks for p in run.profiles.values() if p.stacks]
    asyncio_seen = any(marker in text for text in stacks for marker in ASYNCIO_FRAMES) if stacks else None
    limit = run.meta.sampler.cpu_limit
    if limit is None and run.meta.sampler.ncpu:
        limit = CpuLimit(machine=run.meta.sampler.ncpu)
    seen = next((key for marker, key in STACK_SERVERS if any(marker in text for text in stacks)), None)
    return infer_server(run.processes, run.samples.processes(), limit, run.meta.target.pid, asyncio_seen, seen)
