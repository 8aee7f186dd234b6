"""The run's --faults as events (faults.jsonl): what each cost and how long until the target was
back. A fault's baseline is the BASELINE_S before it; the requests it touched are those in flight at
some moment from it until it ended (a pause's SIGCONT) plus one recovery window (a reload or a
killed worker acts at once, its cost lands just after), so a request it caught mid-way counts; recovery is watched from its end for up to WATCH_S,
within the run."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from profiler.analysis.transients import recovery as rule
from profiler.analysis.transients.recovery import overlapping, part_of
from profiler.runfolder.engine import SpanArrays
from profiler.runfolder.faults import FaultRecord
from profiler.runfolder.read import StageWindow
from profiler.schema.events import Event, EventAfter, EventBaseline, EventDuring, EventRestart

BASELINE_S = 3.0
WATCH_S = 15.0


def _kinds(part: SpanArrays) -> dict[str, int]:
    out: dict[str, int] = {}
    for status, failed, answered in zip(part.status, part.failed, part.answered, strict=True):
        if failed:
            kind = f"http-{int(status)}" if answered and status >= 400 else ("no-response" if not answered else "error")
            out[kind] = out.get(kind, 0) + 1
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def fault_event(rec: FaultRecord, windows: Sequence[StageWindow], span: SpanArrays, t0: float) -> Event:
    stage = next((w for w in windows if w.start <= rec.at <= w.end), windows[-1])
    end_of_run = windows[-1].end
    before = part_of(span, max(t0, rec.at - BASELINE_S), rec.at)
    baseline = None
    if len(before):
        ok = before.answered & ~before.failed
        baseline = EventBaseline(stage=stage.index, p50_ms=round(float(np.percentile(before.latency_ms, 50)), 3),
                                 p95_ms=round(float(np.percentile(before.latency_ms, 95)), 3),
                                 rps=round(int(ok.sum()) / max(rec.at - max(t0, rec.at - BASELINE_S), 1e-9), 3),
                                 in_flight=rule.in_flight_p95(span, max(t0, rec.at - BASELINE_S), rec.at))  # fmt: skip
    touched_end = min(end_of_run, rec.until + rule.WINDOW_S)
    part = overlapping(span, rec.at, touched_end)  # caught by it mid-way, or started while it lasted
    unavailable, _ = rule.unavailable_s(part)
    watch_end = min(end_of_run, rec.until + WATCH_S)
    rec_s = (rule.recovery_s(span, rec.until, watch_end, baseline.p95_ms, baseline.in_flight)
             if baseline is not None and watch_end - rec.until >= rule.WINDOW_S else None)  # fmt: skip
    judged = baseline is not None and watch_end - rec.until >= rule.WINDOW_S
    load = float(stage.users if stage.users is not None else (stage.rate or 0.0))
    return Event(
        kind=rec.kind,
        stage=stage.index,
        label=rec.label,
        at_s=round(max(0.0, rec.at - t0), 3),
        until_s=round(max(0.0, rec.until - t0), 3),
        load_before=load,
        load_after=load,
        process=(f"{rec.process} (pid {rec.pid})" if rec.pid else rec.process)[:200]
        + (f"; {rec.error}" if rec.error else ""),
        baseline=baseline,
        during=EventDuring(
            rps=round(int((part.answered & ~part.failed).sum()) / max(touched_end - rec.at, 1e-9), 3),
            errors_by_kind=_kinds(part),
            **rule.caught(part, span),
        ),
        failed=int(np.count_nonzero(part.failed)),
        lost=int(np.count_nonzero(~part.answered)),
        unavailable_s=round(unavailable, 3),
        recovery_s=rec_s,
        recovered=(rec_s is not None) if judged else None,
        watched_s=round(watch_end - rec.until, 3) if judged else None,
        restart=_restart(rec, span),
        after=_after(before, part_of(span, rec.until, watch_end)),
    )


def _after(before: SpanArrays, after: SpanArrays) -> EventAfter:
    errors, was = rule.client_errors(after), rule.client_errors(before)
    return EventAfter(requests=len(after), client_errors=sum(errors.values()), baseline_requests=len(before),
                      baseline_client_errors=sum(was.values()),
                      statuses={str(k): v for k, v in sorted(errors.items(), key=lambda kv: -kv[1])})  # fmt: skip


def _restart(rec: FaultRecord, span: SpanArrays) -> EventRestart | None:
    r = rec.restart
    if r is None:
        return None
    held = (span.start_s < rec.at) & (span.start_s + span.latency_ms / 1000.0 > rec.at)  # caught by the SIGTERM
    return EventRestart(stopped_after_s=r.stopped_after_s, killed=r.killed, exit_code=r.exit_code,
                        ready_after_s=r.ready_after_s, down_s=round(rec.until - rec.at, 3),
                        in_flight=int(held.sum()), in_flight_failed=int((held & span.failed).sum()))  # fmt: skip
