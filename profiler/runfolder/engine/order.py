"""Exact percentiles of a column too long to hold: streamed counts narrow each rank to a few values.

Reading a 10M-row column into memory and partitioning it costs ~230 MB (the column, numpy's copy
and polars' buffers). Instead, a streamed group-by counts the values in equal slices of their range
(with each slice's min and max), the running counts find the slice that holds each wanted rank, and
that slice is read whole once it holds few values, or sliced again. The slice of a value is
floor((v - lo) * scale): IEEE arithmetic rounds monotonically, so it never decreases as v grows and
a slice is exactly the values between its min and max. Memory is the counts (a few thousand rows)
and one small slice; the answer is the value numpy's default (linear) percentile gives, with the
same interpolation arithmetic. Only finite values count: null, NaN and infinity are left out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

_V = "/value"
_SLICES = 4096  # slices per narrowing: a few thousand count rows, each narrowing 4096x finer
_FEW = 1 << 16  # a slice that holds no more values than this is read whole
_NARROWINGS = 8  # past this, read what is left whole (a range no slicing splits: it cannot happen
# with finite floats, whose spacing 4096 slices always divides, but a loop must end)


@dataclass(frozen=True)
class _Slice:
    below: int  # how many values are smaller than lo
    count: int
    lo: float
    hi: float  # inclusive: the slice's own min and max


def _collect(lazy: pl.LazyFrame) -> pl.DataFrame:
    return lazy.collect(engine="streaming")


def _ranks(n: int, pcts: Sequence[float]) -> list[tuple[int, int, float]]:
    """numpy's linear method: each percentile's two neighbouring ranks and the weight between them
    (the virtual index (n - 1) * q; at or past the last rank, the largest value)."""
    out = []
    for pct in pcts:
        virtual = (n - 1) * (pct / 100.0)
        if virtual >= n - 1:
            out.append((n - 1, n - 1, 0.0))
            continue
        lo = max(math.floor(virtual), 0)
        out.append((lo, lo + 1, virtual - lo if virtual >= 0 else 0.0))
    return out


def _lerp(a: float, b: float, t: float) -> float:
    diff = b - a
    return b - diff * (1.0 - t) if t >= 0.5 else a + diff * t


def _splittable(part: _Slice) -> bool:
    """Whether the part's range can be sliced: its width and 4096 over it are finite and not zero."""
    scale = _SLICES / (part.hi - part.lo) if part.hi > part.lo else math.inf
    return 0.0 < scale < math.inf and math.isfinite(part.hi - part.lo)


def _within(part: _Slice) -> pl.Expr:
    return pl.col(_V).is_between(part.lo, part.hi)


def _sliced(values: pl.LazyFrame, part: _Slice) -> list[_Slice]:
    """The part's values in equal slices of its range, in order: counts, mins and maxes, streamed."""
    scale = _SLICES / (part.hi - part.lo)
    index = ((pl.col(_V) - part.lo) * scale).floor().alias("/slice")
    rows = values.filter(_within(part)).group_by(index)
    frame = _collect(rows.agg(pl.len().alias("n"), pl.col(_V).min().alias("lo"), pl.col(_V).max().alias("hi")))
    out, below = [], part.below
    for n, lo, hi in frame.sort("/slice").select("n", "lo", "hi").iter_rows():
        out.append(_Slice(below, int(n), float(lo), float(hi)))
        below += int(n)
    return out


def _read(values: pl.LazyFrame, parts: dict[_Slice, list[int]]) -> dict[int, float]:
    """The values at the ranks each part holds: every part's values read in one scan, then sorted."""
    found = {r: part.lo for part, ranks in parts.items() if part.lo == part.hi for r in ranks}  # all one value
    mixed = [part for part in parts if part.lo != part.hi]
    if mixed:
        held = _collect(values.filter(pl.any_horizontal(*map(_within, mixed)))).get_column(_V)
        for part in mixed:
            inside = held.filter(held.is_between(part.lo, part.hi)).sort()
            found |= {r: float(inside[r - part.below]) for r in parts[part]}
    return found


def _order_values(values: pl.LazyFrame, whole: _Slice, ranks: set[int]) -> dict[int, float]:
    """The value at each rank (0-based) of the finite values, narrowing one slice at a time."""
    found: dict[int, float] = {}
    pending: dict[_Slice, list[int]] = {whole: sorted(ranks)}
    for narrowing in range(_NARROWINGS + 1):
        narrower: dict[_Slice, list[int]] = {}
        few = {p: w for p, w in pending.items() if p.count <= _FEW or narrowing == _NARROWINGS or not _splittable(p)}
        found |= _read(values, few) if few else {}
        for part, wanted in pending.items():
            if part in few:
                continue
            slices = _sliced(values, part)
            for r in wanted:
                holder = next(s for s in slices if s.below <= r < s.below + s.count)
                narrower.setdefault(holder, []).append(r)
        pending = narrower
    return found


Bounds = tuple[int, float, float]  # how many finite values, their min and max


def streamed_percentiles(
    rows: pl.LazyFrame, column: str, pcts: Sequence[float], bounds: Bounds | None = None
) -> tuple[float, ...] | None:
    """Exact percentiles (numpy's linear method) of one column's finite values, never holding the
    column: None when it has none. `bounds`, where a streamed pass of the caller's already counted
    them, save the first scan."""
    values = rows.select(pl.col(column).cast(pl.Float64).alias(_V)).filter(pl.col(_V).is_finite())
    if bounds is None:
        stats = values.select(pl.len().alias("n"), pl.col(_V).min().alias("lo"), pl.col(_V).max().alias("hi"))
        bounds = _collect(stats).row(0)
    n, lo, hi = bounds
    if not n:
        return None
    where = _ranks(int(n), pcts)
    found = _order_values(values, _Slice(0, int(n), float(lo), float(hi)), {r for a, b, _ in where for r in (a, b)})
    return tuple(_lerp(found[a], found[b], t) for a, b, t in where)
