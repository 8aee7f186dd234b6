"""A sweep in words: one line per configuration, then the picks (`profiler run --sweep`)."""

from __future__ import annotations

from profiler.analysis.advice.sweep import label
from profiler.schema.sweep import SweepSummary


def _f(value: float | None, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)


def sweep_lines(summary: SweepSummary) -> list[str]:
    axes = ", ".join(f"{k}={','.join(v)}" for k, v in summary.axes.items())
    lines = [f"Sweep over {axes}: {len(summary.points)} configurations, each a run folder"]
    header = f"  {'configuration':<24} {'capacity rps':>12} {'p95 ms':>8} {'cores':>6} {'RSS MiB':>8} {'rps/core':>9} {'rps/GB':>8}"
    lines.append(header)
    for p in summary.points:
        lines.append(
            f"  {label(p.values):<24} {_f(p.capacity_rps, '{:.1f}'):>12} {_f(p.latency_p95_ms, '{:.1f}'):>8} "
            f"{_f(p.cores_used, '{:.2f}'):>6} {_f(p.rss_mb, '{:.0f}'):>8} {_f(p.rps_per_core, '{:.1f}'):>9} "
            f"{_f(p.rps_per_gb, '{:.0f}'):>8}  {p.folder}"
        )
        lines.extend(f"    flagged: {flag}" for flag in p.flags)
    names = {"capacity": "Most capacity", "per-core": "Best per core", "per-gb": "Best per GB"}
    lines.extend(f"{names[pick.by]}: {pick.reason}" for pick in summary.picks)
    if not summary.picks:
        lines.append("No configuration met the latency limit: nothing to pick.")
    return lines
