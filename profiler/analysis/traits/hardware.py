"""Rules on the target's hardware: memory that grows with work, and a GPU that is the bottleneck or idles."""

from __future__ import annotations

import math
from collections.abc import Sequence

from profiler.analysis.figures.signals import Signals
from profiler.analysis.traits.common import closed, plateau
from profiler.analysis.traits.evidence import Finding, GpuBound, GpuUnderutilized, MemoryGrowth, finding
from profiler.analysis.traits.thresholds import GPU_BUSY, GPU_IDLE, MEMORY_MIN_GROWTH_MB, MEMORY_MIN_R2
from profiler.base.config import DEFAULT_MEMORY_LIMIT_MB, MIB
from profiler.base.stats import mean


def _load_groups(signals: Signals) -> list[list[int]]:
    """The rss samples taken at each load (users or rate), as indices: one group per concurrency,
    over every stage run at it. Samples outside every stage are left out; all samples are one
    group when stage membership is not known."""
    count = len(signals.rss_series)
    if len(signals.rss_stages) != count:
        return [list(range(count))]
    load = {s.index: (s.users, s.rate) for s in signals.stages}
    groups: dict[tuple[int | None, float | None], list[int]] = {}
    for i, stage in enumerate(signals.rss_stages):
        if stage is not None and stage in load:
            groups.setdefault(load[stage], []).append(i)
    return list(groups.values())


def _within_fit(xs: Sequence[float], ys: Sequence[float], groups: Sequence[Sequence[int]]) -> tuple[float, float]:
    """(slope, R^2) of y on x with an intercept of its own per group: how y grows while the load
    stays the same. A step between groups (memory per connection on a ladder) adds nothing."""
    sxx = sxy = syy = 0.0
    for g in (g for g in groups if len(g) >= 2):
        mx, my = mean([xs[i] for i in g]), mean([ys[i] for i in g])
        sxx += math.fsum((xs[i] - mx) ** 2 for i in g)
        sxy += math.fsum((xs[i] - mx) * (ys[i] - my) for i in g)
        syy += math.fsum((ys[i] - my) ** 2 for i in g)
    if sxx <= 0 or syy <= 0:
        return 0.0, 0.0
    slope = sxy / sxx
    return slope, 1 - (syy - slope * sxy) / syy


def memory_growth(signals: Signals, limit_mb: float = DEFAULT_MEMORY_LIMIT_MB) -> Finding[MemoryGrowth] | None:
    series = signals.rss_series
    if len(series) < 10 or series[-1][0] < 200:
        return None
    xs = [x for x, _ in series]
    ys = [y / MIB for _, y in series]
    growth = ys[-1] - ys[0]
    if growth < MEMORY_MIN_GROWTH_MB or growth < 0.1 * ys[0]:
        return None
    # A leak grows at constant concurrency; memory per connection steps up with users and stays
    # flat within a stage, and on a doubling ladder it rises with requests just the same.
    groups = _load_groups(signals)
    slope, r2 = _within_fit(xs, ys, groups)  # MiB per request at constant load
    half = len(series) // 2
    slope_late, _ = _within_fit(xs, ys, [[i for i in g if i >= half] for g in groups])
    if slope <= 0 or r2 < MEMORY_MIN_R2 or slope_late < 0.5 * slope:
        return None  # a warm-up that levels off is not a leak
    if slope * (xs[-1] - xs[0]) < MEMORY_MIN_GROWTH_MB:
        return None  # most of the growth came with concurrency, not with work
    times = signals.rss_times
    per_s, _ = _within_fit(times, ys, groups) if len(times) == len(ys) else (0.0, 0.0)
    to_limit = (limit_mb - ys[-1]) / per_s / 60.0 if per_s > 0 and ys[-1] < limit_mb else None
    confidence = 0.55 + 0.35 * min(1.0, (r2 - MEMORY_MIN_R2) / 0.15) + 0.05 * (slope_late >= 0.8 * slope)
    evidence = MemoryGrowth(
        mib_per_1k_requests=slope * 1000,
        mib_per_minute=per_s * 60,
        growth_mib=growth,
        r_squared=r2,
        rss_end_mib=ys[-1],
        limit_mib=limit_mb,
        minutes_to_limit=to_limit,
    )
    summary = (
        f"Resident memory grew steadily with requests served at constant concurrency: {slope * 1000:.2f} MiB per "
        f"1k requests ({growth:.0f} MiB over the run, R^2={r2:.2f})"
        + (f"; at this rate it reaches {limit_mb:.0f} MiB in {to_limit:.1f} minutes." if to_limit is not None else ".")
    )
    return finding(evidence, confidence, summary)


def _gpu_util_by_stage(signals: Signals) -> dict[int, float]:
    """Utilisation per stage of the GPUs the target uses (it holds memory there).

    Utilisation is device-wide: a busy GPU that the target does not touch is someone else's
    job. When no per-process memory is readable (e.g. some MIG or container setups), all
    devices are read, the best that can be done.
    """
    mine = {g.device for g in signals.gpu if (g.proc_mem_max_mb or 0) > 0}
    out: dict[int, float] = {}
    for g in signals.gpu:
        if g.util_gpu_mean is not None and (not mine or g.device in mine):
            out[g.stage] = max(out.get(g.stage, 0.0), g.util_gpu_mean)
    return out


def gpu_bound(signals: Signals) -> Finding[GpuBound] | None:
    util = _gpu_util_by_stage(signals)
    found = plateau(signals)
    if not util or found is None:
        return None
    p, stages = found
    on = [util[s.index] for s in stages if s.index in util]
    if not on or mean(on) < GPU_BUSY:
        return None
    return finding(
        GpuBound(plateau_rps=p.rps, gpu_util_pct=mean(on)),
        0.6 + 0.3 * min(1.0, (mean(on) - GPU_BUSY) / 10),
        f"Throughput plateaued at {p.rps:.0f} rps with the GPU {mean(on):.0f}% busy.",
    )


def gpu_underutilized(signals: Signals) -> Finding[GpuUnderutilized] | None:
    util = _gpu_util_by_stage(signals)
    uses_gpu = any((g.proc_mem_max_mb or 0) > 0 for g in signals.gpu)
    stages = closed(signals)
    if not util or not uses_gpu or len(stages) < 2:
        return None
    light, top = stages[0], stages[-1]
    top_util = util.get(top.index)
    if top_util is None or top_util > GPU_IDLE or top.p50 < 2 * light.p50:
        return None
    return finding(
        GpuUnderutilized(gpu_util_pct=top_util, p50_light_ms=light.p50, p50_top_ms=top.p50, users=top.users),
        0.7,
        f"Requests queued (p50 {light.p50:.0f} -> {top.p50:.0f} ms) while the GPU was only {top_util:.0f}% busy: "
        "work reaches it one request at a time.",
    )
