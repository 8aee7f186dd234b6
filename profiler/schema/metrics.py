"""The metrics of a report: one table of what a run's figures mean, each with its unit, which way
is better, and how it is read from a stage's report (or the whole run's).

The gate checks them (`p95<250ms`), the comparison judges their change (`p95:+10%`), and
docs/ci.md and docs/compare.md list them. The table lives here, beside the report it reads, and
not in `profiler.gate` or `profiler.compare`: the gate sits above the comparison, so only a layer
below both can be one source for the two, and what the table says (which field is a metric, in
which unit, which way is better) is a description of the report's shape, not an analysis of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from profiler.schema.report import Report, StageReport
from profiler.schema.verdicts import Direction

Unit = Literal["ms", "%", "rps", "MiB", "% of a core", "count", "users", "ms/request"]


@dataclass(frozen=True, slots=True)
class StageMetric:
    name: str
    unit: Unit
    direction: Direction
    read: Callable[[StageReport], float | None]
    meaning: str
    percentile: float | None = None  # a latency percentile needs enough requests to mean anything


@dataclass(frozen=True, slots=True)
class RunMetric:
    name: str
    unit: Unit
    direction: Direction
    read: Callable[[Report], float | None]
    meaning: str


def cpu_ms_per_request(s: StageReport) -> float | None:
    """CPU-ms the target spent per completed response: % of a core x 10 = CPU-ms per second."""
    if s.target_cpu_pct is None or s.rps <= 0:
        return None
    return s.target_cpu_pct * 10.0 / s.rps


def _latency(name: str, pct: float | None, read: Callable[[StageReport], float], what: str) -> StageMetric:
    # A stage without requests has no latency: its zeros are not a fast stage.
    return StageMetric(name, "ms", "lower-is-better", lambda s: read(s) if s.requests else None, what, pct)


def _count(read: Callable[[StageReport], int | None]) -> Callable[[StageReport], float | None]:
    def value(s: StageReport) -> float | None:
        v = read(s)
        return float(v) if v is not None else None

    return value


STAGE_METRICS: tuple[StageMetric, ...] = (
    _latency("p50", 50, lambda s: s.latency.p50, "median latency, request sent to last byte"),
    _latency("p90", 90, lambda s: s.latency.p90, "90th percentile latency"),
    _latency("p95", 95, lambda s: s.latency.p95, "95th percentile latency"),
    _latency("p99", 99, lambda s: s.latency.p99, "99th percentile latency"),
    _latency("mean", None, lambda s: s.latency.mean, "mean latency"),
    _latency("max", None, lambda s: s.latency.max, "slowest request"),
    _latency("ttfb_p50", 50, lambda s: s.ttfb.p50, "median time to first byte"),
    _latency("ttfb_p95", 95, lambda s: s.ttfb.p95, "95th percentile time to first byte"),
    StageMetric(
        "error_rate",
        "%",
        "lower-is-better",
        lambda s: s.error_rate * 100 if s.requests else None,
        "share of requests failed",
    ),
    StageMetric("rps", "rps", "higher-is-better", lambda s: s.rps, "responses per second"),
    StageMetric(
        "ok_rps", "rps", "higher-is-better", lambda s: s.ok_rps, "successful responses (HTTP < 400) per second"
    ),
    StageMetric(
        "cpu", "% of a core", "lower-is-better", lambda s: s.target_cpu_pct, "mean CPU of the target's process tree"
    ),
    StageMetric(
        "cpu_ms_per_request", "ms/request", "lower-is-better", cpu_ms_per_request, "target CPU time per response"
    ),
    StageMetric("rss", "MiB", "lower-is-better", lambda s: s.target_rss_mb, "largest resident memory of the target"),
    StageMetric("threads", "count", "lower-is-better", _count(lambda s: s.target_threads), "most threads"),
    StageMetric("sockets", "count", "lower-is-better", _count(lambda s: s.target_sockets), "most open sockets"),
)


def _capacity(field: str) -> Callable[[Report], float | None]:
    def value(r: Report) -> float | None:
        v = getattr(r.capacity, field) if r.capacity is not None else None
        return float(v) if v is not None else None

    return value


RUN_METRICS: tuple[RunMetric, ...] = (
    RunMetric(
        "capacity_rps",
        "rps",
        "higher-is-better",
        _capacity("capacity_rps"),
        "throughput one instance sustains within the SLO (or the light-load latency limit)",
    ),
    RunMetric("max_rps", "rps", "higher-is-better", _capacity("max_rps"), "best stage's rps"),
    RunMetric(
        "knee_users",
        "users",
        "higher-is-better",
        _capacity("knee_users"),
        "users past which latency rises faster than throughput",
    ),
)

METRIC_NAMES: tuple[str, ...] = tuple(m.name for m in STAGE_METRICS) + tuple(m.name for m in RUN_METRICS)
STAGE_BY_NAME = {m.name: m for m in STAGE_METRICS}
RUN_BY_NAME = {m.name: m for m in RUN_METRICS}
