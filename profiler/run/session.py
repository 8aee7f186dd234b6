"""One profiling run, start to finish: target → sampler → load → saved folder → report.

The order of teardown matters and is the same on every exit path (normal end, saturation,
Ctrl-C, target death, an error): stop the load, collect py-spy, stop the sampler, stop the
target we launched, mark the folder finished, then analyse what is on disk. Data is on disk
before anything that can fail runs, so a failure never costs what was already collected.
"""

from __future__ import annotations

import json
import platform
import queue
import signal
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType
from typing import Protocol
from urllib.parse import urlsplit

from profiler import __version__
from profiler.base.config import RunConfig, is_loopback_host
from profiler.base.errors import (
    LoadError,
    ProfilerError,
    RunFolderError,
    TargetExitedError,
    TargetHungError,
    disk_fix,
    folder_write_error,
)
from profiler.base.secrets import mask_command, mask_text, mask_url
from profiler.gate.settings import project_categories
from profiler.load.driver import LoadProcess, Message, write_spec
from profiler.load.plan import StagePlan, build_plan
from profiler.load.spec import LoadSpec
from profiler.report import html
from profiler.report.build import build_report
from profiler.run.children import check_children
from profiler.run.faults import FaultRunner
from profiler.run.pyspy_stage import PySpyStage
from profiler.run.readiness import check_port_owner, wait_ready
from profiler.run.target import Target, attach, launch, unobserved
from profiler.runfolder import messages
from profiler.runfolder.atomic import write_json_atomic
from profiler.runfolder.meta import Meta, PlannedStage, RecordedConfig
from profiler.runfolder.names import CATEGORIES, META, SAMPLES, TARGET_LOG
from profiler.runfolder.read import read_run, read_sampler_info
from profiler.runfolder.write import prepare_folder
from profiler.sampling.launcher import SamplerProcess
from profiler.sampling.metrics import check_sources
from profiler.sampling.process import NOT_HERE
from profiler.schema.report import Report, RunStatus

# What the worker's outcome means for the run.
_RUN_STATUS: dict[messages.WorkerStatus, RunStatus] = {
    "completed": "completed",
    "request-limit": "completed",
    "saturated": "saturated",
    "interrupted": "interrupted",
    "orphaned": "interrupted",
    "hung": "target-hung",
    "write-failed": "failed",
    "workers-missing": "failed",
}
# A target that died (or, after a --fault restart, never answered) mid-run: the run's status.
_ERROR_STATUS: dict[type[ProfilerError], RunStatus] = {TargetExitedError: "target-exited", TargetHungError: "target-hung"}  # fmt: skip
DEADLINE_SLACK_S = 30.0  # past the plan's length, the request timeout and the py-spy stage


@dataclass(frozen=True, slots=True)
class LiveSample:
    """The target's CPU (averaged over the last second) and memory, for the live view."""

    cpu: float
    rss: float


class View(Protocol):
    """What the session tells the terminal; the Rich view and the quiet view implement it."""

    def phase(self, text: str) -> None: ...
    def plan(self, stages: tuple[StagePlan, ...], unit: str = "users") -> None: ...
    def progress(self, message: Message | None, sample: LiveSample | None) -> None: ...
    def notice(self, text: str) -> None: ...
    def close(self) -> None: ...


class QuietView:
    def phase(self, text: str) -> None:
        pass

    def plan(self, stages: tuple[StagePlan, ...], unit: str = "users") -> None:
        pass

    def progress(self, message: Message | None, sample: LiveSample | None) -> None:
        pass

    def notice(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


@dataclass
class Outcome:
    report: Report
    folder: Path
    status: RunStatus
    error: ProfilerError | None = None

    @property
    def exit_code(self) -> int:
        if self.status == "interrupted":
            return 130
        return self.error.exit_code if self.error is not None else 0


class SampleTail:
    """Reads new lines of samples.jsonl as they are flushed, for the live view.

    CPU is averaged over the last second: /proc counts CPU time in 10 ms ticks, so one 100 ms
    sample of a lightly loaded target reads 0% or 10% at random.
    """

    def __init__(self, path: Path, keep: int = 10) -> None:
        self.path = path
        self.offset = 0
        self.recent: deque[tuple[float, float]] = deque(maxlen=keep)  # (cpu, rss)
        self.per_process: deque[dict[int, float]] = deque(maxlen=keep * 2)  # pid -> cpu, last ~2 s

    def latest(self) -> LiveSample | None:
        try:
            with self.path.open("rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except OSError:
            data = b""
        end = data.rfind(b"\n")
        if end >= 0:
            self.offset += end + 1
            for line in data[:end].splitlines():
                try:
                    target = json.loads(line).get("target") or {}
                    if target.get("cpu") is None:
                        continue  # not known (a target elsewhere, an exporter not read yet): never shown as 0
                    self.recent.append((float(target["cpu"]), float(target.get("rss") or 0.0)))
                    procs = target.get("per_process") or []
                    self.per_process.append({int(p["pid"]): float(p.get("cpu", 0.0)) for p in procs})
                except (ValueError, AttributeError, TypeError, KeyError):
                    continue
        if not self.recent:
            return None
        return LiveSample(cpu=sum(c for c, _ in self.recent) / len(self.recent), rss=self.recent[-1][1])

    def busiest_pid(self) -> int | None:
        """The target's process that used the most CPU over the last samples read."""
        self.latest()
        totals: dict[int, float] = {}
        for sample in self.per_process:
            for pid, cpu in sample.items():
                totals[pid] = totals.get(pid, 0.0) + cpu
        return max(totals, key=lambda pid: totals[pid]) if totals and max(totals.values()) > 0 else None


class _Stop(Exception):
    """Internal: leave the run early without an error (Ctrl-C during start-up)."""


@dataclass
class Session:
    config: RunConfig
    view: View = field(default_factory=QuietView)
    interrupted: bool = False
    deadline_hit: bool = False
    write_failure: OSError | None = None  # the first failed write of the run folder (a full disk)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # A flag, not an exception: teardown must not itself be cut short by a second Ctrl-C.
        self.interrupted = True

    def _save_meta(self) -> None:
        # A full disk mid-run must not cut teardown short (children stop, the report is still
        # built in memory and shown): the first failure is kept and named at the end.
        try:
            write_json_atomic(self.folder / META, self.meta.dump())
        except OSError as e:
            self.write_failure = self.write_failure or e

    def _report(self) -> Report:
        """The report from what is on disk, with this run's own meta (the copy on disk may be stale
        when the disk filled); saved as report.json when the disk allows."""
        run = replace(read_run(self.folder), meta=self.meta)
        report = build_report(run)
        try:
            html.save_outputs(report, run, self.folder)
        except OSError as e:
            self.write_failure = self.write_failure or e
        return report

    def run(self) -> Outcome:
        config = self.config
        categories = project_categories(Path.cwd())  # a wrong entry stops here, before any load
        self.folder = prepare_folder(config.out)
        if categories is not None:
            write_json_atomic(self.folder / CATEGORIES, {"source": categories[1], "categories": categories[0]})
        host = {"python": platform.python_version(), "platform": platform.platform()}
        self.meta = Meta.new(__version__, time.time(), RecordedConfig.of(config), host)
        self._save_meta()
        self.pyspy = PySpyStage(self.folder, rate=config.pyspy_rate, gil=config.pyspy_gil,
                                native=config.pyspy_native, notice=self._notice)  # fmt: skip
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        self.target: Target | None = None
        self.faults = FaultRunner(config.faults, str(self.folder))
        self.sampler: SamplerProcess | None = None
        self.load: LoadProcess | None = None
        status: RunStatus = "failed"
        error: ProfilerError | None = None
        try:
            status = self._measure()
        except _Stop:
            status = "interrupted"
        except ProfilerError as e:
            error = e
            status = _ERROR_STATUS.get(type(e), "failed") if self.load is not None else "failed"
            if self.interrupted and not isinstance(e, TargetExitedError):
                status = "interrupted"
        finally:
            status = self._teardown(status, error)
            for s, handler in previous.items():
                signal.signal(s, handler)
        report = self._report()
        if error is None and self.write_failure is not None:
            error = folder_write_error(self.folder, self.write_failure)
        return Outcome(report=report, folder=self.folder, status=status, error=self._exit_error(status, error))

    def _measure(self) -> RunStatus:
        target = self._start_target()  # sets self.target at once: teardown stops it whatever follows
        if self.interrupted:
            raise _Stop
        self._check_metrics()
        config = self.config
        self.faults.resolve(target, self._ready_wait, config.cwd)  # a fault with nothing to act on stops here
        self.sampler = SamplerProcess(target.pid, self.folder, config.sample_interval_s, config.gpu,
                                      config.metrics_urls, self.faults.root_file)  # fmt: skip
        plan = build_plan(self.config)
        self.meta.plan = [PlannedStage(index=p.index, users=p.users, rate=p.rate, planned_s=p.planned_s) for p in plan]
        self._save_meta()
        self.view.plan(plan, "connections" if self.config.websocket is not None else "users")
        spec = LoadSpec.of(self.config, plan, self.folder)
        write_spec(spec, self.folder)
        self.load = LoadProcess(spec, self.folder)
        return self._drive(self.load, target, plan)

    def _teardown(self, status: RunStatus, error: ProfilerError | None) -> RunStatus:
        """Stop every child in order; each step runs even if an earlier one fails."""
        self.view.phase("stopping")
        self.faults.finish()  # no process of the target is left stopped
        if self.load is not None:
            self.load.stop()
            if self.deadline_hit:
                self.meta.stop_reason = "the plan's time budget ran out; load stopped"
            elif self.load.done is not None:
                self.meta.stop_reason = self.load.done.reason
        try:
            self.pyspy.finish(self.interrupted)
        except OSError as e:  # e.g. disk full: the sampler and the target must still be stopped
            self.pyspy.notice_text = f"py-spy output could not be saved: {e.strerror or e}."
        self.meta.pyspy_notice = self.pyspy.notice_text
        self.meta.profiled_stages = [self.pyspy.profiled_stage] if self.pyspy.profiled_stage is not None else []
        if self.sampler is not None:
            self.sampler.stop()
        if self.target is not None:
            code = self.target.exit_code()
            if code is not None and self.target.launched and self.load is not None:
                status = "target-exited"
            self.meta.target.exit_code = code
            self.target.stop()
        self.meta.status, self.meta.ended_at = status, time.time()
        self.meta.sampler = read_sampler_info(self.folder)
        self.meta.error = mask_text(str(error)) if error is not None else None
        self._save_meta()
        self.view.close()
        return status

    def _exit_error(self, status: RunStatus, error: ProfilerError | None) -> ProfilerError | None:
        done = self.load.done if self.load is not None else None
        if error is None and done is not None and done.status == "hung":
            return TargetHungError(
                f"{done.reason}; the run stopped there.",
                "see why the target stalls (a deadlock, a stopped process, an exhausted pool); "
                f"the report covers what was collected, in {self.folder}",
            )
        if error is None and done is not None and done.status == "workers-missing":
            return LoadError(
                f"{done.reason}.", "start them with `profiler worker --master HOST:PORT`, or lower --expect-workers"
            )
        if error is None and done is not None and done.status == "write-failed":
            return RunFolderError(f"{done.reason}; the run stopped there.", disk_fix(self.folder))
        if error is None and status == "target-exited" and self.target is not None:
            tail = self.target.tail()
            return TargetExitedError(
                f"the target exited (code {self.meta.target.exit_code}) during the run"
                + (f"; its last output: {tail}" if tail else "."),
                f"see {self.folder / TARGET_LOG}; the report covers what was collected before",
            )
        return error

    def _notice(self, text: str) -> None:
        text = mask_text(text)
        self.meta.notices.append(text)
        self._save_meta()
        self.view.notice(text)

    def _check_metrics(self) -> None:
        """Each --metrics-url read once before any load: one that cannot be read ends the run here."""
        if self.config.metrics_urls:
            self.view.phase("reading --metrics-url")
            for text in check_sources(self.config.metrics_urls):
                self._notice(text)
        if not self.config.observed:
            shown = ", ".join(mask_url(u) for u in self.config.metrics_urls)
            # Said once live; the report says it as the validity warning target-not-observed.
            self.view.notice(
                f"{NOT_HERE}: CPU, memory, threads, sockets and code attribution are not sampled"
                + (f"; the target's CPU and memory are read from {shown}." if shown else ", so they are not known.")
            )
            self.pyspy.notice_text = f"py-spy not attached: {NOT_HERE}."

    def _start_target(self) -> Target:
        config = self.config
        if config.launch:
            self.view.phase(f"starting target: {mask_command(config.launch)}")
            target = launch(config.launch, self.folder / TARGET_LOG, config.cwd)
        elif config.pid is not None:
            target = attach(config.pid)
        else:
            target = unobserved()
        self.target = target  # stopped by teardown even if it never gets ready
        self.meta.target.pid = target.pid
        self.meta.target.command = mask_command(target.command) if target.command else None
        self.meta.target.attached = not target.launched
        self._save_meta()
        self.view.phase(f"waiting for {mask_url(config.url)}")
        # wait_ready polls in small steps and gives up (None) once Ctrl-C has set the flag; the
        # signal handler itself never raises, so teardown stays in order.
        ready = self._ready_wait(target, lambda: self.interrupted)
        self.meta.target.ready_after_s = round(ready, 3) if ready is not None else None
        self._save_meta()
        if target.pid is not None and ready is not None and is_loopback_host(urlsplit(config.url).hostname or ""):
            problem = check_port_owner(target.pid, config.url, attached=not target.launched)
            if problem is not None:
                self._notice(f"{problem} The samples describe the launched processes, which may not be the server "
                             "under load.")  # fmt: skip
        return target

    def _ready_wait(self, target: Target, cancelled: Callable[[], bool]) -> float | None:
        c = self.config
        return wait_ready(target, c.url, c.ready_timeout_s, cancelled, c.probe_path if c.probe else None, c.headers)

    def _drive(self, load: LoadProcess, target: Target, plan: tuple[StagePlan, ...]) -> RunStatus:
        tail = SampleTail(self.folder / SAMPLES)
        profile_s = self.config.pyspy_seconds if self.config.pyspy else 0.0
        budget = sum(p.planned_s for p in plan) + profile_s + self.config.request_timeout_s + DEADLINE_SLACK_S
        deadline = time.monotonic() + budget
        last_view = 0.0
        while not self.interrupted:
            try:
                msg: Message | None = load.messages.get(timeout=0.2)
            except queue.Empty:
                msg = None
            if isinstance(msg, messages.ProfileStart):
                # py-spy follows the process that does the work: --subprocesses does not find
                # every child (multiprocessing's spawned workers are missed), so it is attached to
                # the busiest process of the last stage, with its own children.
                pid = tail.busiest_pid() or target.pid
                if pid is not None:
                    self.pyspy.start(pid, msg.stage, msg.planned_s)
            self.pyspy.tick()
            if isinstance(msg, messages.Tick) and msg.stage == 0:
                self.faults.start(time.time() - msg.stage_elapsed_s)
            if isinstance(msg, messages.Done):
                return _RUN_STATUS[msg.status]
            now = time.monotonic()
            if msg is not None or now - last_view > 0.5:
                last_view = now
                self.view.progress(msg, tail.latest())
            check_children(load, target, self.faults.restarting)
            self.faults.tick()
            if not load.running() and load.messages.empty() and load.done is not None:
                return _RUN_STATUS[load.done.status]
            if now > deadline:
                self.deadline_hit = True
                return "completed"
        return "interrupted"
