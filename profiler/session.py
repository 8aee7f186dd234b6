"""One profiling run, start to finish: target → sampler → load → saved folder → report.

The order of teardown matters and is the same on every exit path (normal end, saturation,
Ctrl-C, target death, an error): stop the load, stop the sampler, stop the target we launched,
mark the folder finished, then analyse what is on disk. Data is on disk before anything that
can fail runs, so a failure never costs what was already collected.
"""

from __future__ import annotations

import json
import platform
import queue
import signal
import time
from collections import deque
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

from profiler import __version__
from profiler.config import RunConfig, Slo
from profiler.errors import LoadError, ProfilerError, RunFolderError, TargetExitedError
from profiler.load.driver import LoadProcess, build_spec, write_spec
from profiler.load.plan import StagePlan, build_plan
from profiler.record import META, PYSPY_DIR, REPORT, TARGET_LOG, prepare_folder, read_run, write_json_atomic
from profiler.report.build import AnalysisOptions, build_report
from profiler.sampling.launcher import SAMPLER_INFO, SamplerProcess
from profiler.schema import Report
from profiler.target import Target, attach, launch, wait_ready


class View(Protocol):
    """What the session tells the terminal; the Rich view and the quiet view implement it."""

    def phase(self, text: str) -> None: ...
    def plan(self, stages: tuple[StagePlan, ...]) -> None: ...
    def progress(self, message: dict[str, Any], sample: dict[str, Any] | None) -> None: ...
    def notice(self, text: str) -> None: ...
    def close(self) -> None: ...


class QuietView:
    def phase(self, text: str) -> None:
        pass

    def plan(self, stages: tuple[StagePlan, ...]) -> None:
        pass

    def progress(self, message: dict[str, Any], sample: dict[str, Any] | None) -> None:
        pass

    def notice(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


@dataclass
class Outcome:
    report: Report
    folder: Path
    status: str
    error: ProfilerError | None = None

    @property
    def exit_code(self) -> int:
        if self.status == "interrupted":
            return 130
        if self.error is not None:
            return self.error.exit_code
        return 0


def config_meta(config: RunConfig) -> dict[str, Any]:
    raw = asdict(config)
    raw["out"] = str(config.out)
    raw["cwd"] = str(config.cwd) if config.cwd else None
    raw["body"] = f"<{len(config.body)} bytes>" if config.body is not None else None
    raw["headers"] = [f"{k}: {'***' if k.lower() in ('authorization', 'cookie') else v}" for k, v in config.headers]
    raw["slo"] = config.slo.label() if config.slo else None
    raw["probe_path"] = config.probe_path if config.probe else None
    return raw


class SampleTail:
    """Reads new lines of samples.jsonl as they are flushed, for the live view.

    CPU is averaged over the last second: /proc counts CPU time in 10 ms ticks, so one 100 ms
    sample of a lightly loaded target reads 0% or 10% at random.
    """

    def __init__(self, path: Path, keep: int = 10) -> None:
        self.path = path
        self.offset = 0
        self.recent: deque[dict[str, Any]] = deque(maxlen=keep)

    def latest(self) -> dict[str, Any] | None:
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
                    self.recent.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        if not self.recent:
            return None
        last = dict(self.recent[-1])
        cpus = [float(r["target"].get("cpu", 0.0)) for r in self.recent if "target" in r]
        if cpus and "target" in last:
            last["target"] = {**last["target"], "cpu": sum(cpus) / len(cpus)}
        return last


@dataclass
class Session:
    config: RunConfig
    view: View = field(default_factory=QuietView)
    meta: dict[str, Any] = field(default_factory=dict)
    interrupted: bool = False
    recording: Any = None  # the py-spy recording of the profiled stage, while it runs
    deadline_hit: bool = False
    gil_pending: tuple[int, int, int] | None = None  # (pid, stage, seconds) of the --gil half to come
    profiled_stage: int | None = None

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # A flag, not an exception: teardown must not itself be cut short by a second Ctrl-C.
        self.interrupted = True

    def _save_meta(self) -> None:
        write_json_atomic(self.folder / META, self.meta)

    def run(self) -> Outcome:
        config = self.config
        self.folder = prepare_folder(config.out)
        self.meta = {
            "profiler_version": __version__,
            "started_at": time.time(),
            "ended_at": None,
            "status": None,
            "stop_reason": None,
            "config": config_meta(config),
            "target": {},
            "notices": [],
            "host": {"python": platform.python_version(), "platform": platform.platform()},
            "profiled_stages": [],
        }
        self._save_meta()
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        target: Target | None = None
        sampler: SamplerProcess | None = None
        load: LoadProcess | None = None
        status = "failed"
        error: ProfilerError | None = None
        try:
            target = self._start_target()
            if self.interrupted:
                status = "interrupted"
                raise _Stop
            sampler = SamplerProcess(target.pid, self.folder, config.sample_interval_s, config.gpu)
            plan = build_plan(config)
            self.meta["plan"] = [asdict(p) for p in plan]
            self._save_meta()
            self.view.plan(plan)
            spec = build_spec(config, plan, self.folder)
            write_spec(spec, self.folder)
            load = LoadProcess(spec, self.folder)
            status = self._drive(load, target, plan)
        except _Stop:
            pass
        except ProfilerError as e:
            error = e
            status = "target-exited" if isinstance(e, TargetExitedError) and load is not None else "failed"
            if self.interrupted and not isinstance(e, TargetExitedError):
                status = "interrupted"
        finally:
            self.view.phase("stopping")
            # Each step below must run even if an earlier one fails: children are stopped first.
            if load is not None:
                load.stop()
                if self.deadline_hit:
                    self.meta["stop_reason"] = "the plan's time budget ran out; load stopped"
                elif load.done:
                    self.meta["stop_reason"] = load.done.get("reason")
            try:
                self._finish_pyspy()
            except OSError as e:  # e.g. disk full: the sampler and the target must still be stopped
                self.meta["pyspy_notice"] = f"py-spy output could not be saved: {e.strerror or e}."
            if sampler is not None:
                sampler.stop()
            if target is not None:
                code = target.exit_code()
                if code is not None and target.launched and status != "target-exited" and load is not None:
                    status = "target-exited"
                self.meta["target"]["exit_code"] = code
                target.stop()
            for s, handler in previous.items():
                signal.signal(s, handler)
            self.meta.update(status=status, ended_at=time.time(), sampler=_read_json(self.folder / SAMPLER_INFO))
            if error is not None:
                self.meta["error"] = str(error)
            self._save_meta()
            self.view.close()
        report = build_report(read_run(self.folder))
        write_json_atomic(self.folder / REPORT, report.model_dump(mode="json", by_alias=True))
        if error is None and status == "target-exited" and target is not None:
            error = TargetExitedError(
                f"the target exited (code {self.meta['target'].get('exit_code')}) during the run"
                + (f"; its last output: {target.tail()}" if target.tail() else "."),
                f"see {self.folder / TARGET_LOG}; the report covers what was collected before",
            )
        return Outcome(report=report, folder=self.folder, status=status, error=error)

    def _notice(self, text: str) -> None:
        self.meta["notices"].append(text)
        self._save_meta()
        self.view.notice(text)

    def _start_pyspy(self, target: Target, stage: int, duration_s: float) -> None:
        """Attach py-spy for the profiled stage. With --pyspy-gil the stage is split in halves:
        a normal recording, then one with --gil (two py-spy cannot trace one process at once)."""
        self.meta["profiled_stages"] = [stage]
        self._save_meta()
        self.profiled_stage = stage
        seconds = max(1, int(duration_s - 0.5))
        if self.config.pyspy_gil:
            seconds = max(1, seconds // 2)
            self.gil_pending = (target.pid, stage, seconds)
        self._record(target.pid, self.folder / PYSPY_DIR / f"stage-{stage}.txt", seconds, gil=False)

    def _record(self, pid: int, path: Path, seconds: int, gil: bool) -> None:
        from profiler.errors import PySpyUnavailable
        from profiler.sampling.pyspy import PySpyRecording

        rec = PySpyRecording(pid, path, duration_s=seconds, rate=self.config.pyspy_rate, gil=gil)
        try:
            rec.start()
        except PySpyUnavailable as e:
            self.meta["pyspy_notice"] = str(e)
            self._notice(str(e))
            self.gil_pending = None
            return
        self.recording = rec

    def _pyspy_tick(self) -> None:
        """Called from the drive loop: when the first half's recording ends, start the --gil half."""
        if self.recording is None or self.recording.running or self.gil_pending is None:
            return
        pid, stage, seconds = self.gil_pending
        self.gil_pending = None
        first, self.recording = self.recording, None
        if self._collect(first):
            self._record(pid, self.folder / PYSPY_DIR / f"stage-{stage}.gil.txt", seconds, gil=True)

    def _finish_pyspy(self) -> None:
        rec, self.recording = self.recording, None
        self.gil_pending = None
        if rec is not None:
            self._collect(rec)

    def _collect(self, rec: Any) -> bool:
        """Collect one py-spy recording: the raw stacks, a flame graph, and the source lines of the
        leaves. False (and a notice) when py-spy failed."""
        from profiler.errors import PySpyUnavailable
        from profiler.sampling.pyspy import collapsed_to_speedscope, parse_frame, read_source_line

        try:
            path = rec.wait(timeout=rec.duration_s + 5.0) if not self.interrupted else rec.stop()
            profile = rec.profile()
        except PySpyUnavailable as e:
            self.meta["pyspy_notice"] = str(e)
            self._notice(str(e))
            return False
        finally:
            with (self.folder / PYSPY_DIR / "py-spy.log").open("a") as log:
                log.write(rec.log)
        if rec.gil:
            return True  # the --gil half only counts samples; its stacks are the same code
        name = path.stem
        write_json_atomic(path.with_name(f"{name}.speedscope.json"), collapsed_to_speedscope(profile, name))
        # The source line of each leaf frame, saved now: py-spy cannot see C calls such as
        # time.sleep without --native, but the line that calls them says it; and `analyze`
        # must not depend on the target's files still being there.
        sources: dict[str, str] = {}
        for frames, _count in profile.stacks:
            for text in frames[-2:]:
                frame = parse_frame(text)
                if frame is None:
                    continue
                key = f"{frame.file}:{frame.line}"
                if key not in sources and frame.file and frame.line:
                    line = read_source_line(frame.file, frame.line)
                    if line is not None:
                        sources[key] = line
        write_json_atomic(path.with_name(f"{name}.sources.json"), sources)
        return True

    def _start_target(self) -> Target:
        config = self.config
        if config.launch:
            self.view.phase(f"starting target: {config.launch}")
            target = launch(config.launch, self.folder / TARGET_LOG, config.cwd)
        else:
            assert config.pid is not None
            target = attach(config.pid)
        self.meta["target"] = {"pid": target.pid, "command": target.command, "attached": not target.launched}
        self._save_meta()
        self.view.phase(f"waiting for {config.url}")
        # wait_ready polls in small steps and gives up (None) once Ctrl-C has set the flag; the
        # signal handler itself never raises, so teardown stays in order.
        ready = wait_ready(target, config.url, config.ready_timeout_s, lambda: self.interrupted)
        self.meta["target"]["ready_after_s"] = round(ready, 3) if ready is not None else None
        self._save_meta()
        return target

    def _drive(self, load: LoadProcess, target: Target, plan: tuple[StagePlan, ...]) -> str:
        from profiler.record import SAMPLES

        tail = SampleTail(self.folder / SAMPLES)
        profile_s = self.config.pyspy_seconds if self.config.pyspy else 0.0
        budget = sum(p.duration_s for p in plan) + profile_s + self.config.request_timeout_s + 30.0
        deadline = time.monotonic() + budget
        last_view = 0.0
        while True:
            if self.interrupted:
                return "interrupted"
            try:
                msg = load.messages.get(timeout=0.2)
            except queue.Empty:
                msg = None
            if msg is not None and msg.get("type") == "profile_start":
                self._start_pyspy(target, int(msg["stage"]), float(msg["duration_s"]))
            self._pyspy_tick()
            if msg is not None and msg.get("type") == "done":
                return _status_of(str(msg.get("reason", "")))
            now = time.monotonic()
            if msg is not None or now - last_view > 0.5:
                last_view = now
                self.view.progress(msg or {}, tail.latest())
            if not target.alive():
                raise TargetExitedError(
                    f"the target exited (code {target.exit_code()}) during the run.", "see target.log"
                )
            if not load.running():
                load._reader.join(timeout=1.0)  # its last lines ("done") may still be in the pipe
            if not load.running() and load.messages.empty():
                if load.done:
                    return _status_of(str(load.done.get("reason", "")))
                raise LoadError(
                    f"the load generator stopped unexpectedly (exit {load.proc.returncode})"
                    + (f": {load.failure()}" if load.failure() else "."),
                    f"see {load.log_path}",
                )
            if now > deadline:
                self.deadline_hit = True
                return "completed"


class _Stop(Exception):
    """Internal: leave the run early without an error (Ctrl-C during start-up)."""


def _status_of(reason: str) -> str:
    if reason.startswith("saturated"):
        return "saturated"
    if reason == "interrupted" or reason == "profiler exited":
        return "interrupted"
    return "completed"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, json.JSONDecodeError):
        return {}


def reanalyse(
    folder: Path,
    slo: Slo | None = None,
    peak_rps: float | None = None,
    headroom: float | None = None,
    memory_limit_mb: float | None = None,
) -> Report:
    """Rebuild report.json from the folder alone; given options override the run's own."""
    run = read_run(folder)
    base = AnalysisOptions.from_meta(run.meta)
    options = replace(
        base,
        slo=slo if slo is not None else base.slo,
        peak_rps=peak_rps if peak_rps is not None else base.peak_rps,
        headroom=headroom if headroom is not None else base.headroom,
        memory_limit_mb=memory_limit_mb if memory_limit_mb is not None else base.memory_limit_mb,
    )
    report = build_report(run, options)
    try:
        write_json_atomic(folder / REPORT, report.model_dump(mode="json", by_alias=True))
    except OSError as e:
        raise RunFolderError(
            f"cannot write {folder / REPORT}: {e.strerror or e}.",
            "run `profiler analyze` as a user who may write the run folder (or copy the folder first)",
        ) from None
    return report
