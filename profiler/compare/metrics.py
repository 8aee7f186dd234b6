"""What a comparison measures: the metrics of the one table (profiler/schema/metrics.py, which
the gate reads too) whose change a comparison judges, each with the per-request values its noise
is resampled from. Name, unit, direction and the value in a stage's report come from that table;
what is here is how each one's noise is drawn. The comparison, `--fail-on` and docs/compare.md
read this list."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from profiler.compare.bootstrap import MEAN, Floats, Statistic, per_interval, percentile
from profiler.runfolder.engine import RequestArrays
from profiler.schema import metrics as table
from profiler.schema.metrics import RUN_BY_NAME as RUN_BY_NAME  # re-exported: a comparison judges them all
from profiler.schema.metrics import RUN_METRICS as RUN_METRICS
from profiler.schema.report import StageReport
from profiler.schema.verdicts import Direction

HANDOFF_PREFIX = "handoff:"


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
    noise: str = ""  # what the noise is resampled from
    floor_factor: float = 1.0  # a noisier figure needs a larger change before it counts
    # What waiting for a CPU changes: in a stage with CPU steal, a change in % under this many times
    # the steal (% of the machine's time) may be the hypervisor's; 0: steal never explains it.
    steal_factor: float = 0.0
    sample_key: str = ""  # metrics with one key share one set of resamples (p50, p95, p99)


def _table(name: str) -> tuple[str, str, Direction, Callable[[StageData], float | None]]:
    """The table's metric as a comparison reads it: from the stage's report, as the gate does."""
    m = table.STAGE_BY_NAME[name]
    return m.name, m.unit, m.direction, lambda d: m.read(d.report)


def _latency(q: int) -> CompareMetric:
    return CompareMetric(
        *_table(f"p{q}"),
        lambda d: d.arrays.latency_ms if d.arrays is not None else None,
        percentile(q),
        noise="the stage's request latencies",
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
        *_table("rps"),
        _rps_sample,
        noise="completions per half-second in the stage window",
        steal_factor=5.0,
    ),
    _latency(50),
    _latency(95),
    _latency(99),
    CompareMetric(
        *_table("error_rate"),
        _errors_sample,
        relative=False,
        noise="each request's success or failure; the change is in percentage points",
        sample_key="errors",
    ),
    CompareMetric(
        *_table("cpu_ms_per_request"),
        _cpu_sample,
        noise="each CPU sample of the target in the stage window; judged against 2.5x the noise floor",
        # Beyond the sampling noise the interval sees, CPU per request moves 10-15% between two
        # runs of one app on a shared runner (the load generator on the same cores, frequency),
        # so only a change past 2.5x the floor counts.
        floor_factor=2.5,
        # A neighbour that takes CPU time also shares the caches and memory bandwidth of what it
        # leaves: 4.6% steal, +28% CPU per request between two runs of one app.
        steal_factor=10.0,
    ),
    CompareMetric(*_table("rss"), None, noise="none (the largest RSS is one figure): the noise floor alone"),
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
        noise="the durations each request reported in Server-Timing (mean)",
        sample_key=HANDOFF_PREFIX + name,
    )


METRIC_NAMES = tuple(m.name for m in STAGE_METRICS) + tuple(m.name for m in RUN_METRICS)
STAGE_BY_NAME = {m.name: m for m in STAGE_METRICS}
