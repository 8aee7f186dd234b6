"""The figures the request table answers with: plain dataclasses of floats and ints."""

from __future__ import annotations

from dataclasses import dataclass

PERCENTILES = (50, 90, 95, 99)


@dataclass(frozen=True, slots=True)
class Distribution:
    """Exact order statistics of a set of durations (ms); all 0 when there are none."""

    count: int
    mean: float
    p50: float
    p90: float
    p95: float
    p99: float
    max: float


EMPTY = Distribution(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True, slots=True)
class StageTally:
    """The main requests sent in one stage (probe requests apart, in `probe`)."""

    stage: int
    count: int  # requests sent and finished (with a latency), failed or not
    failed: int
    unsent: int  # open-model arrivals the generator could not send
    latency: Distribution
    ttfb: Distribution
    bytes_total: int
    statuses: dict[int, int]
    errors: dict[str, int]  # failures of the requests sent, by kind, most frequent first (unsent apart)
    cookie: int  # responses that set a cookie
    chunked: int
    event_stream: int
    timed: int  # responses that carried Server-Timing
    malformed_timing: int
    last_start: float | None
    probe: Distribution | None


@dataclass(frozen=True, slots=True)
class HandoffTally:
    count: int
    p50: float
    p95: float
    mean: float
    total: float


@dataclass(frozen=True, slots=True)
class StageHandoffs:
    """Server-Timing over one group of stages: each handoff, and the client time left over."""

    timed: int  # requests whose server time is known
    latency_total: float  # their client latency, summed
    handoffs: dict[str, HandoffTally]
    unattributed: HandoffTally | None


def number(value: object) -> float:
    """A figure polars returned, None and NaN read as 0 (an empty group's mean)."""
    return float(value) if isinstance(value, int | float) and value == value else 0.0
