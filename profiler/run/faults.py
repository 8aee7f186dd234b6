"""Sending the run's --fault signals at their times, only to processes of the target this run
launched or attached to; each one sent is a line of faults.jsonl (runfolder/faults.py).

`resolve()` runs once the target answers, before any load: a fault with nothing to act on (no
reload signal for this server, no worker to kill, no process of that name, a restart of a target
this run did not start) is one ConfigError then, and nothing has been loaded. `tick()` from the
drive loop sends what is due; a restart runs on its own thread (run/restart.py) and, if the target
does not come back, tick() raises what went wrong once it is known.
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from profiler.base.errors import ConfigError
from profiler.base.faults import Fault
from profiler.base.secrets import mask_argv
from profiler.run.restart import ReadyWait, Restarter, RestartResult, write_root
from profiler.run.target import Target
from profiler.runfolder.faults import FaultRecord, RestartFigures
from profiler.runfolder.names import FAULTS, TARGET_ROOT

# multiprocessing's own helpers beside a pool's workers (uvicorn --workers starts a resource tracker):
# not a worker, and killing one breaks the pool's shutdown rather than testing its respawn.
MP_HELPERS = ("multiprocessing.resource_tracker", "multiprocessing.semaphore_tracker", "multiprocessing.forkserver")
# Servers whose master reloads its workers gracefully on SIGHUP (found in its name or command line).
RELOAD_ON_HUP = ("gunicorn", "nginx", "uwsgi", "httpd", "apache2", "haproxy")


@dataclass
class _Due:
    fault: Fault
    pid: int
    process: str
    sent_at: float | None = None  # epoch s, once sent
    resumed: bool = False


def _describe(proc: psutil.Process) -> str:
    try:
        return " ".join(" ".join(mask_argv(proc.cmdline())).split())[:200] or proc.name()  # redis pads its title
    except psutil.Error:
        return str(proc.pid)


def _tree(root: psutil.Process) -> list[psutil.Process]:
    try:
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return [root]


def _target_of(fault: Fault, root: psutil.Process, launched: bool = True) -> psutil.Process:
    tree = _tree(root)
    if fault.kind == "restart":
        if launched:
            return root
        raise ConfigError(f"--fault {fault.label()}: the target was attached to (--pid), so the profiler cannot "
                          "start it again.", "give the command that starts it with --launch")  # fmt: skip
    if fault.kind == "reload":
        if any(s in _describe(root) for s in RELOAD_ON_HUP):
            return root
        raise ConfigError(f"--fault {fault.label()}: the target ({_describe(root)[:60]}) has no reload signal "
                          "the profiler knows.", f"reload works for {', '.join(RELOAD_ON_HUP)} (SIGHUP to the master)")  # fmt: skip
    if fault.kind == "kill-worker":
        workers = [p for p in tree[1:] if p.ppid() == root.pid and not any(h in _describe(p) for h in MP_HELPERS)]
        if not workers:
            raise ConfigError(f"--fault {fault.label()}: the target has no worker processes to kill.",
                              "kill-worker needs a pool (gunicorn -w N, uvicorn --workers N)")  # fmt: skip
        return workers[0]
    name = fault.name or ""
    found = next((p for p in tree if name in p.name() or name in _describe(p)), None)
    if found is None:
        raise ConfigError(f"--fault {fault.label()}: no process of the target's tree is named '{name}'.",
                          "name one the target started (see processes.jsonl of a run)")  # fmt: skip
    return found


class FaultRunner:
    def __init__(self, faults: tuple[Fault, ...], folder_path: str) -> None:
        self.faults = faults
        self.path = folder_path
        self.due: list[_Due] = []
        self.t0: float | None = None  # the first stage's start, epoch s
        self.root: psutil.Process | None = None
        self.target: Target | None = None
        self.ready: ReadyWait | None = None  # how a restarted target is waited for
        self.cwd: Path | None = None
        self.restart: tuple[_Due, Restarter] | None = None  # the restart under way

    @property
    def root_file(self) -> Path:
        return Path(self.path) / TARGET_ROOT

    @property
    def restarting(self) -> bool:
        """The target is down on purpose: its exit is not the run's end."""
        return self.restart is not None

    def resolve(self, target: Target, ready: ReadyWait, cwd: Path | None) -> None:
        if not self.faults:
            return
        if target.pid is None:
            raise ConfigError("--fault needs the target's processes here.", "use --launch or --pid")
        try:
            root = psutil.Process(target.pid)
        except psutil.Error:
            raise ConfigError("--fault: the target's process is gone.", "see target.log") from None
        for f in self.faults:
            proc = _target_of(f, root, target.launched)
            self.due.append(_Due(f, proc.pid, _describe(proc)))
        self.root, self.target, self.ready, self.cwd = root, target, ready, cwd
        if any(f.kind == "restart" for f in self.faults):
            write_root(self.root_file, str(root.pid))

    def start(self, first_stage_started: float) -> None:
        if self.t0 is None:
            self.t0 = first_stage_started

    def tick(self) -> None:
        if self.t0 is None or not self.due:
            return
        if self.restart is not None:
            self._restart_done()
            return  # the rest waits: the target's processes are not there to act on
        now = time.time()
        for d in self.due:
            if d.sent_at is None and now >= self.t0 + d.fault.at_s:
                self._send(d)
            elif (
                d.fault.kind == "pause"
                and d.sent_at is not None
                and not d.resumed
                and now >= d.sent_at + d.fault.duration_s
            ):
                self._resume(d)

    def finish(self) -> None:
        """On every way out: no process is left stopped, no restart left half done."""
        if self.restart is not None:
            self.restart[1].cancel()
            self._restart_done(raise_error=False)
        for d in self.due:
            if d.fault.kind == "pause" and d.sent_at is not None and not d.resumed:
                self._resume(d)

    def _signal(self, d: _Due, sig: signal.Signals) -> str | None:
        try:
            psutil.Process(d.pid).send_signal(sig)
        except psutil.Error as e:
            return f"{type(e).__name__}: the process could not be signalled"
        return None

    def _send(self, d: _Due) -> None:
        # Found again now: a reload before it replaced the workers resolve() saw.
        try:
            assert self.root is not None
            proc = _target_of(d.fault, self.root)
            d.pid, d.process = proc.pid, _describe(proc)
        except (ConfigError, psutil.Error):
            pass  # the process resolve() found; the signal says whether it is still there
        d.sent_at = time.time()
        if d.fault.kind == "restart":
            assert self.target is not None and self.ready is not None
            restarter = Restarter(self.target, self.cwd, self.root_file, self.ready, d.fault.at_s)
            self.restart = (d, restarter)
            restarter.start()
            return
        sig = {"reload": signal.SIGHUP, "kill-worker": signal.SIGKILL, "pause": signal.SIGSTOP}[d.fault.kind]
        error = self._signal(d, sig)
        if d.fault.kind != "pause" or error is not None:
            d.resumed = True
            self._write(d, d.sent_at, error)

    def _resume(self, d: _Due) -> None:
        d.resumed = True
        error = self._signal(d, signal.SIGCONT)
        assert d.sent_at is not None
        self._write(d, time.time(), error)

    def _restart_done(self, raise_error: bool = True) -> None:
        assert self.restart is not None
        d, restarter = self.restart
        result = restarter.step()
        if result is None:
            return
        self.restart = None
        d.resumed = True
        if result.pid_after is not None:
            try:
                self.root = psutil.Process(result.pid_after)
            except psutil.Error:
                pass
        self._write(d, result.ended_at, result.error.problem if result.error else None, _figures(result))
        if result.error is not None and raise_error:
            raise result.error

    def _write(self, d: _Due, until: float, error: str | None, restart: RestartFigures | None = None) -> None:
        assert d.sent_at is not None
        rec = FaultRecord(d.fault.kind, d.fault.label(), round(d.sent_at, 6), round(until, 6), d.pid, d.process,
                          error, restart)  # fmt: skip
        with open(f"{self.path}/{FAULTS}", "a") as fh:
            fh.write(rec.line())


def _figures(r: RestartResult) -> RestartFigures:
    return RestartFigures(r.stopped_after_s, r.killed, r.exit_code, r.pid_after, r.ready_after_s)
