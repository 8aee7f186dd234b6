"""The figures of a span of requests: in flight at given times, time unavailable, and recovery.

Pure numpy over one span's arrays (runfolder/engine/arrays.py's SpanArrays, in start order).

Recovery, the rule: after the load that caused an event ends (a spike's last moment), rolling
windows of WINDOW_S seconds, stepped every STEP_S, each of the requests *started* in it; the
target has recovered at the start of the first window whose p95 is within FACTOR of the
baseline's p95 and whose in-flight count at its start is at most IN_FLIGHT_MARGIN times the
baseline's (plus one). k6's spike guide reads the same moment by eye ("response time returns to
within 10% of the baseline"); 10% is below the noise of a 2-core machine, hence 1.5x.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from profiler.runfolder.engine import SpanArrays

WINDOW_S = 2.0
STEP_S = 0.25
FACTOR = 1.5
IN_FLIGHT_MARGIN = 1.5
MIN_WINDOW_REQUESTS = 3  # a window with fewer says nothing either way
SHED_STATUSES = (429, 503)  # answered at once with "too many" or "unavailable": load shed, not lost


def client_errors(part: SpanArrays) -> dict[int, int]:
    """The 4xx answers of a span by status, 429 aside (load shed): a session the app no longer
    knows reads as 401/403, state it lost as 404/410."""
    bad = part.answered & (part.status >= 400) & (part.status < 500) & (part.status != 429)
    statuses, counts = np.unique(part.status[bad], return_counts=True)
    return {int(s): int(c) for s, c in zip(statuses, counts, strict=True)}


def in_flight(span: SpanArrays, times: NDArray[np.float64]) -> NDArray[np.int64]:
    """Requests in flight at each time: started at or before it, not yet ended."""
    starts = span.start_s
    ends = np.sort(starts + span.latency_ms / 1000.0)
    began = np.searchsorted(starts, times, side="right")
    done = np.searchsorted(ends, times, side="right")
    return (began - done).astype(np.int64)


def unavailable_s(span: SpanArrays) -> tuple[float, bool]:
    """From the first failure to the first success started after it, and whether one came; (0, True)
    when nothing failed."""
    failed = np.flatnonzero(span.failed)
    if failed.size == 0:
        return 0.0, True
    first = failed[0]
    after = np.flatnonzero(~span.failed[first:])
    if after.size == 0:
        return float(span.start_s[-1] - span.start_s[first]), False
    return float(span.start_s[first + after[0]] - span.start_s[first]), True


def recovery_s(
    span: SpanArrays, since: float, until: float, baseline_p95_ms: float, baseline_in_flight: float
) -> float | None:
    """Seconds from `since` to the first window that meets the rule (module docstring), watched up
    to `until`; None when none does."""
    if not len(span):
        return None
    limit_ms = FACTOR * baseline_p95_ms
    limit_in_flight = IN_FLIGHT_MARGIN * baseline_in_flight + 1.0
    starts = span.start_s
    t = since
    while t + WINDOW_S <= until + 1e-9:
        lo, hi = np.searchsorted(starts, [t, t + WINDOW_S], side="left")
        if hi - lo >= MIN_WINDOW_REQUESTS:
            p95 = float(np.percentile(span.latency_ms[lo:hi], 95))
            busy = int(in_flight(span, np.array([t]))[0])
            if p95 <= limit_ms and busy <= limit_in_flight:
                return round(t - since, 3)
        t += STEP_S
    return None


def part_of(span: SpanArrays, start: float, end: float) -> SpanArrays:
    """The requests of `span` started in [start, end)."""
    lo, hi = np.searchsorted(span.start_s, [start, end], side="left")
    return SpanArrays(span.start_s[lo:hi], span.latency_ms[lo:hi], span.failed[lo:hi], span.answered[lo:hi],
                      span.status[lo:hi])  # fmt: skip


def overlapping(span: SpanArrays, start: float, end: float) -> SpanArrays:
    """The requests of `span` in flight at some moment of [start, end]: started before its end and
    not done before its start (a request a fault caught mid-way counts, however early it began)."""
    done = span.start_s + span.latency_ms / 1000.0
    keep = (span.start_s <= end) & (done >= start)
    return SpanArrays(span.start_s[keep], span.latency_ms[keep], span.failed[keep], span.answered[keep],
                      span.status[keep])  # fmt: skip


IN_FLIGHT_EVERY_S = 0.1  # how finely a baseline's in-flight count is read


def in_flight_p95(span: SpanArrays, start: float, end: float) -> float:
    """The 95th percentile of requests in flight over [start, end), read every IN_FLIGHT_EVERY_S."""
    times = np.arange(start, end, IN_FLIGHT_EVERY_S)
    busy = in_flight(span, times) if times.size else np.zeros(1)
    return round(float(np.percentile(busy, 95)), 2)


def caught(part: SpanArrays, span: SpanArrays) -> dict[str, float | int | None]:
    """EventDuring's figures of the requests an event touched (`part`); `span` is the run's, so a
    backlog from before counts in flight."""
    n = len(part)
    return {
        "requests": n,
        "p95_ms": round(float(np.percentile(part.latency_ms, 95)), 3) if n else None,
        "max_ms": round(float(part.latency_ms.max()), 3) if n else None,
        "max_in_flight": int(in_flight(span, part.start_s).max()) if n else 0,
        "shed": int(np.count_nonzero(part.failed & np.isin(part.status, SHED_STATUSES))),
    }
