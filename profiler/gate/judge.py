"""Judge checks against a report: each one passes, fails, or is not known, with a sentence.

A check is judged only on stages whose figures can be trusted: whole (not cut short), with every
request on disk, not the py-spy stage (it pays the profiler's cost), without a validity error of
its own, and with enough requests for the percentile asked. Anything else is `unknown`, never a
pass: CI must tell "slower" from "could not measure".
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from profiler.compare.loads import stage_words
from profiler.gate.grammar import Check
from profiler.gate.metrics import RUN_BY_NAME, STAGE_BY_NAME, StageMetric
from profiler.schema.report import Report, StageReport
from profiler.schema.verdicts import CheckResult

MIN_REQUESTS = 20  # below this a stage's mean or rate is one unlucky request away from anything


def needed_requests(metric: StageMetric) -> int:
    """Requests a stage needs before its figure is judged: a p99 needs at least 100."""
    if metric.percentile is None or metric.percentile <= 50:
        return MIN_REQUESTS
    return max(MIN_REQUESTS, math.ceil(100 / (100 - metric.percentile)))


def _fmt(value: float, unit: str) -> str:
    text = f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return f"{text}{unit}" if unit in ("ms", "%") else f"{text} {unit}"


def _why_not(report: Report, s: StageReport, metric: StageMetric) -> str | None:
    """Why this stage cannot be judged on this metric, or None when it can."""
    if not s.completed:
        return f"the stage at {stage_words(s)} was cut short ({s.cut_short})"
    if s.missing:
        return f"{s.missing} requests of the stage at {stage_words(s)} are not on disk"
    errors = [i for i in report.validity.issues if i.severity == "error" and i.stage == s.index]
    if errors:
        return f"the stage at {stage_words(s)} is not valid: {errors[0].message}"
    need = needed_requests(metric)
    if s.requests < need:
        return f"only {s.requests} requests at {stage_words(s)}; {metric.name} needs at least {need}"
    if metric.read(s) is None:
        return f"{metric.name} was not measured at {stage_words(s)}"
    return None


def _stages_for(report: Report, check: Check) -> list[StageReport] | str:
    stages = report.load.stages
    if check.at is None:
        chosen = [s for s in stages if not s.profiled]
        return chosen or "the run has no stage to judge"
    matching = [s for s in stages if check.at.matches(s)]
    plain = [s for s in matching if not s.profiled]
    if plain:
        return plain[:1]
    ran = ", ".join(dict.fromkeys(stage_words(s) for s in stages if not s.profiled)) or "none"
    return f"the run has no measured stage at {check.at.words()} (stages ran at: {ran})"


def _judge_stages(report: Report, check: Check) -> CheckResult:
    metric = STAGE_BY_NAME[check.metric]
    chosen = _stages_for(report, check)
    if isinstance(chosen, str):
        return CheckResult(kind="slo", check=check.text, outcome="unknown", detail=chosen + ".")
    failed: list[tuple[StageReport, float]] = []
    passed: list[tuple[StageReport, float]] = []
    unknown: list[str] = []
    for s in chosen:
        why = _why_not(report, s, metric)
        value = metric.read(s)
        if why is not None or value is None:
            unknown.append(why or "not measured")
            continue
        (passed if check.holds(value) else failed).append((s, value))
    if failed:
        # The worst offender speaks for the check: the furthest from its limit.
        s, value = max(failed, key=lambda sv: abs(sv[1] - check.limit))
        return _result(check, "fail", s, value, f"{check.metric} was {_fmt(value, check.unit)} at {stage_words(s)}")
    if unknown:
        return CheckResult(kind="slo", check=check.text, outcome="unknown", detail=f"not judged: {unknown[0]}.")
    s, value = min(passed, key=lambda sv: abs(sv[1] - check.limit))
    where = f"at {stage_words(s)}" if len(passed) == 1 else f"at all {len(passed)} stages, closest {stage_words(s)}"
    return _result(check, "pass", s, value, f"{check.metric} was {_fmt(value, check.unit)} {where}")


def _result(check: Check, outcome: str, s: StageReport | None, value: float, said: str) -> CheckResult:
    limit = f"{check.op} {_fmt(check.limit, check.unit)}"
    return CheckResult(
        kind="slo",
        check=check.text,
        outcome="pass" if outcome == "pass" else "fail",
        detail=f"{said} (limit {limit}).",
        observed=value,
        limit=check.limit,
        stage=s.index if s is not None else None,
    )


def _judge_run(report: Report, check: Check) -> CheckResult:
    value = RUN_BY_NAME[check.metric].read(report)
    if value is None:
        basis = report.capacity.slo_basis if report.capacity is not None else "no stage could be measured"
        return CheckResult(
            kind="slo", check=check.text, outcome="unknown", detail=f"{check.metric} was not found ({basis})."
        )
    outcome = "pass" if check.holds(value) else "fail"
    return _result(check, outcome, None, value, f"{check.metric} was {_fmt(value, check.unit)}")


def _run_level_error(report: Report) -> str | None:
    errors = [i for i in report.validity.issues if i.severity == "error" and i.stage is None]
    return errors[0].message if errors else None


def judge_check(report: Report, check: Check) -> CheckResult:
    broken = _run_level_error(report)
    if broken is not None:
        return CheckResult(kind="slo", check=check.text, outcome="unknown", detail=f"not judged: {broken}")
    return _judge_run(report, check) if check.run_level else _judge_stages(report, check)


def judge_trait(report: Report, trait: str) -> CheckResult:
    text = f"no {trait}"
    broken = _run_level_error(report)
    if broken is not None:
        return CheckResult(kind="trait", check=text, outcome="unknown", detail=f"not judged: {broken}")
    found = next((t for t in report.traits if t.id == trait), None)
    if found is None:
        return CheckResult(kind="trait", check=text, outcome="pass", detail=f"{trait} was not found in the run.")
    return CheckResult(
        kind="trait",
        check=text,
        outcome="fail",
        detail=f"{trait} found (confidence {found.confidence:.2f}): {found.evidence.summary}",
        observed=found.confidence,
    )


def judge(report: Report, checks: Sequence[Check], forbidden: Sequence[str]) -> list[CheckResult]:
    return [judge_check(report, c) for c in checks] + [judge_trait(report, t) for t in forbidden]
