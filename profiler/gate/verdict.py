"""One verdict from a gate's results and the run's own state, with an exit code CI can act on:
0 passed, 1 a check failed, 3 the target failed, 4 the load generator failed, 5 not judgeable."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from profiler.base.errors import (
    EXIT_CHECK_FAILED,
    EXIT_LOAD_FAILED,
    EXIT_NOT_JUDGEABLE,
    EXIT_OK,
    EXIT_TARGET_FAILED,
)
from profiler.schema.report import Report
from profiler.schema.verdicts import CheckResult, Comparison

# A run that did not end as planned is judged by how it ended, before any check.
_STATUS_EXIT = {
    "target-exited": (EXIT_TARGET_FAILED, "the target exited during the run"),
    "target-hung": (EXIT_TARGET_FAILED, "the target stopped answering during the run"),
    "failed": (EXIT_LOAD_FAILED, "the run failed before it could measure"),
    "interrupted": (EXIT_NOT_JUDGEABLE, "the run was interrupted"),
    "incomplete": (EXIT_NOT_JUDGEABLE, "the run never finished writing its folder"),
}


@dataclass(frozen=True, slots=True)
class GateVerdict:
    exit_code: int
    headline: str
    results: tuple[CheckResult, ...]
    comparison: Comparison | None = None

    @property
    def passed(self) -> bool:
        return self.exit_code == EXIT_OK


def _count(results: Sequence[CheckResult], outcome: str) -> int:
    return sum(1 for r in results if r.outcome == outcome)


def decide(report: Report, results: Sequence[CheckResult], comparison: Comparison | None = None) -> GateVerdict:
    """A broken target or generator first (nothing else can be trusted), then a failed check (a
    failure on a stage that could be judged is real even if another could not), then unknowns."""
    n = len(results)
    status = _STATUS_EXIT.get(report.run.status)
    if report.run.status == "failed" and report.target.exit_code is not None:
        status = (EXIT_TARGET_FAILED, f"the target exited with code {report.target.exit_code}")
    if status is not None:
        code, why = status
        return GateVerdict(
            code, f"gate not judged: {why} ({report.run.stop_reason or report.run.status}).", (*results,)
        )
    if _count(results, "fail"):
        failed = _count(results, "fail")
        return GateVerdict(EXIT_CHECK_FAILED, f"gate failed: {failed} of {n} checks failed.", (*results,), comparison)
    if _count(results, "unknown"):
        unknown = _count(results, "unknown")
        return GateVerdict(
            EXIT_NOT_JUDGEABLE,
            f"gate not judged: {unknown} of {n} checks could not be measured in this run.",
            (*results,),
            comparison,
        )
    return GateVerdict(EXIT_OK, f"gate passed: {n} of {n} checks passed.", (*results,), comparison)
