"""The check grammar (docs/ci.md):

    CHECK := METRIC [ "@" LOAD ] OP LIMIT          p95<250ms   p95@32users<300ms   rps@40rps>=38
    LOAD  := N "users" | N "user" | N "u" | RATE "rps" | "stage" N
    OP    := "<" | "<=" | ">" | ">="

A check that cannot be read, or names a metric or trait the profiler does not know, is a usage
error naming the bad part: a misspelt check must never pass silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from profiler.base.errors import ConfigError
from profiler.compare.loads import Load, parse_load
from profiler.gate.metrics import METRIC_NAMES, RUN_BY_NAME, STAGE_BY_NAME, Unit, parse_value

Op = Literal["<", "<=", ">", ">="]
OPS: dict[str, Op] = {"<=": "<=", ">=": ">=", "<": "<", ">": ">"}
_CHECK = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:@\s*([^<>=]*?))?\s*(<=|>=|<|>|==|=|!=)\s*(.*?)\s*")


@dataclass(frozen=True, slots=True)
class Check:
    text: str
    metric: str
    unit: Unit
    op: Op
    limit: float
    at: Load | None = None

    @property
    def run_level(self) -> bool:
        return self.metric in RUN_BY_NAME

    def holds(self, value: float) -> bool:
        return {
            "<": value < self.limit,
            "<=": value <= self.limit,
            ">": value > self.limit,
            ">=": value >= self.limit,
        }[self.op]


def parse_check(text: str) -> Check:
    """One check, e.g. `p95<250ms`; a ConfigError that names the bad part otherwise."""
    m = _CHECK.fullmatch(text)
    if m is None or not m.group(4):
        raise ConfigError(
            f"check {text!r} is not METRIC[@LOAD]<OP>LIMIT.",
            "write e.g. 'p95<250ms', 'error_rate<1%', 'rps@8users>=200'",
        )
    metric, load, op, limit = m.groups()
    metric = metric.lower()
    if op not in OPS:
        raise ConfigError(f"check {text!r}: unknown comparison {op!r}.", "use one of <, <=, >, >=")
    if metric not in METRIC_NAMES:
        raise ConfigError(f"check {text!r}: unknown metric {metric!r}.", f"use one of {', '.join(METRIC_NAMES)}")
    unit = STAGE_BY_NAME[metric].unit if metric in STAGE_BY_NAME else RUN_BY_NAME[metric].unit
    at = parse_load(load, f"check {text!r}") if load is not None else None
    if at is not None and metric in RUN_BY_NAME:
        raise ConfigError(
            f"check {text!r}: {metric} is a figure of the whole run, not of one load.", f"drop '@{load.strip()}'"
        )
    return Check(text=text.strip(), metric=metric, unit=unit, op=OPS[op], limit=parse_value(unit, limit, text), at=at)


def check_trait(trait: str, known: tuple[str, ...]) -> str:
    """A trait id for --forbid-trait, refused when the profiler does not know it."""
    name = trait.strip().lower()
    if name not in known:
        raise ConfigError(
            f"--forbid-trait {trait!r} is not a trait the profiler reports.", f"use one of {', '.join(known)}"
        )
    return name
