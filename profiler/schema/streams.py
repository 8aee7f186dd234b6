"""report.json's figures of streamed responses per stage (`load.stages[].stream`), in their own
module so the report schema stays one readable page. Re-exported by profiler.schema.report."""

from __future__ import annotations

from pydantic import Field

from profiler.schema.base import ReportModel as _Model


class StreamStats(_Model):
    """A stage's streamed responses (chunked or text/event-stream), each read as it arrived."""

    streamed: int = Field(ge=0, description="Responses read as a stream in the stage.")
    first_chunk_p50_ms: float | None = Field(
        None, ge=0, description="Median time from the send to the first chunk (event)."
    )
    first_chunk_p95_ms: float | None = Field(None, ge=0, description="95th percentile of the same.")
    gap_p50_ms: float | None = Field(None, ge=0, description="Median of the responses' median gap between chunks.")
    gap_p95_ms: float | None = Field(None, ge=0, description="95th percentile of the responses' 95th-percentile gaps.")
    gap_max_ms: float | None = Field(None, ge=0, description="The longest gap between two chunks of any response.")
    chunks_per_s: float | None = Field(None, ge=0, description="Chunks per second of one stream: 1000 / gap_p50_ms.")
    chunks_mean: float | None = Field(None, ge=0, description="Chunks (events) per response, on average.")
    duration_p50_ms: float | None = Field(
        None, ge=0, description="Median time of the whole stream (send to last byte)."
    )
    first_token_p50_ms: float | None = Field(
        None, ge=0, description="OpenAI-style streams: median time to the first chunk carrying output text (TTFT)."
    )
    first_token_p95_ms: float | None = Field(None, ge=0, description="95th percentile of the same.")
    itl_p50_ms: float | None = Field(
        None, ge=0, description="Median inter-token latency: (last token - first token) / (tokens - 1), per response."
    )
    itl_p95_ms: float | None = Field(None, ge=0, description="95th percentile of the same.")
    tokens: int = Field(0, ge=0, description="Output tokens of the stage's responses (usage.completion_tokens, "
                        "else one per chunk with text); 0 when the stream is not OpenAI-style.")  # fmt: skip
    tokens_per_response: float | None = Field(None, ge=0, description="Output tokens per counted response.")
    tokens_per_s: float | None = Field(None, ge=0, description="Output tokens per second of the stage (all streams).")
