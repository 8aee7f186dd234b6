"""Bytes and caching over a table's answered requests: sizes, repeats, and the cache's verdicts.

Read from requests.csv's format-4 columns (records.CACHE_COLUMNS): each request's body size and
key, each answer's body key, the verdict a cache put in its headers. A *repeat* is an answer whose
body is the same as an earlier answer to the same request (same method, URL and body): the hits a
cache keyed on the request would have served had it kept every answer (its ideal hit ratio).
Folders written before format 4 have none of this: every figure reads as not known (None).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from profiler.runfolder.records import CACHE_HIT, CACHE_MISS, CACHE_STALE, FLAG_CACHE_HEADERS

_OK = (pl.col("error") == "") & pl.col("status").is_between(200, 399)
_HIT = pl.col("cache_status").cast(pl.String).is_in([CACHE_HIT, CACHE_STALE])  # stale: served from the cache
_MISS = pl.col("cache_status").cast(pl.String) == CACHE_MISS


@dataclass(frozen=True, slots=True)
class PayloadTally:
    responses: int  # answered requests (2xx/3xx, no error)
    request_bytes_mean: float | None  # None: not recorded (before format 4, or a custom client)
    response_bytes_mean: float | None
    response_bytes_p50: float | None
    response_bytes_max: int | None
    cache_headers: int  # answers carrying Cache-Control, ETag, Last-Modified or Expires
    keyed: int  # answers with both a request key and a body key (a body read whole)
    repeats: int  # of those, the same body as an earlier answer to the same request
    distinct_requests: int  # distinct request keys among them
    verdicts: dict[str, int] = field(default_factory=dict)  # cache verdict -> answers; "" not counted
    hit_ms: tuple[float, float] | None = None  # (p50, p95) latency of hits (and stale)
    miss_ms: tuple[float, float] | None = None  # ... of misses

    @property
    def repeat_share(self) -> float | None:
        return self.repeats / self.keyed if self.keyed else None

    @property
    def cache_headers_share(self) -> float | None:
        return self.cache_headers / self.responses if self.responses else None

    @property
    def reported(self) -> int:
        """Answers a cache gave its verdict on."""
        return sum(self.verdicts.values())

    @property
    def hit_ratio(self) -> float | None:
        hits = self.verdicts.get(CACHE_HIT, 0) + self.verdicts.get(CACHE_STALE, 0)
        return hits / self.reported if self.reported else None


def _quantiles(rows: pl.LazyFrame, which: pl.Expr) -> tuple[float, float] | None:
    got = (
        rows.filter(which)
        .select(
            pl.len().alias("n"),
            pl.col("latency_ms").quantile(0.5, "linear").alias("p50"),
            pl.col("latency_ms").quantile(0.95, "linear").alias("p95"),
        )
        .collect(engine="streaming")
        .row(0, named=True)
    )
    return (float(got["p50"]), float(got["p95"])) if got["n"] else None


def payload_tally(rows: pl.LazyFrame) -> PayloadTally:
    """The figures of `rows` (a table's sent main requests)."""
    ok = rows.filter(_OK)
    sizes = (
        ok.select(
            pl.len().alias("n"),
            pl.col("req_bytes").mean().alias("req_mean"),
            pl.col("bytes").mean().alias("mean"),
            pl.col("bytes").quantile(0.5, "linear").alias("p50"),
            pl.col("bytes").max().alias("max"),
            pl.col("flags").cast(pl.String).str.contains(FLAG_CACHE_HEADERS, literal=True).sum().alias("headers"),
        )
        .collect(engine="streaming")
        .row(0, named=True)
    )
    keyed = ok.filter((pl.col("req_key") != "") & (pl.col("body_crc") != ""))
    groups = keyed.group_by("req_key", "body_crc").len()
    counts = (
        groups.select(
            pl.col("len").sum().alias("keyed"),
            (pl.col("len") - 1).sum().alias("repeats"),
            pl.col("req_key").n_unique().alias("distinct"),
        )
        .collect(engine="streaming")
        .row(0, named=True)
    )
    verdicts = (
        ok.filter(pl.col("cache_status").cast(pl.String) != "")
        .group_by(pl.col("cache_status").cast(pl.String))
        .len()
        .collect(engine="streaming")
    )
    n = int(sizes["n"])
    return PayloadTally(
        responses=n,
        request_bytes_mean=float(sizes["req_mean"]) if sizes["req_mean"] is not None else None,
        response_bytes_mean=float(sizes["mean"]) if n and sizes["mean"] is not None else None,
        response_bytes_p50=float(sizes["p50"]) if n and sizes["p50"] is not None else None,
        response_bytes_max=int(sizes["max"]) if n and sizes["max"] is not None else None,
        cache_headers=int(sizes["headers"] or 0),
        keyed=int(counts["keyed"] or 0),
        repeats=int(counts["repeats"] or 0),
        distinct_requests=int(counts["distinct"] or 0),
        verdicts={str(k): int(v) for k, v in verdicts.iter_rows()},
        hit_ms=_quantiles(ok, _HIT),
        miss_ms=_quantiles(ok, _MISS),
    )
