"""What a comparison measures: one table of metrics, each with its unit, which way is better,
its value in a stage's report, and the per-request values its noise is resampled from. The
comparison, `--fail-on` and docs/compare.md all read this table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from profiler.compare.bootstrap import MEAN, Floats, Statistic, per_interval, percentile
from profiler.runfolder.engine import RequestArrays
from profiler.schema.report import Report, StageReport
from profiler.schema.verdicts import Direction

HANDOFF_PREFIX = "handoff:"


def cpu_ms_per_request(s: StageReport) -> float | None:
    """CPU-ms the target spent per completed response: % of a core x 10 = CPU-ms per second."""
    if s.target_cpu_pct is None or s.rps <= 0:
        return None
    return s.target_cpu_pct * 10.0 / s.rps


@dataclass(frozen=True, slots=True)
class StageData:
    """A stage as a comparison reads it: its report and its requests (None: not readable)."""

    report: StageReport
    arrays: RequestArrays | None
    start: float
    end: float
    cpu: Floats | None = None  # the target's CPU (% of a core) of each sample in the window


@dataclass(frozen=True, slots=True)
class CompareMetric:
    name: str
    unit: str
    direction: Direction
    value: Callable[[StageData], float | None]
    sample: Callable[[StageData], Floats | None] | None  # None: no per-request data, floor only
    stat: Statistic = MEAN
    relative: bool = True  # False: the change is in the metric's own unit (error rate: points)
    meaning: str = ""
    floor_factor: float = 1.0  # a noisier figure needs a larger change before it counts
    # What waiting for a CPU changes: in a stage with CPU steal, a change in % under this many times
    # the steal (% of the machine's time) may be the hypervisor's; 0: steal never explains it.
    steal_factor: float = 0.0
    sample_key: str = ""  # metrics with one key share one set of resamples (p50, p95, p99)


def _latency(q: int) -> CompareMetric:
    return CompareMetric(
        f"p{q}",
        "ms",
        "lower-is-better",
        lambda d: getattr(d.report.latency, f"p{q}") if d.report.requests else None,
        lambda d: d.arrays.latency_ms if d.arrays is not None else None,
        percentile(q),
        meaning=f"{q}th percentile latency, resampled from the stage's requests",
        sample_key="latency",
        # steal comes in bursts that land on the tail: 4% mean steal moved a p95 by 18%
        steal_factor=5.0,
    )


def _rps_sample(d: StageData) -> Floats | None:
    return per_interval(d.arrays.done_s, d.start, d.end) if d.arrays is not None else None


def _cpu_sample(d: StageData) -> Floats | None:
    """Each sample's CPU as CPU-ms per response at the stage's throughput: their mean is the
    stage's figure, and their spread the sampling's own noise (CPU time is charged in 10 ms
    ticks, so at light load a 100 ms sample reads 0 or 10% of a core)."""
    if d.cpu is None or not len(d.cpu) or d.report.rps <= 0:
        return None
    return d.cpu * 10.0 / d.report.rps


def _errors_sample(d: StageData) -> Floats | None:
    return d.arrays.failed.astype(np.float64) * 100.0 if d.arrays is not None else None


STAGE_METRICS: tuple[CompareMetric, ...] = (
    CompareMetric(
        "rps",
        "rps",
        "higher-is-better",
        lambda d: d.report.rps,
        _rps_sample,
        meaning="throughput, resampled per second",
        steal_factor=5.0,
    ),
    _latency(50),
    _latency(95),
    _latency(99),
    CompareMetric(
        "error_rate",
        "%",
        "lower-is-better",
        lambda d: d.report.error_rate * 100 if d.report.requests else None,
        _errors_sample,
        relative=False,
        meaning="share of requests failed; the change is in percentage points",
        sample_key="errors",
    ),
    CompareMetric(
        "cpu_ms_per_request",
        "ms/request",
        "lower-is-better",
        lambda d: cpu_ms_per_request(d.report),
        _cpu_sample,
        meaning="target CPU per response, resampled per CPU sample; 2.5x the noise floor",
        # Beyond the sampling noise the interval sees, CPU per request moves 10-15% between two
        # runs of one app on a shared runner (the load generator on the same cores, frequency),
        # so only a change past 2.5x the floor counts.
        floor_factor=2.5,
        # A neighbour that takes CPU time also shares the caches and memory bandwidth of what it
        # leaves: 4.6% steal, +28% CPU per request between two runs of one app.
        steal_factor=10.0,
    ),
    CompareMetric(
        "rss",
        "MiB",
        "lower-is-better",
        lambda d: d.report.target_rss_mb,
        None,
        meaning="largest resident memory (floor alone)",
    ),
)


def _handoff_values(d: StageData, name: str) -> Floats | None:
    values = d.arrays.handoffs.get(name) if d.arrays is not None else None
    return values if values is not None and len(values) else None


def handoff_metric(name: str) -> CompareMetric:
    def point(d: StageData) -> float | None:
        values = _handoff_values(d, name)
        return float(values.mean()) if values is not None else None

    return CompareMetric(
        HANDOFF_PREFIX + name,
        "ms",
        "lower-is-better",
        point,
        lambda d: _handoff_values(d, name),
        meaning="mean duration of a Server-Timing handoff, resampled from the requests that reported it",
        sample_key=HANDOFF_PREFIX + name,
    )


@dataclass(frozen=True, slots=True)
class RunMetric:
    name: str
    unit: str
    direction: Direction
    value: Callable[[Report], float | None]


def _capacity(field: str) -> Callable[[Report], float | None]:
    def value(r: Report) -> float | None:
        v = getattr(r.capacity, field) if r.capacity is not None else None
        return float(v) if v is not None else None

    return value


RUN_METRICS: tuple[RunMetric, ...] = (
    RunMetric("capacity_rps", "rps", "higher-is-better", _capacity("capacity_rps")),
    RunMetric("max_rps", "rps", "higher-is-better", _capacity("max_rps")),
    RunMetric("knee_users", "users", "higher-is-better", _capacity("knee_users")),
)

METRIC_NAMES = tuple(m.name for m in STAGE_METRICS) + tuple(m.name for m in RUN_METRICS)
STAGE_BY_NAME = {m.name: m for m in STAGE_METRICS}
RUN_BY_NAME = {m.name: m for m in RUN_METRICS}
