"""What a gate can check: every metric of the one table (profiler/schema/metrics.py, which the
comparison reads too), and how a check's limit is read in the metric's unit. The grammar, the
judge and docs/ci.md all read that table, so a metric cannot be documented without being
checkable, nor checked without being known."""

from __future__ import annotations

import re

from profiler.base.config import parse_ms
from profiler.base.errors import ConfigError
from profiler.schema.metrics import METRIC_NAMES as METRIC_NAMES  # re-exported: a gate checks them all
from profiler.schema.metrics import RUN_BY_NAME as RUN_BY_NAME
from profiler.schema.metrics import STAGE_BY_NAME as STAGE_BY_NAME
from profiler.schema.metrics import StageMetric as StageMetric
from profiler.schema.metrics import Unit as Unit

_SIZES = {"": 1.0, "mib": 1.0, "mb": 1.0, "gib": 1024.0, "gb": 1024.0, "kib": 1 / 1024, "kb": 1 / 1024}
_NUMBER_UNIT = re.compile(r"([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([a-z%/]*)")


def parse_value(unit: Unit, text: str, check: str) -> float:
    """The limit in the metric's unit: `250ms`/`0.25s`/`250` for latency, `1%` or `0.01` for a
    rate, `512MiB`/`1GiB` for memory, a plain number otherwise."""
    raw = text.strip().lower()
    if unit in ("ms", "ms/request"):
        return parse_ms(raw, f"check {check!r}: the limit")
    m = _NUMBER_UNIT.fullmatch(raw)
    if m is None:
        raise _bad_value(check, text, unit)
    number, suffix = float(m.group(1)), m.group(2)
    if unit == "%":
        # `1%` is a percentage; a bare number is a fraction, as k6's `rate<0.01` reads.
        if suffix == "%":
            return number
        if suffix == "" and number <= 1:  # `5` could mean 5% or 500%: refused, not guessed
            return number * 100.0
    elif unit == "MiB":
        if suffix in _SIZES:
            return number * _SIZES[suffix]
    elif unit == "rps":
        if suffix in ("", "rps", "/s"):
            return number
    elif unit == "% of a core":
        if suffix in ("", "%"):
            return number
    elif suffix == "":
        return number
    raise _bad_value(check, text, unit)


def _bad_value(check: str, text: str, unit: Unit) -> ConfigError:
    examples = {
        "%": "1% or 0.01",
        "MiB": "512MiB or 1GiB",
        "rps": "200 or 200rps",
        "% of a core": "150 (1.5 cores) or 150%",
        "count": "a plain number",
        "users": "a plain number",
    }
    return ConfigError(
        f"check {check!r}: cannot read the limit {text!r} in {unit}.", f"write it as {examples.get(unit, 'a number')}"
    )
