"""Capacity per instance at a latency objective, the knee, the USL fit, and instances for a peak."""

from __future__ import annotations

import math
from collections.abc import Sequence

from profiler.analysis.scaling import closed_points, fit_usl, knee
from profiler.analysis.signals import Signals, StageSignal, by_load
from profiler.schema import CapacitySection, UslFit

LIGHT_MULTIPLE = 3.0  # without an SLO: the load at which p95 passes 3x its light-load value
MAX_ERROR_RATE = 0.01  # a stage that fails more than 1% of requests does not count as capacity


def _usl_model(stages: Sequence[StageSignal]) -> UslFit | None:
    """The USL fit of the closed stages, rounded for the report; None when it cannot be fitted."""
    usl = fit_usl(closed_points(stages))
    if usl is None:
        return None
    n_star = usl.n_star
    return UslFit(
        sigma=round(usl.sigma, 6),
        kappa=round(usl.kappa, 8),
        **{"lambda": round(usl.lam, 4)},
        n_star=round(n_star, 2) if n_star is not None else None,
        peak_rps=round(usl.throughput(n_star), 2) if n_star is not None else None,
        r_squared=round(usl.r_squared, 4),
        points=usl.points,
        quality=usl.quality,
    )


def capacity_section(
    signals: Signals,
    slo_threshold_ms: float | None,
    slo_label: str | None,
    peak_rps: float | None,
    headroom: float,
) -> CapacitySection | None:
    stages = signals.measured
    if not stages:
        return None
    if slo_threshold_ms is not None:
        limit = slo_threshold_ms
        basis = f"SLO {slo_label}"
    else:
        # Light load = the better of the two lightest stages: the very first can be a cold start.
        lightest = sorted(stages, key=by_load)[:2]
        light = min(lightest, key=lambda s: s.p95)
        limit = LIGHT_MULTIPLE * light.p95
        basis = f"p95 <= {LIGHT_MULTIPLE:g}x light-load p95 ({light.p95:.1f} ms -> {limit:.1f} ms)"
    ok = [s for s in stages if s.slo_latency is not None and s.slo_latency <= limit and s.error_rate <= MAX_ERROR_RATE]
    best = max(ok, key=lambda s: s.ok_rps) if ok else None
    k = knee(stages)
    if k is not None and k.index == stages[-1].index:
        k = None  # power still rising at the last stage: the knee lies beyond what was tested
    usl_model = None if signals.open_model else _usl_model(stages)
    instances = None
    if peak_rps is not None and best is not None and best.ok_rps > 0:
        instances = max(1, math.ceil(peak_rps * (1 + headroom) / best.ok_rps))
    return CapacitySection(
        slo=slo_label,
        slo_basis=basis,
        latency_limit_ms=round(limit, 3),
        capacity_rps=round(best.ok_rps, 2) if best else None,
        capacity_stage=best.index if best else None,
        capacity_users=best.users if best else None,
        max_rps=round(max(s.ok_rps for s in stages), 2),
        knee_users=k.users if k else None,
        max_tested_users=max((st.users or 0 for st in stages), default=0) or None,
        usl=usl_model,
        peak_rps=peak_rps,
        headroom=headroom,
        instances_needed=instances,
        from_unprofiled_stages=not any(s.profiled for s in stages),
    )
