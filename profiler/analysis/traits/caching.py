"""Traits from what the answers say of caching (requests.csv's format-4 columns, per route):
cacheable-responses, where the same request keeps getting the same answer with nothing said about
caching it, and low-cache-hit-ratio, where a cache in front answers but misses most of the time
while a miss costs much more than a hit. Each names its route; the route with the most answers
that meets the rule is the one said (a trait per run, its subject the route)."""

from __future__ import annotations

from profiler.analysis.figures.signals import RoutePayload, Signals
from profiler.analysis.traits.evidence import CacheableResponses, Finding, LowCacheHitRatio, finding
from profiler.analysis.traits.thresholds import (
    CACHE_HEADERS_SHARE,
    CACHE_MIN_RESPONSES,
    CACHE_VARIED_REQUESTS,
    CACHEABLE_REPEAT_SHARE,
    LOW_HIT_MISS_FACTOR,
    LOW_HIT_RATIO,
)


def _cacheable(p: RoutePayload) -> bool:
    return (
        p.responses >= CACHE_MIN_RESPONSES
        and p.repeat_share is not None
        and p.repeat_share >= CACHEABLE_REPEAT_SHARE
        and (p.cache_headers_share or 0.0) < CACHE_HEADERS_SHARE
        and p.reported == 0  # a cache already answers it: low-cache-hit-ratio speaks of that one
        # One URL under test always repeats: that says the app is deterministic, not what a cache
        # would hit on real traffic. The repeat share is in the route's figures either way.
        and p.distinct_requests >= CACHE_VARIED_REQUESTS
    )


def cacheable_responses(signals: Signals) -> Finding[CacheableResponses] | None:
    p = next((p for p in signals.payload if _cacheable(p)), None)
    if p is None or p.repeat_share is None:
        return None
    requests = f"over {p.distinct_requests:,} distinct requests"
    size = f" of {p.response_bytes_mean / 1024:,.1f} KB" if p.response_bytes_mean else ""
    return finding(
        CacheableResponses(
            route=p.route,
            repeat_share=p.repeat_share,
            responses=p.responses,
            distinct_requests=p.distinct_requests,
            cache_headers_share=p.cache_headers_share or 0.0,
            route_share=p.share,
            response_bytes_mean=p.response_bytes_mean,
        ),
        0.6 + 0.35 * min(1.0, (p.repeat_share - CACHEABLE_REPEAT_SHARE) / 0.4),
        f"{p.repeat_share:.0%} of the {p.responses:,} answers{size} to {p.route} repeat an earlier answer to the "
        f"same request, {requests}; {p.cache_headers_share or 0.0:.0%} carry Cache-Control, ETag, Last-Modified "
        "or Expires.",
    )


def _low_hit(p: RoutePayload) -> bool:
    return (
        p.reported >= CACHE_MIN_RESPONSES
        and p.hit_ratio is not None
        and p.hit_ratio < LOW_HIT_RATIO
        and p.hit_p50_ms is not None
        and p.miss_p50_ms is not None
        and p.miss_p50_ms >= LOW_HIT_MISS_FACTOR * max(p.hit_p50_ms, 0.001)
    )


def low_cache_hit_ratio(signals: Signals) -> Finding[LowCacheHitRatio] | None:
    p = next((p for p in signals.payload if _low_hit(p)), None)
    if p is None or p.hit_ratio is None or p.hit_p50_ms is None or p.miss_p50_ms is None:
        return None
    ideal = (
        f"; {p.repeat_share:.0%} of its answers repeat, the most a cache keyed on the request could hit"
        if (p.repeat_share is not None)
        else ""
    )
    return finding(
        LowCacheHitRatio(
            route=p.route,
            hit_ratio=p.hit_ratio,
            reported=p.reported,
            hit_p50_ms=p.hit_p50_ms,
            miss_p50_ms=p.miss_p50_ms,
            route_share=p.share,
            repeat_share=p.repeat_share,
        ),
        0.6 + 0.35 * min(1.0, (LOW_HIT_RATIO - p.hit_ratio) / LOW_HIT_RATIO),
        f"The cache in front of {p.route} hit {p.hit_ratio:.0%} of {p.reported:,} answers; a miss took "
        f"{p.miss_p50_ms:.1f} ms at the median against {p.hit_p50_ms:.1f} ms for a hit{ideal}.",
    )
