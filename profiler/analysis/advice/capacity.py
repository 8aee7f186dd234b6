"""Capacity per instance at a latency objective, the knee, the USL fit, and instances for a peak."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from profiler.analysis.advice.plan import fleet_size
from profiler.analysis.figures.scaling import closed_points, find_plateau, fit_usl, knee
from profiler.analysis.figures.signals import Signals, StageSignal, by_load
from profiler.schema.report import CapacitySection, UslFit

LIGHT_MULTIPLE = 3.0  # without an SLO: the load at which p95 passes 3x its light-load value
MAX_ERROR_RATE = 0.01  # a stage that fails more than 1% of requests does not count as capacity
NO_LIMIT = "not known without an SLO or a lighter stage (pass --slo, or run more than one load)"
Cause = Literal["latency", "errors", "generator"]  # what keeps a stage out of capacity


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


def _light_limit(stages: Sequence[StageSignal]) -> tuple[float | None, str]:
    """Without an SLO: the limit is 3x the p95 of a stage that is really light, and its basis."""
    heaviest = max(by_load(s)[0] for s in stages)
    # Only a stage under less load than the heaviest can be light: a lone (perhaps saturated)
    # stage would set the limit from its own p95 and then pass against it.
    lighter = sorted((s for s in stages if by_load(s)[0] < heaviest), key=by_load)[:2]
    if not lighter:
        return None, NO_LIMIT
    # The better of the two lightest: the very first can be a cold start.
    light = min(lighter, key=lambda s: s.p95)
    limit = LIGHT_MULTIPLE * light.p95
    return limit, f"p95 <= {LIGHT_MULTIPLE:g}x light-load p95 ({light.p95:.1f} ms -> {limit:.1f} ms)"


def _excluded(s: StageSignal, limit: float) -> Cause | None:
    """Why a stage does not count as capacity, or None when it does. Errors are named first: the
    latency of failing requests (fast refusals, timeouts) says little about the app's speed."""
    if s.unsent:
        return "generator"  # the offered rate was not delivered: the stage measured the generator
    if s.generator_limited and (s.slo_latency is None or s.slo_latency > limit):
        return "generator"  # over the limit by the generator's own queueing, not the target's
    if s.error_rate > MAX_ERROR_RATE:
        return "errors"
    if s.slo_latency is None or s.slo_latency > limit:
        return "latency"
    return None


def _capacity_stage(
    stages: Sequence[StageSignal], limit: float | None
) -> tuple[StageSignal | None, StageSignal | None, bool]:
    """The best stage within the limit; the lightest heavier stage the limit excluded (what ended
    capacity; any stage when none qualified); and whether the capacity is only a lower bound."""
    if limit is None:
        return None, None, False
    ok = [s for s in stages if _excluded(s, limit) is None]
    best = max(ok, key=lambda s: s.ok_rps) if ok else None
    floor = by_load(best)[0] if best is not None else -1.0
    heavier = sorted((s for s in stages if by_load(s)[0] > floor), key=by_load)
    stop = next((s for s in heavier if _excluded(s, limit) is not None), None)
    # The best is the heaviest load tested (nothing heavier failed) and throughput was still rising:
    # the instance can take more, by how much was not tested.
    lower_bound = best is not None and not heavier and find_plateau(stages) is None
    # Where the load generator was the limit, the target was not offered what would find its own:
    # the capacity measured is what the generator could deliver, a floor.
    floor_only = best is not None and (best.generator_limited or any(s.generator_limited for s in heavier))
    return best, stop, lower_bound or floor_only


def capacity_section(
    signals: Signals,
    slo_threshold_ms: float | None,
    slo_label: str | None,
    peak_rps: float | None,
    headroom: float,
) -> CapacitySection | None:
    # Capacity reads every delivered stage (one the generator limited gives a floor); the knee and
    # the USL fit, the shape of the target's own curve, only the stages that measured the target.
    stages, target = signals.delivered, signals.measured
    if not stages:
        return None
    limit, basis = (slo_threshold_ms, f"SLO {slo_label}") if slo_threshold_ms is not None else _light_limit(stages)
    best, stop, lower_bound = _capacity_stage(stages, limit)
    k = knee(target) if target else None
    if k is not None and k.index == target[-1].index:
        k = None  # power still rising at the last stage: the knee lies beyond what was tested
    usl_model = None if signals.open_model or not target else _usl_model(target)
    cause = _excluded(stop, limit) if stop is not None and limit is not None else None
    cause_stage = stop.index if stop else None
    if cause is None and best is not None and best.generator_limited:
        cause, cause_stage = "generator", best.index  # nothing heavier failed: the generator capped the best
    instances = None
    if peak_rps is not None and best is not None and best.ok_rps > 0:
        instances = fleet_size(peak_rps, best.ok_rps, headroom)
    return CapacitySection(
        slo=slo_label,
        slo_basis=basis,
        latency_limit_ms=round(limit, 3) if limit is not None else None,
        capacity_rps=round(best.ok_rps, 2) if best else None,
        capacity_stage=best.index if best else None,
        capacity_users=best.users if best else None,
        capacity_is_lower_bound=lower_bound,
        limited_by=cause,
        limiting_stage=cause_stage,
        max_rps=round(max(s.ok_rps for s in stages), 2),
        knee_users=k.users if k else None,
        max_tested_users=max((st.users or 0 for st in stages), default=0) or None,
        usl=usl_model,
        peak_rps=peak_rps,
        headroom=headroom,
        instances_needed=instances,
        from_unprofiled_stages=not any(s.profiled for s in stages),
    )
