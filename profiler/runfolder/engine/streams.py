"""Streamed responses per stage: one grouped query over the rows that carry stream figures.

Each row holds one response's own figures (its gaps' p50/p95/max, its first token...); a stage's
figures are their distribution over the stage's streamed responses: the median of the responses'
median gaps, the 95th percentile of their 95th-percentile gaps, the largest gap of all.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from profiler.runfolder.engine.requests import RequestTable


@dataclass(frozen=True, slots=True)
class StreamTally:
    stage: int
    streamed: int  # responses read as a stream
    first_chunk_p50: float | None
    first_chunk_p95: float | None
    gap_p50: float | None  # median of the responses' median gaps
    gap_p95: float | None  # 95th percentile of the responses' p95 gaps
    gap_max: float | None
    chunks_mean: float | None
    first_token_p50: float | None  # OpenAI-style streams
    first_token_p95: float | None
    tokens: int  # output tokens of the stage's responses
    token_responses: int  # responses whose tokens were counted
    itl_p50: float | None
    itl_p95: float | None
    duration_p50: float | None  # the whole stream (the latency of streamed responses)


def _q(name: str, q: float) -> pl.Expr:
    return pl.col(name).quantile(q, "linear")


def _num(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and value == value else None


def stream_tallies(table: RequestTable) -> dict[int, StreamTally]:
    """Each stage's streamed responses (stages without any are absent)."""
    rows = table.sent().filter(pl.col("chunks").is_not_null() & (pl.col("chunks") > 0))
    grouped = (
        rows.group_by("stage")
        .agg(
            pl.len().alias("n"),
            _q("first_chunk_ms", 0.5).alias("fc50"),
            _q("first_chunk_ms", 0.95).alias("fc95"),
            _q("gap_p50_ms", 0.5).alias("g50"),
            _q("gap_p95_ms", 0.95).alias("g95"),
            pl.col("gap_max_ms").max().alias("gmax"),
            pl.col("chunks").mean().alias("chunks"),
            _q("first_token_ms", 0.5).alias("ft50"),
            _q("first_token_ms", 0.95).alias("ft95"),
            pl.col("tokens").sum().alias("tokens"),
            pl.col("tokens").count().alias("token_n"),
            _q("itl_ms", 0.5).alias("itl50"),
            _q("itl_ms", 0.95).alias("itl95"),
            _q("latency_ms", 0.5).alias("d50"),
        )
        .collect()
    )
    out: dict[int, StreamTally] = {}
    for r in grouped.iter_rows(named=True):
        out[int(r["stage"])] = StreamTally(
            stage=int(r["stage"]), streamed=int(r["n"]), first_chunk_p50=_num(r["fc50"]),
            first_chunk_p95=_num(r["fc95"]), gap_p50=_num(r["g50"]), gap_p95=_num(r["g95"]),
            gap_max=_num(r["gmax"]), chunks_mean=_num(r["chunks"]), first_token_p50=_num(r["ft50"]),
            first_token_p95=_num(r["ft95"]), tokens=int(_num(r["tokens"]) or 0), token_responses=int(r["token_n"]),
            itl_p50=_num(r["itl50"]), itl_p95=_num(r["itl95"]), duration_p50=_num(r["d50"]),
        )  # fmt: skip
    return out
