"""Durations as people type them for Locust and k6: `30s`, `2m`, `1m30s`, `1h`, `500ms`, or a plain
number of seconds. One parser for every option that takes a time, so `--duration 2m` and
`--timeout 500ms` mean what they say everywhere."""

from __future__ import annotations

import math
import re

from profiler.base.errors import ConfigError

UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
# Parts from the largest unit down, each at most once: `1h2m3s500ms`. `ms` is tried before `m`.
_PART = re.compile(r"(\d+(?:\.\d+)?|\.\d+)(ms|h|m|s)")
_NUMBER = re.compile(r"\d+(?:\.\d+)?|\.\d+")
_ORDER = ("h", "m", "s", "ms")
EXAMPLES = "e.g. 30s, 2m, 1m30s, 500ms, or plain seconds"


def parse_duration(text: str, option: str = "duration") -> float:
    """Seconds in `text`; a ConfigError naming the option and the bad part otherwise."""
    seconds = read_duration(text, option)
    if not math.isfinite(seconds):
        raise ConfigError(f"{option} {text!r} is not a finite duration.", f"use {EXAMPLES}")
    return seconds


def read_duration(text: str, option: str = "duration") -> float:
    """Seconds in `text`, infinite when its digits overflow (a caller with a bound says so)."""
    raw = text.strip().lower()
    if _NUMBER.fullmatch(raw):
        return float(raw)
    pos, seconds, last = 0, 0.0, -1
    for m in _PART.finditer(raw):
        if m.start() != pos:
            break
        rank = _ORDER.index(m.group(2))
        if rank <= last:
            raise ConfigError(
                f"{option} {text!r}: unit {m.group(2)!r} is out of order or repeated.",
                f"write units from hours down, {EXAMPLES}",
            )
        last, pos = rank, m.end()
        seconds += float(m.group(1)) * UNIT_SECONDS[m.group(2)]
    if pos != len(raw) or not raw:
        bad = raw[pos:] or "(empty)"
        raise ConfigError(f"{option} {text!r}: cannot read {bad!r} as a duration.", f"use {EXAMPLES}")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest exact spelling parse_duration reads back: 90 -> '1m30s', 0.5 -> '500ms'."""
    if seconds < 1 and seconds > 0 and math.isclose(seconds * 1000, round(seconds * 1000)):
        return f"{round(seconds * 1000)}ms"
    whole = int(seconds)
    if whole != seconds or whole == 0:
        return f"{seconds:g}s"
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    parts = [f"{v}{u}" for v, u in ((h, "h"), (m, "m"), (s, "s")) if v]
    return "".join(parts)
