"""A timeline's requests as series over time, for the HTML report's event charts: per bucket of
BUCKET_S, the p95 latency of the requests started in it, the responses and failures a second,
and the requests in flight at its start (recovery.in_flight: a backlog from before counts)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from profiler.analysis.transients.recovery import in_flight
from profiler.runfolder.engine import SpanArrays

BUCKET_S = 0.5
MAX_BUCKETS = 2000  # a long run gets wider buckets, not a page too heavy to draw


@dataclass(frozen=True, slots=True)
class RequestSeries:
    x: list[float]  # bucket starts, seconds from t0
    p95_ms: list[float | None]  # None: nothing started in it
    ok_per_s: list[float]
    failed_per_s: list[float]
    in_flight: list[int]


def request_series(span: SpanArrays, t0: float, end: float) -> RequestSeries:
    width = max(BUCKET_S, (end - t0) / MAX_BUCKETS)
    edges = np.arange(t0, end + width, width)
    if edges.size < 2:
        return RequestSeries([], [], [], [], [])
    index = np.searchsorted(edges, span.start_s, side="right") - 1
    p95: list[float | None] = []
    ok: list[float] = []
    failed: list[float] = []
    for b in range(edges.size - 1):
        mine = index == b
        lat = span.latency_ms[mine]
        p95.append(round(float(np.percentile(lat, 95)), 3) if lat.size else None)
        bad = span.failed[mine]
        ok.append(round(float(np.count_nonzero(~bad)) / width, 3))
        failed.append(round(float(np.count_nonzero(bad)) / width, 3))
    busy = in_flight(span, edges[:-1]) if len(span) else np.zeros(edges.size - 1, dtype=np.int64)
    x = [round(float(e - t0), 3) for e in edges[:-1]]
    return RequestSeries(x, p95, ok, failed, [int(v) for v in busy])
