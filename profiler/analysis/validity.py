"""Run validity: was the target the thing being measured, or did something else limit the run?

A Locust process is one gevent loop, so it tops out at one core: when it runs near 100% of a core
its own queueing shows up as the target's latency. On a shared machine the target and the
generator also compete for cores. Both are said plainly, per stage, so nobody buys hardware on
the strength of a measurement of the load generator.
"""

from __future__ import annotations

from collections.abc import Sequence

from profiler.schema import ResourceSection, RunInfo, StageReport, ValidityIssue, ValiditySection

LOADGEN_SATURATED_PCT = 90.0  # of one core
MACHINE_SATURATED_PCT = 92.0  # of all cores
OTHER_LOAD_PCT = 50.0  # of one core, used by neither the target nor the load generator


def _other_cpu(s: StageReport, ncpu: int | None) -> float | None:
    """CPU (% of one core) the machine spent outside the target and the load generator."""
    if ncpu is None or s.machine_cpu_pct is None or s.target_cpu_pct is None or s.loadgen_cpu_pct is None:
        return None
    return max(0.0, s.machine_cpu_pct * ncpu - s.target_cpu_pct - s.loadgen_cpu_pct)


INTERVAL_SLACK = 2.0


def validity(
    stages: Sequence[StageReport], resources: ResourceSection, run: RunInfo, target_exit: int | None
) -> ValiditySection:
    issues: list[ValidityIssue] = []
    total = sum(s.requests for s in stages)
    if total == 0:
        issues.append(
            ValidityIssue(
                id="no-requests",
                severity="error",
                message="No request completed: nothing about the target could be measured.",
            )
        )
    if run.status == "target-exited" or target_exit is not None:
        issues.append(
            ValidityIssue(
                id="target-exited",
                severity="error",
                message=f"The target exited during the run (code {target_exit}); later stages measured a dead server.",
            )
        )
    if run.status in ("interrupted", "incomplete", "failed"):
        issues.append(
            ValidityIssue(
                id="partial-run",
                severity="warning",
                message=f"The run ended early ({run.status}); the report covers what was collected.",
            )
        )
    for s in stages:
        if s.loadgen_cpu_pct is not None and s.loadgen_cpu_pct >= LOADGEN_SATURATED_PCT:
            issues.append(
                ValidityIssue(
                    id="loadgen-saturated",
                    severity="error",
                    stage=s.index,
                    message=f"Stage {s.index}: the load generator used {s.loadgen_cpu_pct:.0f}% of a core; its own queueing "
                    "inflates latency and caps throughput. Treat this stage's figures as a floor on the target's capacity.",
                )
            )
        other = _other_cpu(s, resources.ncpu)
        if other is not None and other >= OTHER_LOAD_PCT:
            issues.append(
                ValidityIssue(
                    id="other-load",
                    severity="warning",
                    stage=s.index,
                    message=f"Stage {s.index}: processes other than the target and the load generator used "
                    f"{other:.0f}% of a core; they competed for the machine during the measurement.",
                )
            )
        if s.machine_cpu_pct is not None and s.machine_cpu_pct >= MACHINE_SATURATED_PCT:
            issues.append(
                ValidityIssue(
                    id="machine-saturated",
                    severity="warning",
                    stage=s.index,
                    message=f"Stage {s.index}: the machine's CPUs were {s.machine_cpu_pct:.0f}% busy; the target competed with "
                    "the load generator (or other processes) for cores. Run the load from another machine for firm numbers.",
                )
            )
    if (
        resources.interval_s
        and resources.achieved_interval_s
        and resources.achieved_interval_s > resources.interval_s * INTERVAL_SLACK
    ):
        issues.append(
            ValidityIssue(
                id="sampler-starved",
                severity="warning",
                message=f"The sampler achieved one sample per {resources.achieved_interval_s * 1000:.0f} ms instead of "
                f"{resources.interval_s * 1000:.0f} ms: the machine was starved.",
            )
        )
    if len([s for s in stages if s.requests]) < 3 and total:
        issues.append(
            ValidityIssue(
                id="few-stages",
                severity="warning",
                message="Fewer than 3 stages with traffic: scaling behaviour cannot be judged well.",
            )
        )
    return ValiditySection(valid=not any(i.severity == "error" for i in issues), issues=issues)
