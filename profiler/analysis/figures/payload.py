"""A route's bytes and caching, from the engine's tally (runfolder/engine/payload.py): the figures
report.json keeps per route, and the signals the cache traits read."""

from __future__ import annotations

from profiler.analysis.figures.signals import RoutePayload
from profiler.runfolder.engine import PayloadTally, RequestTable
from profiler.schema.payload import CacheFigures, PayloadFigures

MAX_PAYLOAD_ROUTES = 20  # as analysis/routes.py's MAX_ROUTES: the rest are counted in the mix only


def _r(value: float | None, digits: int = 3) -> float | None:
    return round(value, digits) if value is not None else None


def cache_figures(t: PayloadTally) -> CacheFigures | None:
    if not t.reported:
        return None
    hit, miss = t.hit_ms or (None, None), t.miss_ms or (None, None)
    return CacheFigures(
        reported=t.reported,
        verdicts=dict(sorted(t.verdicts.items(), key=lambda kv: -kv[1])),
        hit_ratio=_r(t.hit_ratio, 4),
        hit_p50_ms=_r(hit[0]),
        hit_p95_ms=_r(hit[1]),
        miss_p50_ms=_r(miss[0]),
        miss_p95_ms=_r(miss[1]),
    )


def payload_figures(t: PayloadTally) -> PayloadFigures:
    return PayloadFigures(
        responses=t.responses,
        request_bytes_mean=_r(t.request_bytes_mean, 1),
        response_bytes_mean=_r(t.response_bytes_mean, 1),
        response_bytes_p50=_r(t.response_bytes_p50, 1),
        response_bytes_max=t.response_bytes_max,
        cache_headers_share=_r(t.cache_headers_share, 4),
        repeat_share=_r(t.repeat_share, 4),
        distinct_requests=t.distinct_requests,
        cache=cache_figures(t),
    )


def route_payloads(table: RequestTable, format_version: int) -> tuple[RoutePayload, ...]:
    """Each route's payload signal, most requests first; () for folders written before format 4."""
    if format_version < 4:
        return ()
    routes = table.routes()
    total = sum(routes.values())
    out = []
    for route, n in list(routes.items())[:MAX_PAYLOAD_ROUTES]:
        t = table.for_route(route).payload()
        hit, miss = t.hit_ms, t.miss_ms
        out.append(
            RoutePayload(
                route=route or "(the run's URL)",
                share=n / total if total else 0.0,
                responses=t.responses,
                repeat_share=t.repeat_share,
                distinct_requests=t.distinct_requests,
                cache_headers_share=t.cache_headers_share,
                response_bytes_mean=t.response_bytes_mean,
                reported=t.reported,
                hit_ratio=t.hit_ratio,
                hit_p50_ms=hit[0] if hit else None,
                miss_p50_ms=miss[0] if miss else None,
            )
        )
    return tuple(out)
