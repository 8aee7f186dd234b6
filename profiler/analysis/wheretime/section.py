"""The report's `where_time_goes`: each profiled stage's stacks placed by category, and the whole
run's together; plus the one value the traits and advice read (the work that takes most time)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from profiler.analysis.attribution.profiled import CodeSignals
from profiler.analysis.attribution.stacks import CodeProfile, parse_collapsed
from profiler.analysis.wheretime.summary import CategoryTime, WhereTime, where_time_goes
from profiler.analysis.wheretime.table import CategoryTable, default_table
from profiler.runfolder.records import StageProfile
from profiler.schema.code import FunctionShare
from profiler.schema.wheretime import CategoryShare, WhereTimeSection, WhereTimeStage

_HOW = {
    "frame": "its frames",
    "native": "native frames",
    "call": "the source line of a C call",
    "app": "the app's own frames",
    "framework": "the framework's frames",
    "other": "frames the table does not know",
}


def _evidence(c: CategoryTime, w: WhereTime) -> str:
    cpu = f"{c.on_cpu_share:.0%} of them on a CPU" if c.on_cpu_share is not None else "on-CPU or waiting not told"
    top = c.top_functions[0][0] if c.top_functions else "no function"
    caller = f", called from {c.called_from}" if c.called_from else ""
    return (
        f"{c.label}: {c.samples} of {w.working} working samples ({c.share:.0%}), {cpu}; "
        f"told by {_HOW.get(c.how, c.how)}: {top}{caller}."
    )


def _stage(index: int | None, w: WhereTime) -> WhereTimeStage:
    return WhereTimeStage(
        stage=index,
        samples=w.samples,
        working_samples=w.working,
        idle_share=w.idle_share,
        method=w.method,
        categories=[
            CategoryShare(
                category=c.category,
                label=c.label,
                samples=c.samples,
                share=c.share,
                on_cpu_share=c.on_cpu_share,
                top_function=c.top_functions[0][0] if c.top_functions else None,
                top_functions=[FunctionShare(function=f, share=s) for f, s in c.top_functions],
                called_from=c.called_from,
                how=c.how,
                evidence=_evidence(c, w),
            )
            for c in w.categories
        ],
    )


def _stage_time(profile: StageProfile, table: CategoryTable) -> WhereTime | None:
    sources = profile.sources

    def source(file: str, line: int) -> str | None:
        return sources.get(f"{file}:{line}")

    return where_time_goes(parse_collapsed(profile.stacks), table, source=source, threads=profile.thread_cpu)


def _together(profiles: Mapping[int, StageProfile], table: CategoryTable) -> WhereTime | None:
    """Every profiled stage's stacks as one recording (their thread times only where there is one)."""
    if len(profiles) == 1:
        return _stage_time(next(iter(profiles.values())), table)
    stacks: list[tuple[tuple[str, ...], int]] = []
    sources: dict[str, str] = {}
    for profile in profiles.values():
        stacks.extend(parse_collapsed(profile.stacks).stacks)
        sources |= profile.sources
    merged = CodeProfile(sum(n for _, n in stacks), tuple(stacks))
    return where_time_goes(merged, table, source=lambda f, n: sources.get(f"{f}:{n}"), threads=None)


def where_time_section(
    profiles: Mapping[int, StageProfile], *, pyspy_on: bool, notice: str | None, table: CategoryTable | None = None
) -> tuple[WhereTimeSection, WhereTime | None]:
    """The section, and the whole run's figures for the traits (None where not measured)."""
    table = table or default_table()
    per = [(i, w) for i, p in sorted(profiles.items()) if (w := _stage_time(p, table)) is not None]
    if not per:
        why = notice or ("py-spy was off (--no-pyspy)" if not pyspy_on else "py-spy recorded no samples")
        return WhereTimeSection(available=False, notice=f"not measured: {why}"), None
    overall = per[0][1] if len(per) == 1 else _together(profiles, table)
    return (
        WhereTimeSection(
            available=True,
            overall=_stage(None, overall) if overall is not None else None,
            per_stage=[_stage(i, w) for i, w in per],
        ),
        overall,
    )


WORK_SHARE = 0.2  # the work that takes at least this share of the working samples names the hot path


def with_work(signals: CodeSignals, where: WhereTime | None) -> CodeSignals:
    """The traits' py-spy signals with the work that takes most time: its function, not the server's
    dispatcher, becomes the top function the advice quotes."""
    work = where.top_work() if where is not None else None
    if work is None or work.share < WORK_SHARE or not work.top_functions:
        return signals
    function = work.top_functions[0][0]
    if work.called_from and work.called_from != function:
        function = f"{function}, called from {work.called_from}"
    # The same function the per-process summary found keeps its label, which names the process
    # of a tree ("infer (app.py) in pid 41 (...)").
    same = signals.top_function is not None and signals.top_function.startswith(work.top_functions[0][0])
    return replace(
        signals,
        top_function=signals.top_function if same else function,
        work_category=work.category,
        work_label=work.label,
        work_share=work.share,
        work_on_cpu_share=work.on_cpu_share,
        work_function=function,
        work_largest=where is not None and where.categories[0].category == work.category,
    )
