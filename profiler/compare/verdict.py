"""One metric's change judged: better or worse only when it is both outside the runs' own noise
(the bootstrap interval excludes zero) and larger than the noise floor."""

from __future__ import annotations

from profiler.compare.bootstrap import Interval
from profiler.schema.verdicts import Change, Direction, MetricDelta


def _rounded(value: float | None) -> float | None:
    return round(value, 3) if value is not None else None


def judged(
    metric: str,
    unit: str,
    direction: Direction,
    base: float | None,
    new: float | None,
    interval: Interval | None,
    relative: bool,
    floor_pct: float,
) -> MetricDelta:
    """The delta of one metric. `relative`: the interval is in percent of base; otherwise in the
    metric's unit (an error rate's percentage points), judged against the floor as points."""
    change_pct = (new - base) / base * 100.0 if base is not None and new is not None and base > 0 else None
    verdict: Change = "unknown"
    significant = False
    if base is not None and new is not None:
        size = interval.change if interval is not None else (change_pct if relative else new - base)
        floor = floor_pct if relative else floor_pct / 10.0  # 10% of a latency; 1 point of errors
        quiet = interval is not None and not interval.excludes_zero
        significant = size is not None and not quiet and abs(size) >= floor
        if size is None:
            verdict = "no change" if new == base else "unknown"
        elif significant:
            worse = size > 0 if direction == "lower-is-better" else size < 0
            verdict = "worse" if worse else "better"
        else:
            verdict = "no change"
    return MetricDelta(
        metric=metric,
        unit=unit,
        direction=direction,
        base=_rounded(base),
        new=_rounded(new),
        change_pct=_rounded(change_pct),
        ci_low_pct=_rounded(interval.low) if interval is not None else None,
        ci_high_pct=_rounded(interval.high) if interval is not None else None,
        significant=significant,
        verdict=verdict,
    )
