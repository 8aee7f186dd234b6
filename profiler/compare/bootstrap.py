"""How much of a change is the runs' own noise: a bootstrap 95% interval of the change in a
statistic, resampling each run's per-request records (or per-second counts) with replacement.

Each statistic's bootstrap distribution is drawn directly where it is known in closed form (see
_resampled), so a stage of 100 000 requests costs a sort, not 100 000 x RESAMPLES draws; seeded
so that a comparison reads the same every time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

RESAMPLES = 2000
CLT_MIN = 200  # means of this many values or more are drawn from their normal limit
SEED = 20_261_123
MIN_SAMPLE = 5  # fewer values than this have no meaningful interval

Floats = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Statistic:
    """A percentile (q) or the mean (q None) of each row of resamples."""

    q: float | None = None


MEAN = Statistic()


def percentile(q: float) -> Statistic:
    return Statistic(q)


@dataclass(frozen=True, slots=True)
class Interval:
    """A change and its 95% interval, relative (percent of base) or absolute (metric units)."""

    change: float
    low: float
    high: float

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


def _apply(rows: Floats, stats: Sequence[Statistic]) -> Floats:
    """Each statistic of each row: shape (len(stats), rows). Percentiles share one partition."""
    out = np.empty((len(stats), rows.shape[0]))
    qs = [i for i, s in enumerate(stats) if s.q is not None]
    if qs:
        out[qs] = np.percentile(rows, [stats[i].q for i in qs], axis=1)
    for i, s in enumerate(stats):
        if s.q is None:
            out[i] = rows.mean(axis=1)
    return out


def _resampled(values: Floats, stats: Sequence[Statistic], rng: np.random.Generator) -> Floats:
    """RESAMPLES bootstrap values of each statistic, shape (len(stats), RESAMPLES), without
    drawing the resamples themselves where their distribution is known:

    - a percentile: the k-th smallest of n draws from the sample is the sample's value at rank
      ceil(n U), U the k-th smallest of n uniforms, and U ~ Beta(k, n - k + 1): one draw each;
    - a mean of many values: the bootstrap means are normal about the mean with the standard
      error (the central limit theorem, to well under the noise floor past CLT_MIN values);
    - a mean of few values: resampled outright."""
    n = len(values)
    ordered = np.sort(values)
    out = np.empty((len(stats), RESAMPLES))
    for i, s in enumerate(stats):
        if s.q is not None:
            k = min(n, max(1, math.ceil(s.q / 100.0 * n)))
            ranks = (rng.beta(k, n - k + 1, RESAMPLES) * n).astype(np.int64)
            out[i] = ordered[np.clip(ranks, 0, n - 1)]
        elif n >= CLT_MIN:
            out[i] = rng.normal(values.mean(), values.std(ddof=1) / math.sqrt(n), RESAMPLES)
        else:
            out[i] = values[rng.integers(0, n, size=(RESAMPLES, n))].mean(axis=1)
    return out


def change_intervals(
    base: Floats, new: Floats, stats: Sequence[Statistic], relative: bool = True
) -> list[Interval | None]:
    """For each statistic, its change from base to new (percent of base when `relative`, else
    in units) and the bootstrap 95% interval, from one set of resamples shared by all of them.
    None where a side is too small, or a relative change of a zero base is asked for."""
    if len(base) < MIN_SAMPLE or len(new) < MIN_SAMPLE:
        return [None] * len(stats)
    rng = np.random.default_rng(SEED)
    point_base, point_new = _apply(base[None, :], stats)[:, 0], _apply(new[None, :], stats)[:, 0]
    all_base, all_new = _resampled(base, stats, rng), _resampled(new, stats, rng)
    return [
        _interval(float(point_base[i]), float(point_new[i]), all_base[i], all_new[i], relative)
        for i in range(len(stats))
    ]


def _interval(point_base: float, point_new: float, base: Floats, new: Floats, relative: bool) -> Interval | None:
    if relative:
        if point_base <= 0:
            return None
        ok = base > 0
        diffs = (new[ok] - base[ok]) / base[ok] * 100.0
        change = (point_new - point_base) / point_base * 100.0
    else:
        diffs, change = new - base, point_new - point_base
    if len(diffs) < RESAMPLES // 2:
        return None
    low, high = np.percentile(diffs, [2.5, 97.5])
    return Interval(change=change, low=float(low), high=float(high))


def change_interval(base: Floats, new: Floats, stat: Statistic, relative: bool = True) -> Interval | None:
    return change_intervals(base, new, [stat], relative)[0]


def per_interval(done_s: Floats, start: float, end: float, width: float = 0.5) -> Floats:
    """Completions per second in each whole `width` of [start, end): the units throughput is
    resampled in (half-seconds, so a 3-second stage still has six)."""
    bins = int((end - start) / width)
    if bins < 1:
        return np.zeros(0)
    counts, _ = np.histogram(done_s, bins=bins, range=(start, start + bins * width))
    return counts.astype(np.float64) / width
