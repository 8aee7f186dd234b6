"""Where a profiled stage's time goes, by category: py-spy's stacks placed, weighed on-CPU or waiting.

Each stack is placed in a category (classify.py) and given a state: running Python, waiting in a
call that blocks, or in a C call that may do either (a DB driver's execute). A sample whose thread
waits with no work on its stack (a pool thread parked for the next request, the loop's select) is
idle: counted apart, never in a share, since with --idle every parked thread adds a sample a tick.

On-CPU or waiting: where /proc gave each thread's CPU time over the recording (ThreadCpuTimes), a
thread that spent a fraction f of it on a CPU had f of its samples there; those go to its running
and C-call samples (a thread in Python frames but on no CPU was waiting for the GIL). Without it,
running samples count on a CPU, waiting ones not, and C calls are not told (on_cpu_share None).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from profiler.analysis.attribution.code import SampleState, SourceLookup, sample_state
from profiler.analysis.attribution.stacks import CodeProfile, Frame, parse_frame
from profiler.analysis.wheretime.classify import Placement, is_python, place
from profiler.analysis.wheretime.table import APP, FRAMEWORK, OTHER, CategoryTable
from profiler.runfolder.threadcpu import ThreadCpuTimes

_THREAD_FRAME = re.compile(r"^thread \((\d+)\)")
# Categories that are not "the work" a trait or an advice may quote as the hot path.
NOT_WORK = frozenset({FRAMEWORK, OTHER})
UNKNOWN_SHARE = 0.1  # past this share of a category's samples not told, its on-CPU share is None

METHOD_THREADS = "py-spy stacks (--idle --threads), each thread's CPU time from /proc/PID/task/TID/stat"
METHOD_STACKS = "py-spy stacks (--idle) only: a C call's samples (a DB driver's execute) are not told on-CPU or waiting"
# Said after either method when the stacks hold C frames (--pyspy-native): the C code is named, not inferred.
METHOD_NATIVE = "; native frames (--native) name the C code below the Python frames"


@dataclass(frozen=True, slots=True)
class CategoryTime:
    category: str
    label: str
    samples: int
    share: float  # of the working (not idle) samples
    on_cpu_share: float | None  # of this category's samples, the share on a CPU; None: not told
    top_functions: tuple[tuple[str, float], ...]  # (function, share of this category's samples)
    called_from: str | None  # the app's function that asked most often
    how: str  # what told the category of its largest function: frame, native, call, app, ...


@dataclass(frozen=True, slots=True)
class WhereTime:
    samples: int  # every thread sample of the recording
    working: int  # not idle
    idle_share: float
    method: str
    categories: tuple[CategoryTime, ...]  # largest share first

    def top_work(self) -> CategoryTime | None:
        """The largest category that is work (not the framework or unknown code), if any."""
        return next((c for c in self.categories if c.category not in NOT_WORK), None)


@dataclass
class _Tally:
    samples: int = 0
    idle: int = 0
    by_category: Counter[str] = field(default_factory=Counter)
    functions: dict[str, Counter[str]] = field(default_factory=dict)
    callers: dict[str, Counter[str]] = field(default_factory=dict)
    hows: dict[str, Counter[str]] = field(default_factory=dict)
    on_cpu: dict[str, float] = field(default_factory=dict)  # weighted samples on a CPU
    untold: Counter[str] = field(default_factory=Counter)  # C-call samples with no thread CPU time

    def add(self, placement: Placement, count: int, cpu_weight: float | None) -> None:
        name = placement.category
        self.by_category[name] += count
        if placement.frame is not None:
            self.functions.setdefault(name, Counter())[placement.frame.function] += count
            self.hows.setdefault(name, Counter())[f"{placement.frame.function}|{placement.how}"] += count
        if placement.caller is not None and placement.caller != placement.frame:
            self.callers.setdefault(name, Counter())[placement.caller.function] += count
        if cpu_weight is None:
            self.untold[name] += count
        else:
            self.on_cpu[name] = self.on_cpu.get(name, 0.0) + cpu_weight * count


@dataclass(frozen=True, slots=True)
class _Sample:
    tid: int | None
    placement: Placement
    state: SampleState
    idle: bool
    count: int


def _thread_id(stack: tuple[str, ...]) -> int | None:
    for text in stack[:2]:
        match = _THREAD_FRAME.match(text)
        if match:
            return int(match.group(1))
    return None


def _leaf_line(frames: list[Frame], source: SourceLookup | None) -> str | None:
    leaf = next((f for f in reversed(frames) if is_python(f)), None)
    if leaf is None or leaf.line is None or source is None:
        return None
    return source(leaf.file, leaf.line)


def _samples(profile: CodeProfile, table: CategoryTable, source: SourceLookup | None) -> list[_Sample]:
    out = []
    for stack, count in profile.stacks:
        frames = [f for f in map(parse_frame, stack) if f is not None]
        if not frames:
            continue
        state, _, _ = sample_state(frames, source)
        placement = place(frames, _leaf_line(frames, source), table)
        # Waiting with no work on the stack: a parked thread, not a request's time.
        idle = state == "waiting" and placement.category in NOT_WORK
        out.append(_Sample(_thread_id(stack), placement, state, idle, count))
    return out


def _cpu_ratios(samples: list[_Sample], threads: ThreadCpuTimes | None) -> dict[int, float]:
    """Per thread: the share of its running and C-call samples that were on a CPU."""
    if threads is None:
        return {}
    fraction = {t.tid: min(1.0, t.cpu_s / threads.wall_s) for t in threads.threads}
    total: Counter[int] = Counter()
    busy: Counter[int] = Counter()
    for s in samples:
        if s.tid is None:
            continue
        total[s.tid] += s.count
        if s.state != "waiting":
            busy[s.tid] += s.count
    return {tid: min(1.0, fraction[tid] * total[tid] / busy[tid]) for tid in busy if tid in fraction}


def _weight(sample: _Sample, ratios: dict[int, float]) -> float | None:
    if sample.state == "waiting":
        return 0.0
    ratio = ratios.get(sample.tid) if sample.tid is not None else None
    if ratio is not None:
        return ratio
    return 1.0 if sample.state == "running" else None


def _top(counter: Counter[str] | None, total: int, n: int = 5) -> tuple[tuple[str, float], ...]:
    if not counter or not total:
        return ()
    ordered = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
    return tuple((name, round(k / total, 4)) for name, k in ordered)


def _category(tally: _Tally, name: str, working: int, table: CategoryTable) -> CategoryTime:
    n = tally.by_category[name]
    told = n - tally.untold[name]
    on_cpu = None if tally.untold[name] > UNKNOWN_SHARE * n or told <= 0 else tally.on_cpu.get(name, 0.0) / told
    callers = tally.callers.get(name)
    hows = tally.hows.get(name)
    how = max(hows.items(), key=lambda kv: (kv[1], kv[0]))[0].rsplit("|", 1)[1] if hows else name
    return CategoryTime(
        category=name,
        label=table.label(name),
        samples=n,
        share=round(n / working, 4),
        on_cpu_share=round(min(1.0, on_cpu), 4) if on_cpu is not None else None,
        top_functions=_top(tally.functions.get(name), n),
        called_from=callers.most_common(1)[0][0] if callers else None,
        how=how,
    )


def _has_native(profile: CodeProfile) -> bool:
    """Whether py-spy recorded C frames (--native): a frame that names a library, not a Python file."""
    for stack, _count in profile.stacks:
        for text in stack:
            frame = parse_frame(text)
            if frame is not None and frame.file and not is_python(frame):
                return True
    return False


def where_time_goes(
    profile: CodeProfile,
    table: CategoryTable,
    *,
    source: SourceLookup | None = None,
    threads: ThreadCpuTimes | None = None,
) -> WhereTime | None:
    """The stage's time by category; None when py-spy took no sample."""
    samples = _samples(profile, table, source)
    ratios = _cpu_ratios(samples, threads)
    tally = _Tally()
    for s in samples:
        tally.samples += s.count
        if s.idle:
            tally.idle += s.count
        else:
            tally.add(s.placement, s.count, _weight(s, ratios))
    if not tally.samples:
        return None
    working = tally.samples - tally.idle
    rows = [_category(tally, name, working, table) for name in tally.by_category]
    rows.sort(key=lambda c: (-c.samples, c.category))
    return WhereTime(
        samples=tally.samples,
        working=working,
        idle_share=round(tally.idle / tally.samples, 4),
        method=(METHOD_THREADS if ratios else METHOD_STACKS) + (METHOD_NATIVE if _has_native(profile) else ""),
        categories=tuple(rows),
    )


__all__ = [
    "APP",
    "METHOD_NATIVE",
    "METHOD_STACKS",
    "METHOD_THREADS",
    "NOT_WORK",
    "CategoryTime",
    "WhereTime",
    "where_time_goes",
]
