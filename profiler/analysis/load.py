"""Per-stage load figures from the per-request records and the samples of each stage's window."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from profiler.config import MIB
from profiler.record import RunData, StageRequests, StageWindow
from profiler.schema import LatencyStats, StageReport
from profiler.stats import mean, percentile


def latency_stats(values: Iterable[float]) -> LatencyStats:
    # The reader drops rows whose numbers are not finite, so no NaN can reach this sort.
    s = sorted(values)
    return LatencyStats(
        count=len(s),
        mean=max(0.0, mean(s)),
        p50=percentile(s, 50),
        p90=percentile(s, 90),
        p95=percentile(s, 95),
        p99=percentile(s, 99),
        max=s[-1] if s else 0.0,
    )


def samples_in(samples: Sequence[dict[str, Any]], window: StageWindow) -> list[dict[str, Any]]:
    return [s for s in samples if "t" in s and window.start <= s["t"] <= window.end]


def _mean_of(samples: Sequence[dict[str, Any]], section: str, key: str) -> float | None:
    values = [float(s[section][key]) for s in samples if section in s and key in s[section]]
    # The first sample of a process has no CPU delta yet; one stray zero matters little over a stage.
    return mean(values) if values else None


def _max_of(samples: Sequence[dict[str, Any]], section: str, key: str) -> float | None:
    values = [float(s[section][key]) for s in samples if section in s and key in s[section]]
    return max(values) if values else None


def busiest_process_cpu(samples: Sequence[dict[str, Any]]) -> float | None:
    """Mean CPU of the single busiest target process: 100 means one core, the GIL's ceiling."""
    per_pid: dict[str, list[float]] = {}
    for s in samples:
        for pid, p in s.get("target", {}).get("per_process", {}).items():
            per_pid.setdefault(pid, []).append(float(p.get("cpu", 0.0)))
    if not per_pid:
        return None
    return max(mean(v) for v in per_pid.values())


def stage_report(
    window: StageWindow, reqs: StageRequests | None, samples: Sequence[dict[str, Any]], profiled: bool = False
) -> StageReport:
    reqs = reqs or StageRequests()
    n = reqs.count
    duration = window.duration_s
    failed = sum(reqs.failed)
    in_window = samples_in(samples, window)
    rss = _max_of(in_window, "target", "rss")
    threads = _max_of(in_window, "target", "threads")
    sockets = _max_of(in_window, "target", "sockets")
    return StageReport(
        index=window.index,
        users=window.users,
        rate=window.rate,
        duration_s=round(duration, 3),
        completed=window.ended,
        requests=n,
        rps=n / duration,
        ok_rps=(n - failed) / duration,
        unsent=reqs.unsent,
        latency=latency_stats(reqs.latency_sorted if len(reqs.latency_sorted) == n else reqs.latency),
        ttfb=latency_stats(reqs.ttfb_sorted if len(reqs.ttfb_sorted) == n else reqs.ttfb),
        error_rate=(failed + reqs.unsent) / (n + reqs.unsent) if n + reqs.unsent else 0.0,
        errors=dict(reqs.errors.most_common(10)),
        statuses={str(k): v for k, v in sorted(reqs.statuses.items())},
        bytes_per_request=reqs.bytes_total / n if n else 0.0,
        probe=latency_stats(reqs.probe_latency) if len(reqs.probe_latency) else None,
        target_cpu_pct=_mean_of(in_window, "target", "cpu"),
        target_cpu_max_pct=_max_of(in_window, "target", "cpu"),
        target_busiest_process_cpu_pct=busiest_process_cpu(in_window),
        target_rss_mb=rss / MIB if rss is not None else None,
        target_threads=int(threads) if threads is not None else None,
        target_sockets=int(sockets) if sockets is not None else None,
        loadgen_cpu_pct=_mean_of(in_window, "loadgen", "cpu"),
        machine_cpu_pct=_mean_of(in_window, "machine", "cpu"),
        server_timing_coverage=reqs.timed / n if n else 0.0,
        profiled=profiled,
    )


def stage_reports(run: RunData, profiled: frozenset[int] = frozenset()) -> list[StageReport]:
    return [stage_report(w, run.requests.get(w.index), run.samples, w.index in profiled) for w in run.stages]
