"""How much of a change is the runs' own noise: a bootstrap 95% interval of the change in a
statistic, resampling each run's per-request records (or per-second counts) with replacement.

Vectorised in blocks of resamples so memory stays bounded (a block of 100 resamples of 20 000
requests is 16 MB of indexes), and seeded so that a comparison reads the same every time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

RESAMPLES = 1000
BLOCK = 100
MAX_SAMPLE = 20_000  # beyond this a run's own noise is already small; subsampling keeps it fast
SEED = 20_261_123
MIN_SAMPLE = 5  # fewer values than this have no meaningful interval

Floats = NDArray[np.float64]
Statistic = Callable[[Floats], Floats]  # rows of resamples -> one value per row


@dataclass(frozen=True, slots=True)
class Interval:
    """A change and its 95% interval, relative (percent of base) or absolute (metric units)."""

    change: float
    low: float
    high: float

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


def percentile(q: float) -> Statistic:
    return lambda rows: np.percentile(rows, q, axis=1)


def mean(rows: Floats) -> Floats:
    return np.asarray(rows.mean(axis=1), dtype=np.float64)


def _capped(values: Floats, rng: np.random.Generator) -> Floats:
    return rng.choice(values, MAX_SAMPLE, replace=False) if len(values) > MAX_SAMPLE else values


def _resampled(values: Floats, stat: Statistic, rng: np.random.Generator) -> Floats:
    out = []
    for start in range(0, RESAMPLES, BLOCK):
        n = min(BLOCK, RESAMPLES - start)
        idx = rng.integers(0, len(values), size=(n, len(values)))
        out.append(stat(values[idx]))
    return np.concatenate(out)


def change_interval(base: Floats, new: Floats, stat: Statistic, relative: bool = True) -> Interval | None:
    """The change of `stat` from base to new (percent of base when `relative`, else in units)
    and its bootstrap 95% interval; None when either side is too small or a relative change of
    a zero base is asked for."""
    if len(base) < MIN_SAMPLE or len(new) < MIN_SAMPLE:
        return None
    rng = np.random.default_rng(SEED)
    base, new = _capped(base, rng), _capped(new, rng)
    point_base, point_new = float(stat(base[None, :])[0]), float(stat(new[None, :])[0])
    if relative and point_base <= 0:
        return None
    stats_base, stats_new = _resampled(base, stat, rng), _resampled(new, stat, rng)
    if relative:
        ok = stats_base > 0
        diffs = (stats_new[ok] - stats_base[ok]) / stats_base[ok] * 100.0
        change = (point_new - point_base) / point_base * 100.0
    else:
        diffs, change = stats_new - stats_base, point_new - point_base
    if len(diffs) < RESAMPLES // 2:
        return None
    low, high = np.percentile(diffs, [2.5, 97.5])
    return Interval(change=change, low=float(low), high=float(high))


def per_interval(done_s: Floats, start: float, end: float, width: float = 0.5) -> Floats:
    """Completions per second in each whole `width` of [start, end): the units throughput is
    resampled in (half-seconds, so a 3-second stage still has six)."""
    bins = int((end - start) / width)
    if bins < 1:
        return np.zeros(0)
    counts, _ = np.histogram(done_s, bins=bins, range=(start, start + bins * width))
    return counts.astype(np.float64) / width
