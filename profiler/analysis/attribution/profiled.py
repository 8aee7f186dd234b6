"""Code attribution of a run: py-spy's profiled stages summarised, per stage and per process,
into the report's CodeSection and the few values the traits read (CodeSignals).

Per process because with `--subprocesses`, py-spy samples every process of the tree
(a gunicorn master and its workers, a model server's front, inference worker and helpers). The
top function must come from the process that burns the CPU, not from an idle helper whose
blocked Python frame py-spy counts at every tick; so stacks are split by their process frame,
and the process chosen is the one the sampler saw busiest (else the one with most busy samples).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from profiler.analysis.attribution.code import FunctionShare, ProfileSummary, SourceLookup, summarize_profile
from profiler.analysis.attribution.stacks import CodeProfile, parse_collapsed, parse_process_frame
from profiler.runfolder.names import speedscope_relative
from profiler.runfolder.records import StageProfile
from profiler.schema import report as schema
from profiler.schema.serving import ProcessCode

COMMAND_CHARS = 80  # of a command line shown in the report


@dataclass(frozen=True, slots=True)
class ProcessProfile:
    pid: int | None  # None: stacks without a process frame (py-spy without --subprocesses)
    command: str
    summary: ProfileSummary

    @property
    def busy(self) -> int:
        """Samples not waiting: on the CPU (or wanting it)."""
        return round(self.summary.total_samples * (1 - self.summary.idle_share))

    @property
    def top_function(self) -> str | None:
        return self.summary.top_self[0].function if self.summary.top_self else None


def split_by_process(profile: CodeProfile) -> dict[tuple[int | None, str], CodeProfile]:
    """The stacks of each process, keyed by (pid, command line); the process frame removed."""
    parts: dict[tuple[int | None, str], list[tuple[tuple[str, ...], int]]] = {}
    for frames, count in profile.stacks:
        process = parse_process_frame(frames[0]) if frames else None
        key: tuple[int | None, str] = process if process is not None else (None, "")
        parts.setdefault(key, []).append((frames[1:] if process else frames, count))
    return {k: CodeProfile(sum(c for _, c in v), tuple(v)) for k, v in parts.items()}


def by_process(profile: CodeProfile, source: SourceLookup | None = None) -> list[ProcessProfile]:
    """Each process's summary, most busy samples first."""
    found = [
        ProcessProfile(pid, command, summarize_profile(part, source=source))
        for (pid, command), part in split_by_process(profile).items()
    ]
    return sorted(found, key=lambda p: (-p.busy, p.pid or 0))


def working_process(processes: Sequence[ProcessProfile], busiest_pid: int | None) -> ProcessProfile | None:
    """The process whose code the traits quote: the sampler's busiest, else the most busy samples."""
    chosen = next((p for p in processes if busiest_pid is not None and p.pid == busiest_pid and p.busy), None)
    return chosen or next((p for p in processes if p.busy), None)


def labelled(process: ProcessProfile, name_process: bool) -> str | None:
    """Its top function, naming the process when the target has several."""
    top = process.top_function
    if top is None or not name_process or process.pid is None:
        return top
    return f"{top} in pid {process.pid} ({process.command[:COMMAND_CHARS]})"


def process_rows(processes: Sequence[ProcessProfile], total: int) -> list[ProcessCode]:
    return [
        ProcessCode(
            pid=p.pid,
            command=p.command[:COMMAND_CHARS],
            busy_share=round(p.busy / total, 4) if total else 0.0,
            top_function=p.top_function,
        )
        for p in processes
    ]


# -- the report's code section ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CodeSignals:
    """What the traits read from py-spy: the last profiled stage with samples, or all None."""

    blocking_on_loop_share: float | None = None
    idle_share: float | None = None
    top_function: str | None = None  # of the working process, named when there were several
    blocking_function: str | None = None
    # Where the time goes (analysis/wheretime/): the work that takes most of the working samples.
    work_category: str | None = None  # storage, serialization, model, downstream, locks, ...
    work_label: str | None = None
    work_share: float | None = None  # of the working samples
    work_on_cpu_share: float | None = None  # of the category's samples
    work_function: str | None = None  # the function doing it (the query function, the encoder)
    work_largest: bool = True  # no other category (the framework's, other code) took more


@dataclass(frozen=True, slots=True)
class _Stage:
    summary: ProfileSummary  # all processes together
    processes: list[ProcessProfile]


def _stage(profile: StageProfile) -> _Stage | None:
    """One stage's stacks summarised, whole and per process, with its saved source lines."""
    stacks = parse_collapsed(profile.stacks)
    if stacks.total_samples == 0:
        return None
    sources = profile.sources

    def source(file: str, line: int) -> str | None:
        return sources.get(f"{file}:{line}")

    summary = summarize_profile(
        stacks,
        source=source,
        # Both halves of the stage ran the same load for the same time: GIL-holding samples
        # over non-waiting samples is the share of busy time the GIL was held.
        gil_profile=parse_collapsed(profile.gil_stacks) if profile.gil_stacks is not None else None,
    )
    return _Stage(summary, by_process(stacks, source))


def _shares(items: tuple[FunctionShare, ...]) -> list[schema.FunctionShare]:
    return [schema.FunctionShare(function=f.function, share=f.share) for f in items]


def _code_stage(index: int, stage: _Stage) -> schema.CodeStage:
    summary = stage.summary
    return schema.CodeStage(
        stage=index,
        samples=summary.total_samples,
        top_self=_shares(summary.top_self),
        top_total=_shares(summary.top_total),
        blocking_sites=_shares(summary.blocking_sites),
        idle_share=summary.idle_share,
        blocking_on_loop_share=summary.blocking_on_loop or 0.0,
        gil_share=summary.gil_share,
        speedscope=speedscope_relative(index),
        processes=process_rows(stage.processes, summary.total_samples)
        if any(p.pid is not None for p in stage.processes)
        else [],
    )


def _signals(stage: _Stage, busiest_pid: int | None, name_process: bool) -> CodeSignals:
    summary, working = stage.summary, working_process(stage.processes, busiest_pid)
    top = labelled(working, name_process or len(stage.processes) > 1) if working is not None else None
    return CodeSignals(
        blocking_on_loop_share=summary.blocking_on_loop,
        idle_share=summary.idle_share,
        top_function=top,
        blocking_function=summary.blocking_sites[0].function if summary.blocking_sites else None,
    )


def code_section(
    profiles: Mapping[int, StageProfile],
    *,
    pyspy_on: bool,
    rate_hz: int | None,
    notice: str | None,
    server: schema.ServerInfo | None = None,
    stages: Sequence[schema.StageReport] = (),
) -> tuple[schema.CodeSection, CodeSignals]:
    """py-spy's stacks per profiled stage, summarised; plus the evidence the traits read.

    `notice` is what the run recorded about py-spy (why it failed), if anything. With the
    `server`, the top function the traits quote is the busiest process's, named when the target
    runs several processes; with the `stages`, the profiled stage's cost is measured.
    """
    if not pyspy_on and not profiles:
        notice = notice or "Code attribution off (--no-pyspy)."
    rows: list[schema.CodeStage] = []
    signals = CodeSignals()
    busiest_pid = server.busiest_pid if server is not None else None
    name_process = server is not None and len(server.worker_pids) + len(server.helper_pids) > 1
    for index, profile in sorted(profiles.items()):
        stage = _stage(profile)
        if stage is None:
            continue
        rows.append(_code_stage(index, stage))
        signals = _signals(stage, busiest_pid, name_process)
    if not rows and notice is None and profiles:
        notice = "py-spy recorded no samples."
    section = schema.CodeSection(
        available=bool(rows),
        notice=notice if not rows else None,
        profiled_stages=sorted(profiles),
        rate_hz=rate_hz,
        per_stage=rows,
        profiled_throughput_cost=profiled_cost(stages),
    )
    return section, signals


def profiled_cost(stages: Sequence[schema.StageReport]) -> float | None:
    """Throughput lost while py-spy was attached: the profiled stage against the unprofiled stage
    run at the same load (py-spy pauses each process it samples, every process of a tree)."""
    for profiled in (s for s in stages if s.profiled and s.ok_rps > 0):
        same = [s for s in stages if not s.profiled and (s.users, s.rate) == (profiled.users, profiled.rate)]
        if same and same[-1].ok_rps > 0:
            return round(1.0 - profiled.ok_rps / same[-1].ok_rps, 3)
    return None
