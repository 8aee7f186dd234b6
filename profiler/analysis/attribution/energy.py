"""Energy from cumulative counters: wrap-aware deltas and integration over a time window.

Pure: readings in, joules out. Reading the counters is profiler/sampling/energy.py (RAPL) and
profiler/sampling/gpu.py (NVML).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence


def energy_delta_uj(prev: int, cur: int, max_range: int) -> int:
    """Energy between two readings of one counter, assuming at most one wrap between them.

    The counter runs from 0 to max_range and then starts again at 0. At ~100 W a 2^32 uJ
    range wraps every ~40 s and the usual 262 J range every ~45 min, so sample at least
    every few seconds.
    """
    if cur >= prev:
        return cur - prev
    if max_range <= 0 or prev > max_range:
        raise ValueError(f"counter went back from {prev} to {cur} with max range {max_range}")
    return max_range - prev + cur


def cumulative_between(points: Sequence[tuple[float, float]], t0: float, t1: float) -> float | None:
    """Increase of a cumulative quantity between t0 and t1, interpolating linearly.

    `points` are (time, running total) sorted by time. Window edges that fall between two
    points are interpolated; edges outside the covered range are clamped to it, so the
    result never extrapolates. None when the window covers less than two points' span.
    """
    if len(points) < 2 or t1 <= t0:
        return None
    lo = max(t0, points[0][0])
    hi = min(t1, points[-1][0])
    if hi <= lo:
        return None
    return _interpolate(points, hi) - _interpolate(points, lo)


def _interpolate(points: Sequence[tuple[float, float]], t: float) -> float:
    for (ta, va), (tb, vb) in itertools.pairwise(points):
        if ta <= t <= tb:
            if tb == ta:
                return vb
            return va + (vb - va) * (t - ta) / (tb - ta)
    return points[-1][1] if t >= points[-1][0] else points[0][1]


def joules_between(
    readings: Sequence[tuple[float, Mapping[str, int]]],
    max_ranges: Mapping[str, int],
    t0: float,
    t1: float,
) -> float | None:
    """Joules used by all domains in [t0, t1], from timestamped counter readings.

    Consecutive deltas are summed, so a window spanning several wraps is fine as long as
    readings are closer together than one wrap. A domain without a known max range is left
    out (a wrap could not be undone). None when no domain has two readings over the window.
    """
    ordered = sorted(readings, key=lambda r: r[0])
    total_uj = 0.0
    measured = False
    for domain, max_range in max_ranges.items():
        running: list[tuple[float, float]] = []
        previous: int | None = None
        cumulative = 0
        for t, values in ordered:
            value = values.get(domain)
            if value is None:
                continue
            if previous is not None:
                try:
                    cumulative += energy_delta_uj(previous, value, max_range)
                except ValueError:
                    # A counter reset (reboot, driver reload) is not a wrap: count nothing.
                    pass
            previous = value
            running.append((t, float(cumulative)))
        window = cumulative_between(running, t0, t1)
        if window is not None:
            total_uj += window
            measured = True
    return total_uj / 1e6 if measured else None
