"""CI gates: checks (`p95<250ms`), forbidden traits and `--fail-on` rules against a baseline, judged
on a run's report into one verdict and exit code. Everything is parsed before any load is sent,
so a misspelt check costs a second, not a run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from profiler.analysis.traits.evidence import trait_ids
from profiler.base.errors import ConfigError
from profiler.gate.grammar import Check, check_trait, parse_check
from profiler.gate.judge import judge
from profiler.gate.settings import GateSettings
from profiler.gate.verdict import GateVerdict, decide
from profiler.schema.report import Report

if TYPE_CHECKING:
    from profiler.compare.failon import FailOnRule

__all__ = ["GatePlan", "GateVerdict", "plan_gate"]


@dataclass(frozen=True, slots=True)
class GatePlan:
    checks: tuple[Check, ...]
    traits: tuple[str, ...]
    fail_on: tuple[FailOnRule, ...]
    baseline: Path | None

    def evaluate(self, report: Report, folder: Path) -> GateVerdict:
        """Judge the run in `folder` (its report given): checks, traits, then the baseline rules."""
        results = judge(report, self.checks, self.traits)
        comparison = None
        if self.baseline is not None:
            # Imported here: the bootstrap's numpy is paid only by gates with a baseline.
            from profiler.compare import compare_runs
            from profiler.compare.failon import judge_fail_on

            comparison = compare_runs(self.baseline, folder)
            results += judge_fail_on(self.fail_on, comparison)
        return decide(report, results, comparison)


def plan_gate(settings: GateSettings) -> GatePlan:
    """Every check read and every name known, or a usage error naming the bad part."""
    if not settings.judges:
        raise ConfigError(
            "the gate has nothing to check.",
            "give --check 'p95<250ms', --forbid-trait NAME or --fail-on 'p95:+10%' with --baseline, "
            "or put checks in [tool.profiler] in pyproject.toml",
        )
    if settings.fail_on and settings.baseline is None:
        raise ConfigError("--fail-on needs a run to compare with.", "give --baseline DIR (a saved run folder)")
    known = trait_ids()
    rules: tuple[FailOnRule, ...] = ()
    if settings.fail_on:
        from profiler.compare.failon import parse_fail_on

        rules = tuple(parse_fail_on(r) for r in settings.fail_on)
    return GatePlan(
        checks=tuple(parse_check(c) for c in settings.checks),
        traits=tuple(dict.fromkeys(check_trait(t, known) for t in settings.forbid_traits)),
        fail_on=rules,
        baseline=settings.baseline,
    )
