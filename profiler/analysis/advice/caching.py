"""Advice on caching, with its numbers: what a cache at CACHE_TARGET_HIT_RATIO would take off the
app (analysis/traits/caching.py finds the traits). The arithmetic: a route that is a share m of the
mix, hit at ratio h, leaves 1 - h*m of the requests to the app; an instance that served C rps of
the mix then serves C / (1 - h*m), and a fleet of N needs ceil(N * (1 - h*m)). It assumes a hit
costs the app nothing (the cache answers it) and the mix stays as measured: both are said."""

from __future__ import annotations

import math

from profiler.analysis.advice.vocabulary import AdviceContext, advice, as_float, for_trait
from profiler.analysis.traits import evidence as ev
from profiler.analysis.traits.thresholds import CACHE_TARGET_HIT_RATIO
from profiler.schema.report import Recommendation

FLEET = 10  # the fleet the saving is said for: "10 instances -> 3"


def reaching_app(route_share: float, hit_ratio: float) -> float:
    """The share of the mix's requests that still reach the app with that route hit at that ratio."""
    return max(0.0, 1.0 - hit_ratio * route_share)


def _savings(route_share: float, hit_ratio: float, ctx: AdviceContext) -> tuple[str, dict[str, float | int | None]]:
    left = reaching_app(route_share, hit_ratio)
    fleet = math.ceil(FLEET * left - 1e-9)
    cap = ctx.capacity
    per = cap.capacity_rps if cap is not None and not cap.capacity_is_lower_bound else None
    with_cache = per / left if per and left > 0 else None
    text = f"{left:.0%} of the mix's requests would still reach the app: {FLEET} instances for a peak become {fleet}"
    if with_cache is not None and per is not None:
        text += f", and an instance that served {per:,.1f} rps of this mix would serve about {with_cache:,.1f}"
    return text, {"reaching_app_share": round(left, 4), "instances_of_10": fleet,
                  "capacity_rps": as_float(per), "capacity_rps_with_cache": as_float(with_cache)}  # fmt: skip


def _key(route: str) -> str:
    method = route.partition(" ")[0]
    return "on the URL" if method in ("GET", "HEAD") else "on the request body (the same input gets the same answer)"


@for_trait(ev.CacheableResponses)
def add_cache(found: ev.CacheableResponses, ctx: AdviceContext) -> list[Recommendation]:
    hit = min(CACHE_TARGET_HIT_RATIO, found.repeat_share)
    saved, values = _savings(found.route_share, hit, ctx)
    return advice(
        "add-response-cache",
        f"Cache the answers to {found.route}, keyed {_key(found.route)}: {found.repeat_share:.0%} of them repeat "
        f"and none says how it may be cached. At a {hit:.0%} hit ratio, {saved}. Send Cache-Control (max-age) "
        "and an ETag so browsers, a CDN or a proxy in front can keep them, or cache in the app (Redis, an LRU).",
        "A repeated answer is computed again for every request; a hit costs a cache lookup, not the app's work "
        "(assumed free here, and the mix as measured).",
        [ev.CacheableResponses.ID],
        repeat_share=as_float(found.repeat_share),
        hit_ratio=as_float(hit),
        route_share=as_float(found.route_share),
        **values,
    )


@for_trait(ev.LowCacheHitRatio)
def raise_hit_ratio(found: ev.LowCacheHitRatio, ctx: AdviceContext) -> list[Recommendation]:
    goal = CACHE_TARGET_HIT_RATIO if found.repeat_share is None else min(CACHE_TARGET_HIT_RATIO, found.repeat_share)
    now = reaching_app(found.route_share, found.hit_ratio)
    then = reaching_app(found.route_share, goal)
    fleet_now, fleet_then = math.ceil(FLEET * now - 1e-9), math.ceil(FLEET * then - 1e-9)
    return advice(
        "raise-cache-hit-ratio",
        f"Raise the cache's hit ratio on {found.route} from {found.hit_ratio:.0%} toward {goal:.0%}: a miss "
        f"takes {found.miss_p50_ms:.1f} ms at the median, a hit {found.hit_p50_ms:.1f} ms. Longer TTLs, a cache "
        "key without the parts that vary needlessly (tracking query parameters, cookies, Vary on headers that "
        f"do not change the answer), and stale-while-revalidate. The app's share of the mix would fall from "
        f"{now:.0%} to {then:.0%}: {fleet_now} instances become {fleet_then}.",
        "Every miss is a request the app computes; the hit ratio sets the fleet behind the cache.",
        [ev.LowCacheHitRatio.ID],
        hit_ratio=as_float(found.hit_ratio),
        goal_hit_ratio=as_float(goal),
        hit_p50_ms=as_float(found.hit_p50_ms),
        miss_p50_ms=as_float(found.miss_p50_ms),
        instances_of_10_now=fleet_now,
        instances_of_10_then=fleet_then,
    )
