"""What a gate can check: one table of metrics, each with its unit, its scope and how it is read
from a report. The grammar, the judge and docs/ci.md all read this table, so a metric cannot be
documented without being checkable, nor checked without being known."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from profiler.base.config import parse_ms
from profiler.base.errors import ConfigError
from profiler.compare.metrics import cpu_ms_per_request
from profiler.schema.report import Report, StageReport

Unit = Literal["ms", "%", "rps", "MiB", "% of a core", "count", "ms/request"]


@dataclass(frozen=True, slots=True)
class StageMetric:
    name: str
    unit: Unit
    read: Callable[[StageReport], float | None]
    meaning: str
    percentile: float | None = None  # a latency percentile needs enough requests to mean anything


@dataclass(frozen=True, slots=True)
class RunMetric:
    name: str
    unit: Unit
    read: Callable[[Report], float | None]
    meaning: str


def _latency(name: str, pct: float | None, read: Callable[[StageReport], float], what: str) -> StageMetric:
    return StageMetric(name, "ms", lambda s: read(s) if s.requests else None, what, pct)


STAGE_METRICS: tuple[StageMetric, ...] = (
    _latency("p50", 50, lambda s: s.latency.p50, "median latency, request sent to last byte"),
    _latency("p90", 90, lambda s: s.latency.p90, "90th percentile latency"),
    _latency("p95", 95, lambda s: s.latency.p95, "95th percentile latency"),
    _latency("p99", 99, lambda s: s.latency.p99, "99th percentile latency"),
    _latency("mean", None, lambda s: s.latency.mean, "mean latency"),
    _latency("max", None, lambda s: s.latency.max, "slowest request"),
    _latency("ttfb_p50", 50, lambda s: s.ttfb.p50, "median time to first byte"),
    _latency("ttfb_p95", 95, lambda s: s.ttfb.p95, "95th percentile time to first byte"),
    StageMetric("error_rate", "%", lambda s: s.error_rate * 100 if s.requests else None, "share of requests failed"),
    StageMetric("rps", "rps", lambda s: s.rps, "responses per second"),
    StageMetric("ok_rps", "rps", lambda s: s.ok_rps, "successful responses (HTTP < 400) per second"),
    StageMetric("cpu", "% of a core", lambda s: s.target_cpu_pct, "mean CPU of the target's process tree"),
    StageMetric("cpu_ms_per_request", "ms/request", cpu_ms_per_request, "target CPU time per response"),
    StageMetric("rss", "MiB", lambda s: s.target_rss_mb, "largest resident memory of the target"),
    StageMetric(
        "threads", "count", lambda s: float(s.target_threads) if s.target_threads is not None else None, "most threads"
    ),
    StageMetric(
        "sockets",
        "count",
        lambda s: float(s.target_sockets) if s.target_sockets is not None else None,
        "most open sockets",
    ),
)


def _capacity(read: Callable[[Report], float | int | None]) -> Callable[[Report], float | None]:
    def value(r: Report) -> float | None:
        v = read(r) if r.capacity is not None else None
        return float(v) if v is not None else None

    return value


RUN_METRICS: tuple[RunMetric, ...] = (
    RunMetric(
        "capacity_rps",
        "rps",
        _capacity(lambda r: r.capacity.capacity_rps if r.capacity else None),
        "throughput one instance sustains within the SLO (or the light-load latency limit)",
    ),
    RunMetric("max_rps", "rps", _capacity(lambda r: r.capacity.max_rps if r.capacity else None), "best stage's rps"),
    RunMetric(
        "knee_users",
        "count",
        _capacity(lambda r: r.capacity.knee_users if r.capacity else None),
        "users past which latency rises faster than throughput",
    ),
)

METRIC_NAMES: tuple[str, ...] = tuple(m.name for m in STAGE_METRICS) + tuple(m.name for m in RUN_METRICS)
STAGE_BY_NAME = {m.name: m for m in STAGE_METRICS}
RUN_BY_NAME = {m.name: m for m in RUN_METRICS}

_SIZES = {"": 1.0, "mib": 1.0, "mb": 1.0, "gib": 1024.0, "gb": 1024.0, "kib": 1 / 1024, "kb": 1 / 1024}
_NUMBER_UNIT = re.compile(r"([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([a-z%/]*)")


def parse_value(unit: Unit, text: str, check: str) -> float:
    """The limit in the metric's unit: `250ms`/`0.25s`/`250` for latency, `1%` or `0.01` for a
    rate, `512MiB`/`1GiB` for memory, a plain number otherwise."""
    raw = text.strip().lower()
    if unit in ("ms", "ms/request"):
        return parse_ms(raw, f"check {check!r}: the limit")
    m = _NUMBER_UNIT.fullmatch(raw)
    if m is None:
        raise _bad_value(check, text, unit)
    number, suffix = float(m.group(1)), m.group(2)
    if unit == "%":
        # `1%` is a percentage; a bare number is a fraction, as k6's `rate<0.01` reads.
        if suffix == "%":
            return number
        if suffix == "" and number <= 1:  # `5` could mean 5% or 500%: refused, not guessed
            return number * 100.0
    elif unit == "MiB":
        if suffix in _SIZES:
            return number * _SIZES[suffix]
    elif unit == "rps":
        if suffix in ("", "rps", "/s"):
            return number
    elif unit == "% of a core":
        if suffix in ("", "%"):
            return number
    elif suffix == "":
        return number
    raise _bad_value(check, text, unit)


def _bad_value(check: str, text: str, unit: Unit) -> ConfigError:
    examples = {
        "%": "1% or 0.01",
        "MiB": "512MiB or 1GiB",
        "rps": "200 or 200rps",
        "% of a core": "150 (1.5 cores) or 150%",
        "count": "a plain number",
    }
    return ConfigError(
        f"check {check!r}: cannot read the limit {text!r} in {unit}.", f"write it as {examples.get(unit, 'a number')}"
    )
