"""A streamed response read as it arrives: its chunks (or server-sent events), the gaps between
them, and for OpenAI-style streams the output tokens.

Pure: the worker feeds it (time, bytes) arrivals as they come off the socket; tests feed it
synthetic ones. A chunk is what arrives at once on a chunked body; on `text/event-stream` it is
an event (lines up to a blank line), whatever the network cut it into. An OpenAI-compatible
stream (`data: {"choices":[{"delta":{"content":...}}]}`) has its tokens counted the way it
reports them: its `usage.completion_tokens` when present, else one per event that carries text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from profiler.base.stats import percentile

_EVENT_END = re.compile(rb"\r?\n\r?\n")
MAX_PENDING = 1 << 20  # an "event" that never ends past a MiB is not SSE: it is counted, not kept


@dataclass(frozen=True, slots=True)
class StreamSummary:
    """One streamed response, as requests.csv keeps it (records.STREAM_COLUMNS); ms from the send."""

    first_chunk_ms: float
    chunks: int
    gap_p50_ms: float | None  # between consecutive chunks; None with fewer than two
    gap_p95_ms: float | None
    gap_max_ms: float | None
    first_token_ms: float | None  # OpenAI-style streams only
    tokens: int | None
    itl_ms: float | None  # inter-token latency: (last token - first token) / (tokens - 1)

    def cells(self) -> tuple[str, ...]:
        def ms(v: float | None) -> str:
            return "" if v is None else f"{v:.3f}"

        return (
            ms(self.first_chunk_ms), str(self.chunks), ms(self.gap_p50_ms), ms(self.gap_p95_ms), ms(self.gap_max_ms),
            ms(self.first_token_ms), "" if self.tokens is None else str(self.tokens), ms(self.itl_ms),
        )  # fmt: skip


def _text_of(doc: dict[str, Any]) -> bool:
    """An OpenAI-style chunk that carries output text (chat `delta.content`, completions `text`)."""
    choices = doc.get("choices")
    if not isinstance(choices, list):
        return False
    for choice in choices:
        if isinstance(choice, dict):
            delta = choice.get("delta")
            text = delta.get("content") if isinstance(delta, dict) else choice.get("text")
            if isinstance(text, str) and text:
                return True
    return False


@dataclass
class StreamReader:
    """Fed each arrival of the body, in order; `summary()` when the body has ended."""

    sent: float  # when the request was sent (the same clock as the arrivals)
    events: bool  # text/event-stream: count events, not network arrivals
    times: list[float] = field(default_factory=list)  # each chunk's (or event's) arrival
    token_times: list[float] = field(default_factory=list)
    usage_tokens: int | None = None
    openai: bool = False
    pending: bytes = b""

    def feed(self, t: float, data: bytes) -> None:
        if not data:
            return
        if not self.events:
            self.times.append(t)
            return
        self.pending += data
        *complete, self.pending = _EVENT_END.split(self.pending)
        for raw in complete:
            self._event(t, raw)
        if len(self.pending) > MAX_PENDING:
            self.times.append(t)
            self.pending = b""

    def finish(self, t: float) -> None:
        if self.pending.strip():
            self._event(t, self.pending)
        self.pending = b""

    def _event(self, t: float, raw: bytes) -> None:
        lines = [line for line in raw.splitlines() if line and not line.startswith(b":")]  # ":" is a comment
        data = b"\n".join(line[5:].removeprefix(b" ") for line in lines if line.startswith(b"data:"))
        if not lines or data.strip() == b"[DONE]":  # the end marker is no chunk of the answer
            return
        self.times.append(t)
        try:
            doc = json.loads(data) if data else None
        except ValueError:
            return
        if not isinstance(doc, dict):
            return
        usage = doc.get("usage")
        if isinstance(usage, dict) and isinstance(usage.get("completion_tokens"), int):
            self.usage_tokens, self.openai = usage["completion_tokens"], True
        if "choices" in doc:
            self.openai = True
        if _text_of(doc):
            self.token_times.append(t)

    def summary(self) -> StreamSummary | None:
        """The stream's figures; None when nothing arrived."""
        if not self.times:
            return None
        gaps = sorted((b - a) * 1000.0 for a, b in zip(self.times, self.times[1:], strict=False))
        tokens = self.usage_tokens if self.usage_tokens is not None else len(self.token_times)
        spread = self.token_times[-1] - self.token_times[0] if len(self.token_times) >= 2 else None
        return StreamSummary(
            first_chunk_ms=(self.times[0] - self.sent) * 1000.0,
            chunks=len(self.times),
            gap_p50_ms=percentile(gaps, 50) if gaps else None,
            gap_p95_ms=percentile(gaps, 95) if gaps else None,
            gap_max_ms=gaps[-1] if gaps else None,
            first_token_ms=(self.token_times[0] - self.sent) * 1000.0 if self.token_times else None,
            tokens=tokens if self.openai else None,
            itl_ms=spread * 1000.0 / (tokens - 1) if spread is not None and self.openai and tokens > 1 else None,
        )
