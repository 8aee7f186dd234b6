"""report.json's bytes and cache figures of a route (`routes[].payload`), in their own module so
the routes schema stays one readable page. Re-exported by profiler.schema.report."""

from __future__ import annotations

from pydantic import Field

from profiler.schema.base import ReportModel as _Model


class CacheFigures(_Model):
    """What caches in front of (or inside) the app said of the route's answers: X-Cache-Status,
    CF-Cache-Status, X-Cache, Server-Timing `cache;desc=...`, or an Age above 0."""

    reported: int = Field(ge=0, description="Answers that carried a cache's verdict.")
    verdicts: dict[str, int] = Field(
        default_factory=dict, description="Answers by verdict: hit, miss, stale, bypass, other."
    )
    hit_ratio: float | None = Field(None, ge=0, le=1, description="(hit + stale) / reported.")
    hit_p50_ms: float | None = Field(None, ge=0, description="Median latency of hits (and stale answers).")
    hit_p95_ms: float | None = Field(None, ge=0, description="95th percentile latency of hits.")
    miss_p50_ms: float | None = Field(None, ge=0, description="Median latency of misses.")
    miss_p95_ms: float | None = Field(None, ge=0, description="95th percentile latency of misses.")


class PayloadFigures(_Model):
    """A route's bytes and repeats over the whole run's answered requests (2xx/3xx, no error)."""

    responses: int = Field(ge=0, description="Answered requests these figures are over.")
    request_bytes_mean: float | None = Field(None, ge=0, description="Mean request body size sent; null: not known.")
    response_bytes_mean: float | None = Field(None, ge=0, description="Mean response body size.")
    response_bytes_p50: float | None = Field(None, ge=0, description="Median response body size.")
    response_bytes_max: int | None = Field(None, ge=0, description="Largest response body.")
    cache_headers_share: float | None = Field(
        None, ge=0, le=1, description="Share of answers carrying Cache-Control, ETag, Last-Modified or Expires."
    )
    repeat_share: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Share of answers whose body repeats an earlier answer to the same request (method, URL, "
        "body): the ideal hit ratio of a cache keyed on the request. Null: bodies not keyed (streams, older folders).",
    )
    distinct_requests: int = Field(0, ge=0, description="Distinct requests (method, URL, body) among them.")
    cache: CacheFigures | None = Field(None, description="The caches' verdicts; null when no answer carried one.")
