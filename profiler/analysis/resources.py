"""Whole-run resource figures of the target, the load generator and the machine."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from profiler.config import MIB
from profiler.schema import EnergySection, GpuSection, ProcessResources, ResourceSection
from profiler.stats import mean, percentile


def achieved_interval(samples: Sequence[dict[str, Any]]) -> float | None:
    ts = [float(s["t"]) for s in samples if "t" in s]
    if len(ts) < 2:
        return None
    return percentile(sorted(b - a for a, b in zip(ts, ts[1:], strict=False)), 50)


def target_resources(samples: Sequence[dict[str, Any]]) -> ProcessResources | None:
    rows = [s["target"] for s in samples if "target" in s and s["target"].get("procs", 0) > 0]
    if not rows:
        return None
    cpu = [float(r.get("cpu", 0.0)) for r in rows[1:]] or [0.0]  # the first sample has no CPU delta
    return ProcessResources(
        cpu_mean_pct=mean(cpu),
        cpu_max_pct=max(cpu),
        rss_start_mb=rows[0].get("rss", 0) / MIB,
        rss_end_mb=rows[-1].get("rss", 0) / MIB,
        rss_max_mb=max(r.get("rss", 0) for r in rows) / MIB,
        threads_max=max(r.get("threads", 0) for r in rows),
        fds_max=max(r.get("fds", 0) for r in rows),
        sockets_max=max(r.get("sockets", 0) for r in rows),
        processes_max=max(r.get("procs", 0) for r in rows),
        ctx_switches_voluntary=max(0, rows[-1].get("ctx_vol", 0) - rows[0].get("ctx_vol", 0)),
        ctx_switches_involuntary=max(0, rows[-1].get("ctx_invol", 0) - rows[0].get("ctx_invol", 0)),
    )


def resource_section(
    samples: Sequence[dict[str, Any]], sampler_info: dict[str, Any], gpu: GpuSection, energy: EnergySection
) -> ResourceSection:
    gen = [float(s["loadgen"]["cpu"]) for s in samples if "loadgen" in s]
    machine = [float(s["machine"]["cpu"]) for s in samples if "machine" in s]
    return ResourceSection(
        samples=len(samples),
        interval_s=sampler_info.get("interval_s"),
        achieved_interval_s=achieved_interval(samples),
        target=target_resources(samples),
        loadgen_cpu_max_pct=max(gen) if gen else None,
        machine_cpu_max_pct=min(100.0, max(machine)) if machine else None,
        ncpu=sampler_info.get("ncpu"),
        gpu=gpu,
        energy=energy,
    )
