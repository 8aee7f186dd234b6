"""Run validity: was the target the thing being measured, or did something else limit the run?

A Locust process is one gevent loop, so it tops out at one core: when it runs near 100% of a core
its own queueing shows up as the target's latency. On a shared machine the target and the
generator also compete for cores. Both are said plainly, per stage, so nobody buys hardware on
the strength of a measurement of the load generator.

`validity` runs a table of rules (`RULES`), each returning its issues, in report order; one of
them runs the per-stage checks (`STAGE_CHECKS`) stage by stage.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from profiler.analysis.figures.generator import MACHINE_FULL_PCT, generator_limit
from profiler.analysis.traits.common import users_text
from profiler.runfolder.records import Hang
from profiler.schema.report import (
    ConnectionsSection,
    ResourceSection,
    RunInfo,
    StageReport,
    ValidityIssue,
    ValiditySection,
)

MACHINE_SATURATED_PCT = MACHINE_FULL_PCT  # of all cores
OTHER_LOAD_PCT = 50.0  # of one core, used by neither the target nor the load generator
STEAL_PCT = 2.0  # of all cores' time taken by the hypervisor in a stage: its timings include waiting for a CPU
INTERVAL_SLACK = 2.0  # the sampler achieved more than twice its interval: the machine was starved
MIN_STAGES = 3  # stages with traffic needed to judge scaling
UNSENT_LIMIT = 1  # arrivals the generator could not send in a stage: any means the rate was not offered
# Closed model under saturation: p95 at the heaviest stage at least this multiple of the lightest's...
CLOSED_LATENCY_RISE = 2.0
CLOSED_FLAT_GROWTH = 1.15  # ...while the last step up in users bought less than 15% more throughput


@dataclass(frozen=True, slots=True)
class RunFacts:
    """What the validity rules read."""

    stages: Sequence[StageReport]
    resources: ResourceSection
    run: RunInfo
    target_exit: int | None
    hangs: Sequence[Hang] = ()
    connections: ConnectionsSection | None = None  # a ws:// run's; None for any other

    @property
    def requests(self) -> int:
        return sum(s.requests for s in self.stages)

    @property
    def target_here(self) -> bool:
        """The target's processes were sampled on this machine: they share its cores with the generator."""
        return self.resources.target_source == "processes"


def _issue(
    id_: str, severity: Literal["warning", "error"], message: str, stage: int | None = None
) -> list[ValidityIssue]:
    return [ValidityIssue(id=id_, severity=severity, message=message, stage=stage)]


def _other_cpu(s: StageReport, f: RunFacts) -> float | None:
    """CPU (% of one core) the machine spent outside the target and the load generator."""
    ncpu = f.resources.ncpu
    if ncpu is None or s.machine_cpu_pct is None or s.target_cpu_pct is None or s.loadgen_cpu_pct is None:
        return None
    return max(0.0, s.machine_cpu_pct * ncpu - s.target_cpu_pct - s.loadgen_cpu_pct)


# -- per stage -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StageCheck:
    """An issue of one stage: `measure` (of the stage, in the run's facts) at or above `limit`.
    `message` is formatted with the stage's `index` and the measured `value`."""

    id: str
    severity: Literal["warning", "error"]
    limit: float
    measure: Callable[[StageReport, RunFacts], float | None]
    message: str


STAGE_CHECKS: tuple[StageCheck, ...] = (
    StageCheck(
        "generator-unsent",
        "error",
        UNSENT_LIMIT,
        lambda s, _: s.unsent,
        "Stage {index}: the load generator could not send {value:.0f} arrivals (all its slots held by requests in "
        "flight): the offered rate was not delivered, and no capacity figure should be read from this stage. "
        "These are the generator's failures, not the app's errors.",
    ),
    StageCheck(
        "other-load",
        "warning",
        OTHER_LOAD_PCT,
        _other_cpu,
        "Stage {index}: processes other than the target and the load generator used {value:.0f}% of a core; "
        "they competed for the machine during the measurement.",
    ),
    StageCheck(
        "cpu-steal",
        "warning",
        STEAL_PCT,
        lambda s, _: s.machine_steal_pct,
        "Stage {index}: the hypervisor took {value:.1f}% of the machine's CPU time (steal): its latencies include "
        "waiting for a CPU this virtual machine did not get. Compare its figures with care; repeat on a quieter "
        "machine for firm numbers.",
    ),
    StageCheck(
        "machine-saturated",
        "warning",
        MACHINE_SATURATED_PCT,
        # A machine the load generator filled is said once, as generator-limited.
        lambda s, f: None if generator_limit(s, f.target_here) else s.machine_cpu_pct,
        "Stage {index}: the machine's CPUs were {value:.0f}% busy; the target competed with the load generator "
        "(or other processes) for cores. Run the load from another machine for firm numbers.",
    ),
)


# -- the run -------------------------------------------------------------------------------------


def no_requests(f: RunFacts) -> list[ValidityIssue]:
    """Nothing measured: no request completed, or (a ws:// run, which may send no message at all)
    no connection was ever held."""
    if f.connections is not None:
        if f.connections.held_max:
            return []
        return _issue("no-connections", "error", "No WebSocket connection was held: nothing about the target could "
                      "be measured (see the handshake failures per stage).")  # fmt: skip
    if f.requests:
        return []
    return _issue("no-requests", "error", "No request completed: nothing about the target could be measured.")


def all_failed(f: RunFacts) -> list[ValidityIssue]:
    """Every request failed: the figures time the error path (a fast 500, a refusal), not the work."""
    failed = sum(round(s.error_rate * s.requests) for s in f.stages)
    if not f.requests or failed < f.requests:
        return []
    kinds = sum((Counter(s.error_kinds) for s in f.stages), Counter[str]())
    named = ", ".join(f"{k} {n}" for k, n in kinds.most_common(3))
    return _issue(
        "all-failed",
        "error",
        f"Every one of the {f.requests} requests failed ({named or 'errors'}): latency and throughput here time the "
        "error path, not the app's work. Fix the errors first (see target.log).",
    )


def target_exited(f: RunFacts) -> list[ValidityIssue]:
    if not (f.run.status == "target-exited" or f.target_exit is not None):
        return []
    return _issue(
        "target-exited",
        "error",
        f"The target exited during the run (code {f.target_exit}); later stages measured a dead server.",
    )


def partial_run(f: RunFacts) -> list[ValidityIssue]:
    if f.run.status not in ("interrupted", "incomplete", "failed"):
        return []
    return _issue(
        "partial-run", "warning", f"The run ended early ({f.run.status}); the report covers what was collected."
    )


def _generator_limited(s: StageReport, f: RunFacts) -> list[ValidityIssue]:
    limit = generator_limit(s, f.target_here)
    if limit is None:
        return []
    return _issue(
        "generator-limited",
        "error",
        f"Stage {s.index}: the load generator was the limit ({limit.reason}): its own queueing is in the latency and "
        "its pace is the throughput. The stage's capacity is a lower bound and no trait about the target's plateau "
        "is drawn from it; run with more generator processes (--workers) or the load from another machine.",
        s.index,
    )


def stage_issues(f: RunFacts) -> list[ValidityIssue]:
    """The generator's limit and STAGE_CHECKS, stage by stage."""
    issues: list[ValidityIssue] = []
    for s in f.stages:
        issues += _generator_limited(s, f)
        for check in STAGE_CHECKS:
            value = check.measure(s, f)
            if value is not None and value >= check.limit:
                message = check.message.format(index=s.index, value=value)
                issues += _issue(check.id, check.severity, message, s.index)
    return issues


def closed_model_latency(f: RunFacts) -> list[ValidityIssue]:
    """Coordinated omission: in the closed model each user waits for its answer before sending the
    next, so a saturated target slows the arrivals down and the queueing they would meet never
    shows in full. Said when latency rose while more users bought no throughput."""
    closed = [s for s in f.stages if s.users and s.requests and not s.profiled and s.completed and not s.missing]
    if len(closed) < 2 or any(s.rate for s in f.stages):
        return []
    closed.sort(key=lambda s: (s.users or 0, s.index))
    light, before, heavy = closed[0], closed[-2], closed[-1]
    if generator_limit(heavy, f.target_here):
        return []  # the generator, not the target, was saturated: said as generator-limited
    rose = light.latency.p95 > 0 and heavy.latency.p95 >= light.latency.p95 * CLOSED_LATENCY_RISE
    if not (rose and before.rps > 0 and heavy.rps < before.rps * CLOSED_FLAT_GROWTH):
        return []
    return _issue(
        "closed-model-latency",
        "warning",
        f"p95 rose from {light.latency.p95:.0f} ms at {users_text(light.users)} to {heavy.latency.p95:.0f} ms at "
        f"{users_text(heavy.users)} while throughput changed {heavy.rps / before.rps - 1:+.0%} from "
        f"{users_text(before.users)}: "
        "the target was saturated. This latency is the closed model's: each user waited for its answer before "
        "sending the next, so the requests that would have queued were never sent (coordinated omission) and it "
        "understates what arriving traffic would see. Run with --rate for arrival-based latency.",
    )


def target_hung(f: RunFacts) -> list[ValidityIssue]:
    issues: list[ValidityIssue] = []
    for h in f.hangs:
        began = time.strftime("%H:%M:%S", time.localtime(h.t))
        issues += _issue(
            "target-hung",
            "error",
            f"The target stopped answering at {began} in stage {h.stage}: nothing came back for {h.silent_s:.0f} s "
            f"while {h.waiting} requests waited. Stages from there on are not measurements and feed no capacity, "
            "scaling or trait.",
            h.stage,
        )
    return issues


def _each_stage(
    f: RunFacts, when: Callable[[StageReport], bool], id_: str, severity: Literal["warning", "error"],
    message: Callable[[StageReport], str],
) -> list[ValidityIssue]:  # fmt: skip
    return [issue for s in f.stages if when(s) for issue in _issue(id_, severity, message(s), s.index)]


def cut_stages(f: RunFacts) -> list[ValidityIssue]:
    """Stages that did not run whole (other than a hang, said above): left out, and said so."""
    return _each_stage(
        f,
        lambda s: s.cut_short is not None and s.cut_short != "hung",
        "stage-cut-short",
        "warning",
        lambda s: (
            f"Stage {s.index} was cut short ({s.cut_short}) after {s.measured_s:.1f} s: its figures are shown "
            "but feed no capacity, scaling or trait."
        ),
    )


def requests_lost(f: RunFacts) -> list[ValidityIssue]:
    """The accounting invariant: every request the generator started is in requests.csv once."""
    issues = _each_stage(
        f,
        lambda s: s.missing > 0,
        "requests-lost",
        "error",
        lambda s: (
            f"Stage {s.index}: {s.missing} of the {s.started} requests started are not in requests.csv (lost "
            "to a full disk or a crash); its figures are incomplete and feed no capacity, scaling or trait."
        ),
    )
    lost_elsewhere = (f.run.requests_missing or 0) - sum(s.missing for s in f.stages)
    if lost_elsewhere > 0:
        issues += _issue(
            "requests-lost",
            "error",
            f"{lost_elsewhere} requests the load generator started are not in requests.csv (lost to a full disk "
            "or a crash).",
        )
    if f.run.requests_missing is None and any(s.started is not None for s in f.stages):
        issues += _issue(
            "accounting-unknown",
            "warning",
            "The load generator did not write its final count (it was killed): requests in flight at its end may "
            "be missing from requests.csv.",
        )
    return issues


def sampler_starved(f: RunFacts) -> list[ValidityIssue]:
    wanted, achieved = f.resources.interval_s, f.resources.achieved_interval_s
    if not (wanted and achieved and achieved > wanted * INTERVAL_SLACK):
        return []
    return _issue(
        "sampler-starved",
        "warning",
        f"The sampler achieved one sample per {achieved * 1000:.0f} ms instead of "
        f"{wanted * 1000:.0f} ms: the machine was starved.",
    )


def few_stages(f: RunFacts) -> list[ValidityIssue]:
    if not (len([s for s in f.stages if s.requests]) < MIN_STAGES and f.requests):
        return []
    return _issue("few-stages", "warning", "Fewer than 3 stages with traffic: scaling behaviour cannot be judged well.")


# What a target reached by its URL alone is seen through, by ResourceSection.target_source.
NOT_OBSERVED = {
    None: "so its CPU, memory and threads are not known and no trait that needs them is judged. Give --pid (a "
    "server on this machine) or --metrics-url (its /metrics, a node exporter) to have them.",
    "metrics-process": "its CPU and memory are the process figures of --metrics-url, read once a second; threads, "
    "sockets and per-process figures are not known.",
    "metrics-host": "its CPU and memory are node exporter's figures for its whole host (other programs there count "
    "too), read once a second; threads, sockets and per-process figures are not known.",
}


def target_not_observed(f: RunFacts) -> list[ValidityIssue]:
    if f.resources.target_source == "processes":
        return []
    return _issue(
        "target-not-observed",
        "warning",
        "The target's processes were not sampled (reached by its URL alone, no --launch or --pid); code "
        f"attribution (py-spy) did not run, and {NOT_OBSERVED[f.resources.target_source]}",
    )


RULES: tuple[Callable[[RunFacts], list[ValidityIssue]], ...] = (
    target_not_observed,
    no_requests,
    all_failed,
    target_exited,
    target_hung,
    requests_lost,
    partial_run,
    cut_stages,
    stage_issues,
    closed_model_latency,
    sampler_starved,
    few_stages,
)


def validity(
    stages: Sequence[StageReport],
    resources: ResourceSection,
    run: RunInfo,
    target_exit: int | None,
    hangs: Sequence[Hang] = (),
    connections: ConnectionsSection | None = None,
) -> ValiditySection:
    facts = RunFacts(stages, resources, run, target_exit, hangs, connections)
    issues = [issue for rule in RULES for issue in rule(facts)]
    return ValiditySection(valid=not any(i.severity == "error" for i in issues), issues=issues)
