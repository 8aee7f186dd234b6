"""A shape's steps as events: each change of load, what it cost, and the recovery after it.

A step up is judged against the step before it, and its recovery watched over the step after it
when that one is back at (or below) the load before the step: a spike and its aftermath. A step
down is judged against the last earlier step at (or below) its own load, and its recovery watched
over the step itself: how long the backlog a heavier step left took to clear.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from profiler.analysis.transients import recovery as rule
from profiler.analysis.transients.faults import fault_event
from profiler.analysis.transients.recovery import part_of
from profiler.runfolder.engine import SpanArrays
from profiler.runfolder.faults import read_faults
from profiler.runfolder.read import RunData, StageWindow
from profiler.schema.events import Event, EventBaseline, EventDuring, EventsSection
from profiler.schema.report import StageReport


def _load(w: StageWindow) -> float:
    return float(w.users if w.users is not None else (w.rate or 0.0))


def _baseline(span: SpanArrays, w: StageWindow, report: StageReport) -> EventBaseline:
    return EventBaseline(stage=w.index, p50_ms=round(report.latency.p50, 3), p95_ms=round(report.latency.p95, 3),
                         rps=round(report.rps, 3), in_flight=rule.in_flight_p95(span, w.start, w.end))  # fmt: skip


def _during(part: SpanArrays, span: SpanArrays, report: StageReport) -> EventDuring:
    """`part`: the requests started in the event; `span`: the run's, so a backlog from before counts in flight."""
    return EventDuring(rps=round(report.rps, 3), errors_by_kind=dict(report.error_kinds), **rule.caught(part, span))


def _event(i: int, windows: Sequence[StageWindow], reports: dict[int, StageReport], span: SpanArrays,
           t0: float) -> Event | None:  # fmt: skip
    prev, cur = windows[i - 1], windows[i]
    before, after = _load(prev), _load(cur)
    if after == before or cur.index not in reports:
        return None
    up = after > before
    calm = [w for w in windows[:i] if _load(w) <= (before if up else after) and w.index in reports]
    base_w = prev if up else (calm[-1] if calm else None)
    baseline = _baseline(span, base_w, reports[base_w.index]) if base_w else None
    part = part_of(span, cur.start, cur.end)
    unavailable, _back = rule.unavailable_s(part)
    watch: tuple[float, float] | None = None
    if up and i + 1 < len(windows) and _load(windows[i + 1]) <= before:
        watch = (cur.end, windows[i + 1].end)  # the spike's aftermath, over the calmer step after it
    elif not up:
        watch = (cur.start, cur.end)
    rec = None
    if watch is not None and baseline is not None:
        # The whole run's requests: those still in flight from the spike count against recovery too.
        rec = rule.recovery_s(span, watch[0], watch[1], baseline.p95_ms, baseline.in_flight)
    judged = watch is not None and baseline is not None
    return Event(
        kind="step-up" if up else "step-down",
        stage=cur.index,
        at_s=round(cur.start - t0, 3),
        until_s=round(cur.end - t0, 3),
        load_before=before,
        load_after=after,
        baseline=baseline,
        during=_during(part, span, reports[cur.index]),
        failed=int(np.count_nonzero(part.failed)),
        lost=int(np.count_nonzero(~part.answered)),
        unavailable_s=round(unavailable, 3),
        recovery_s=rec,
        recovered=(rec is not None) if judged else None,
        watched_s=round(watch[1] - watch[0], 3) if judged and watch is not None else None,
    )


def step_events(run: RunData, stages: Sequence[StageReport]) -> EventsSection | None:
    """The events of a shape run and of its --faults (None for a ladder without faults: its stages
    are a measurement, not a timeline)."""
    faults = read_faults(run.folder)
    if not run.stages or (not faults and (not run.meta.config.shape or len(run.stages) < 2)):
        return None
    windows = run.stages
    reports = {s.index: s for s in stages}
    t0 = windows[0].start
    span = run.requests.span(t0, windows[-1].end)
    steps = range(1, len(windows)) if run.meta.config.shape else range(0)
    events = [e for i in steps if (e := _event(i, windows, reports, span, t0)) is not None]
    events += [fault_event(rec, windows, span, t0) for rec in faults]
    events.sort(key=lambda e: e.at_s)
    return EventsSection(recovery_window_s=rule.WINDOW_S, recovery_factor=rule.FACTOR,
                         in_flight_margin=rule.IN_FLIGHT_MARGIN, events=events)  # fmt: skip
