"""Reading a run folder back whole, for analysis: typed meta, stage windows, the engine's tables."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from profiler.base.errors import RunFolderError
from profiler.runfolder.connections import ConnectionTick
from profiler.runfolder.engine import RequestTable, SampleTable, StageTally
from profiler.runfolder.meta import Meta, SamplerInfo, loads, parse_meta
from profiler.runfolder.names import (
    CATEGORIES,
    CONNECTIONS,
    HANDOFFS,
    META,
    PROCESSES,
    REQUESTS,
    SAMPLER_INFO,
    SAMPLES,
    STAGES,
    pyspy_recordings,
    pyspy_sources,
    pyspy_stacks,
    pyspy_threads,
)
from profiler.runfolder.records import (
    Finish,
    HandoffSlots,
    Hang,
    ProcessInfo,
    StageEnd,
    StageEvent,
    StageProfile,
    StageStart,
    parse_stage_event,
)
from profiler.runfolder.threadcpu import ThreadCpuTimes


@dataclass(frozen=True, slots=True)
class StageWindow:
    """One stage as it ran: its load and its real start and end (not the plan's)."""

    index: int
    users: int | None
    rate: float | None
    start: float
    end: float
    ended: bool  # False when the run stopped inside this stage
    profiled: bool = False
    in_flight_at_end: int | None = None  # open model: requests still in flight as it ended
    started: int | None = None  # main requests the generator started in it (None: not recorded)
    cut_short: str | None = None  # why it stopped before its planned length; None: it ran whole

    @property
    def measured_s(self) -> float:
        return max(self.end - self.start, 1e-9)


@dataclass(frozen=True)
class RunData:
    folder: Path
    meta: Meta
    stages: tuple[StageWindow, ...]
    requests: RequestTable
    tallies: dict[int, StageTally]
    samples: SampleTable
    profiles: dict[int, StageProfile] = field(default_factory=dict)
    processes: tuple[ProcessInfo, ...] = ()  # the target's processes as first seen (processes.jsonl)
    hangs: tuple[Hang, ...] = ()  # when the target stopped answering, if it did
    finish: Finish | None = None  # the generator's last accounting line; None if it never wrote one
    categories: dict[str, Any] = field(default_factory=dict)  # the project's category additions (categories.json)
    connections: tuple[ConnectionTick, ...] = ()  # a ws:// run's connections held over time (connections.jsonl)

    def tally(self, stage: int) -> StageTally | None:
        return self.tallies.get(stage)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of a .jsonl file; a line cut short by a crash is skipped."""
    out: list[dict[str, Any]] = []
    if not path.exists():
        return out
    try:
        with path.open(errors="replace") as fh:
            for line in fh:
                try:
                    value = loads(line)
                except (ValueError, RecursionError):  # cut short, or garbage nested past any real line
                    continue
                if isinstance(value, dict):
                    out.append(value)
    except OSError as e:  # unreadable (permissions, a folder in its place): one line, as any file
        raise RunFolderError(f"cannot read '{path}': {e.strerror or e}.", "check the file's permissions") from None
    return out


def _cut(end: StageEnd | None, hangs: Sequence[Hang], window_end: float) -> str | None:
    """Why a stage is not whole: the run stopped inside it (no end line), the generator cut it,
    or the target was hung during it."""
    if any(h.t < window_end for h in hangs):
        return "hung"
    if end is None:
        return "run ended inside it"
    return end.cut_short


def stage_windows(
    events: Sequence[StageEvent], tallies: dict[int, StageTally], last_t: float
) -> tuple[StageWindow, ...]:
    starts = {e.index: e for e in events if isinstance(e, StageStart)}
    ends = {e.index: e for e in events if isinstance(e, StageEnd)}
    hangs = [e for e in events if isinstance(e, Hang)]
    windows: list[StageWindow] = []
    for idx in sorted(starts):
        s, e = starts[idx], ends.get(idx)
        if e is not None:
            end = e.t
        else:
            # The run stopped inside this stage: it ends at its last request (or last sample).
            tally = tallies.get(idx)
            end = tally.last_start if tally is not None and tally.last_start is not None else last_t
            end = max(end, s.t)
        in_flight, started = (e.in_flight, e.started) if e is not None else (None, None)
        cut = _cut(e, hangs, end)
        windows.append(StageWindow(idx, s.users, s.rate, s.t, end, e is not None, s.profiled, in_flight, started, cut))
    return tuple(windows)


def read_meta(folder: Path) -> Meta:
    if not folder.is_dir():
        raise RunFolderError(f"'{folder}' is not a folder.", "give the --out folder of an earlier `profiler run`")
    path = folder / META
    if not path.exists():
        raise RunFolderError(
            f"'{folder}' holds no run (no {META}).", "give the --out folder of an earlier `profiler run`"
        )
    try:
        raw = loads(path.read_bytes())
    except (OSError, ValueError, RecursionError) as e:
        raise RunFolderError(f"cannot read '{path}': {e}.", "the run folder is damaged; run again") from None
    meta = parse_meta(raw, str(path))
    if not meta.sampler.interval_s:  # the run was cut before its end copied sampler.json into meta.json
        meta.sampler = read_sampler_info(folder)
    return meta


def read_sampler_info(folder: Path) -> SamplerInfo:
    """sampler.json, or an empty SamplerInfo where the sampler never wrote one (or it is damaged)."""
    try:
        return SamplerInfo.model_validate(loads((folder / SAMPLER_INFO).read_bytes()))
    except (OSError, ValueError, RecursionError):
        return SamplerInfo()


def read_run(folder: Path) -> RunData:
    meta = read_meta(folder)
    try:
        slots = HandoffSlots.parse(read_jsonl(folder / HANDOFFS))
        requests = RequestTable.read(folder / REQUESTS, {v: k for k, v in slots.slots.items()})
        samples = SampleTable.read(folder / SAMPLES, meta.format_version)
        events = [e for d in read_jsonl(folder / STAGES) if (e := parse_stage_event(d)) is not None]
    except (OSError, UnicodeError) as e:
        raise RunFolderError(
            f"cannot read the run folder '{folder}': {e}.", "check the files' permissions, or run again"
        ) from None
    tallies = requests.stages()
    last_t = samples.last_time() or meta.started_at
    return RunData(
        folder=folder,
        meta=meta,
        stages=stage_windows(events, tallies, last_t),
        requests=requests,
        tallies=tallies,
        samples=samples,
        profiles=read_profiles(folder),
        processes=tuple(p for d in read_jsonl(folder / PROCESSES) if (p := ProcessInfo.parse(d)) is not None),
        hangs=tuple(e for e in events if isinstance(e, Hang)),
        finish=next((e for e in reversed(events) if isinstance(e, Finish)), None),
        categories=_categories(folder / CATEGORIES),
        connections=tuple(c for d in read_jsonl(folder / CONNECTIONS) if (c := ConnectionTick.parse(d)) is not None),
    )


def _categories(path: Path) -> dict[str, Any]:
    try:
        data = loads(path.read_bytes()) if path.exists() else {}
    except (OSError, ValueError, RecursionError):
        return {}  # damaged: the shipped table alone (the analysis checks what it is given)
    found = data.get("categories") if isinstance(data, dict) else None
    return found if isinstance(found, dict) else {}


def read_profiles(folder: Path) -> dict[int, StageProfile]:
    """py-spy's output per profiled stage of the run folder."""
    out: dict[int, StageProfile] = {}
    for stage, path in pyspy_recordings(folder):
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        sources: dict[str, str] = {}
        try:
            loaded = loads(pyspy_sources(path).read_bytes())
            sources = {str(k): str(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}
        except (OSError, ValueError, RecursionError):
            pass
        gil_path = pyspy_stacks(folder, stage, gil=True)
        try:
            gil = gil_path.read_text(errors="replace") if gil_path.exists() else None
        except OSError:
            gil = None
        out[stage] = StageProfile(
            _readable_counts(text), sources, _readable_counts(gil) if gil else gil, _thread_cpu(pyspy_threads(path))
        )
    return out


def _thread_cpu(path: Path) -> ThreadCpuTimes | None:
    try:
        return ThreadCpuTimes.parse(loads(path.read_bytes())) if path.exists() else None
    except (OSError, ValueError, RecursionError):
        return None  # a damaged file: the analysis says which method it could not use


def _readable_counts(stacks: str) -> str:
    """Collapsed stacks with every count one py-spy could write (ASCII, at most 12 digits). A damaged
    one (400 digits, "²") becomes "?", so the parser skips its line as it skips any unreadable line."""
    lines = stacks.splitlines()
    for i, line in enumerate(lines):
        stack, _, count = line.rstrip().rpartition(" ")
        if count.isdigit() and not (count.isascii() and len(count) <= 12):
            lines[i] = f"{stack} ?"
    return "\n".join(lines)
