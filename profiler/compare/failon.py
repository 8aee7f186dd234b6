"""`--fail-on` rules: a comparison as a gate.

    RULE := METRIC [ "@" LOAD ] ":" ("+" | "-") NUMBER [ "%" | UNIT ]
            p95:+10%   rps:-5%   p99@16users:+20%   error_rate:+1   p95:+25ms   handoff:db:+15%

`+10%` fails when the metric rises by more than 10% of the base; `-5%` when it falls by more than
5%; a number without `%` is in the metric's unit (milliseconds; percentage points for the error
rate). Only a significant change counts (outside the runs' own noise and past the noise floor):
a wobble never fails a build.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from profiler.base.errors import ConfigError
from profiler.compare.loads import Load, parse_load
from profiler.compare.metrics import HANDOFF_PREFIX, METRIC_NAMES, RUN_BY_NAME, STAGE_BY_NAME
from profiler.schema.verdicts import CheckResult, Comparison, MetricDelta

_RULE = re.compile(
    r"\s*(handoff:[A-Za-z0-9!#$%&'*+.^_`|~-]+|[A-Za-z_][A-Za-z0-9_]*)\s*(?:@\s*([^:]*?))?\s*:\s*(.*?)\s*"
)
_LIMIT = re.compile(r"([+-])\s*(\d*\.?\d+)\s*(%|ms|s|pp|rps|mib)?", re.IGNORECASE)
EXAMPLES = "e.g. 'p95:+10%', 'rps:-5%', 'p99@16users:+20%', 'p95:+25ms'"


@dataclass(frozen=True, slots=True)
class FailOnRule:
    text: str
    metric: str
    rises: bool  # True: fail when it rises; False: when it falls
    amount: float  # percent of base when `relative`, else in the metric's unit
    relative: bool
    at: Load | None = None

    def breached(self, d: MetricDelta) -> bool:
        if not d.significant or d.base is None or d.new is None:
            return False
        if self.relative:
            # From a base of zero (no errors before) any rise is past every percentage.
            change = (
                d.change_pct
                if d.change_pct is not None
                else math.copysign(math.inf, d.new - d.base)
                if d.new != d.base
                else 0.0
            )
        else:
            change = d.new - d.base
        return change > self.amount if self.rises else change < -self.amount


# The suffix a rule may give each unit of the metrics table in (beside % and a bare number).
_UNIT_WORD = {"ms": "ms", "ms/request": "ms", "%": "pp", "rps": "rps", "MiB": "mib"}


def _unit_of(metric: str) -> str:
    if metric.startswith(HANDOFF_PREFIX):
        return "ms"
    return STAGE_BY_NAME[metric].unit if metric in STAGE_BY_NAME else RUN_BY_NAME[metric].unit


def _against_direction(rule: FailOnRule) -> str:
    """A rule that fails on an improvement is allowed (a canary: 'did this change anything?'),
    but said, in case the sign was a slip."""
    known = STAGE_BY_NAME.get(rule.metric) or RUN_BY_NAME.get(rule.metric)
    lower_better = known is None or known.direction == "lower-is-better"  # handoffs: lower is better
    if rule.rises != lower_better:
        return f" Note: this rule fails on an improvement ({'lower' if lower_better else 'higher'} is better)."
    return ""


def _amount(text: str, limit: str, metric: str) -> tuple[bool, float, bool]:
    m = _LIMIT.fullmatch(limit)
    if m is None:
        raise ConfigError(
            f"--fail-on {text!r}: cannot read {limit!r} as a change.", f"write a signed change, {EXAMPLES}"
        )
    sign, number, unit = m.groups()
    value = float(number)
    unit = (unit or "").lower()
    if unit == "s":
        value, unit = value * 1000.0, "ms"
    if unit not in ("", "%") and unit != _UNIT_WORD.get(_unit_of(metric)):
        raise ConfigError(f"--fail-on {text!r}: {unit!r} is not a unit of {metric}.", f"use % or {EXAMPLES}")
    return sign == "+", value, unit == "%"


def parse_fail_on(text: str) -> FailOnRule:
    """One rule; a ConfigError naming the bad part otherwise (an unknown metric never passes)."""
    m = _RULE.fullmatch(text)
    if m is None or not m.group(3):
        raise ConfigError(f"--fail-on {text!r} is not METRIC[@LOAD]:+N%.", EXAMPLES)
    metric, load, limit = m.groups()
    metric = metric if metric.startswith(HANDOFF_PREFIX) else metric.lower()
    if not metric.startswith(HANDOFF_PREFIX) and metric not in METRIC_NAMES:
        known = ", ".join([*METRIC_NAMES, "handoff:NAME"])
        raise ConfigError(f"--fail-on {text!r}: unknown metric {metric!r}.", f"use one of {known}")
    at = parse_load(load, f"--fail-on {text!r}") if load is not None else None
    if at is not None and metric in RUN_BY_NAME:
        raise ConfigError(f"--fail-on {text!r}: {metric} is a figure of the whole run.", f"drop '@{load.strip()}'")
    rises, amount, relative = _amount(text, limit, metric)
    return FailOnRule(text.strip(), metric, rises, amount, relative, at)


def _candidates(rule: FailOnRule, c: Comparison) -> list[tuple[str, MetricDelta]]:
    if rule.metric in RUN_BY_NAME:
        return [("the run", d) for d in c.run_metrics if d.metric == rule.metric]
    found = []
    for sd in c.stages:
        if rule.at is not None and not _stage_matches(rule.at, sd.load, sd.new_stage):
            continue
        found += [(sd.load, d) for d in sd.metrics if d.metric == rule.metric and d.verdict != "unknown"]
    return found


def _stage_matches(at: Load, load: str, new_stage: int) -> bool:
    if at.stage is not None:
        return new_stage == at.stage
    return load == at.words()


def _said(d: MetricDelta) -> str:
    change = f"{d.change_pct:+.1f}%" if d.change_pct is not None else f"{(d.new or 0) - (d.base or 0):+.3g} {d.unit}"
    ci = f", 95% interval [{d.ci_low_pct:+.1f}, {d.ci_high_pct:+.1f}]" if d.ci_low_pct is not None else ""
    return f"{d.metric} {d.base:g} -> {d.new:g} {d.unit} ({change}{ci}, {d.verdict})"


def _why_unknown(rule: FailOnRule, c: Comparison) -> str:
    if rule.metric in RUN_BY_NAME:
        return f"{rule.metric} is not known in both runs, so it cannot be compared."
    if rule.at is not None and not any(_stage_matches(rule.at, sd.load, sd.new_stage) for sd in c.stages):
        why = f"no stage at {rule.at.words()} was measured whole in both runs"
    elif not c.stages:
        why = "no stage was measured at the same load in both runs"
    else:
        where = f" at {rule.at.words()}" if rule.at is not None else ""
        why = f"{rule.metric}{where} was not measured in both runs"
    if c.unmatched:
        why += f" (loads in one run only: {', '.join(c.unmatched)})"
    return why + "."


def judge_rule(rule: FailOnRule, c: Comparison) -> CheckResult:
    found = _candidates(rule, c)
    if not found:
        return CheckResult(kind="fail-on", check=rule.text, outcome="unknown", detail=_why_unknown(rule, c))
    note = _against_direction(rule)
    breached = [(load, d) for load, d in found if rule.breached(d)]
    if breached:
        load, d = breached[0]
        return CheckResult(kind="fail-on", check=rule.text, outcome="fail", detail=f"at {load}: {_said(d)}.{note}")
    load, d = max(found, key=lambda ld: abs(ld[1].change_pct or 0.0))
    detail = f"largest change at {load}: {_said(d)}.{note}"
    return CheckResult(kind="fail-on", check=rule.text, outcome="pass", detail=detail)


def judge_fail_on(rules: list[FailOnRule] | tuple[FailOnRule, ...], c: Comparison) -> list[CheckResult]:
    return [judge_rule(r, c) for r in rules]
