"""Parse the standard `Server-Timing` response header (W3C Server Timing).

An entry is `name;dur=1.2;desc="x"` (RFC 8941-style parameters); entries are separated by commas
and a response may carry several headers (joined with ", " by the time we see them). We keep only
entries with a numeric `dur`: an entry without one carries no time to attribute. Malformed entries
are skipped and counted, so the report can say how much of the header it could not read.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

# The characters of an HTTP token (RFC 9110): header names and Server-Timing entry names.
TOKEN_CHARS = r"!#$%&'*+\-.^_`|~0-9A-Za-z"
_TOKEN = re.compile(rf"^[{TOKEN_CHARS}]+$")
# A dur value: a decimal in ASCII. float() alone would also take "1_0", "١", "nan" and "infinity".
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def is_token(name: str) -> bool:
    """An HTTP token: what a header name or a Server-Timing entry name may be."""
    return _TOKEN.fullmatch(name) is not None  # fullmatch: `$` alone would let a trailing newline in


def finite_sum(values: Iterable[float]) -> float | None:
    """The exact sum of durations, or None when there are none or it is past any float (two
    entries of 1e308 each are valid, their sum is not; math.fsum raises OverflowError on it)."""
    listed = list(values)
    try:
        total = math.fsum(listed)
    except OverflowError:
        return None
    return total if listed and math.isfinite(total) else None


@dataclass(frozen=True, slots=True)
class ParsedTiming:
    """Durations in milliseconds by handoff name, and how many entries were malformed."""

    durations: dict[str, float]
    malformed: int


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    # Commas and semicolons may appear inside quoted desc="..." values.
    parts: list[str] = []
    buf: list[str] = []
    quoted = False
    escaped = False
    for ch in text:
        if escaped:
            buf.append(ch)
            escaped = False
        elif ch == "\\" and quoted:
            buf.append(ch)
            escaped = True
        elif ch == '"':
            quoted = not quoted
            buf.append(ch)
        elif ch == sep and not quoted:
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    parts.append("".join(buf))
    return parts


def parse_server_timing(header: str | None) -> ParsedTiming:
    """Parse one (possibly combined) Server-Timing header value.

    The same name twice in one response is summed: apps that time a step in several pieces
    mean the total.
    """
    if not header:
        return ParsedTiming({}, 0)
    durations: dict[str, float] = {}
    malformed = 0
    for raw_entry in _split_outside_quotes(header, ","):
        entry = raw_entry.strip()
        if not entry:
            continue
        fields = _split_outside_quotes(entry, ";")
        name = fields[0].strip()
        if not _TOKEN.match(name):
            malformed += 1
            continue
        dur: float | None = None
        bad = False
        for param in fields[1:]:
            key, eq, value = param.strip().partition("=")
            if key.strip().lower() != "dur":
                continue
            text = value.strip().strip('"')
            if not eq or not _DECIMAL.fullmatch(text):
                bad = True
                break
            dur = float(text)
            if dur < 0 or dur == math.inf:  # negative, or past any float (1e400)
                bad = True
                break
        if bad:
            malformed += 1
            continue
        if dur is None:
            continue  # a mark without duration (e.g. `cache;desc=hit`) is valid but has no time
        total = durations.get(name, 0.0) + dur
        if total == math.inf:  # pieces each finite, their sum past any float
            malformed += 1
            continue
        durations[name] = total
    return ParsedTiming(durations, malformed)


_ENTRY = re.compile(
    rf"(?:^|,)[ \t]*([{TOKEN_CHARS}]+)[ \t]*(?:;[^,]*)?;[ \t]*dur=([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)[ \t]*(?=;|,|$)"
)
_QUOTED_SEPARATOR = re.compile(r'"[^"]*[,;\\][^"]*"')  # a quoted value hiding a separator


def parse_fast(header: str) -> ParsedTiming:
    """The same result as `parse_server_timing`, by one regular expression in the common case.

    The load worker parses every response's header as it records it; most apps send plain
    `name;dur=N` entries. When the expression does not account for every comma-separated entry
    (one without dur, a bad number, a quoted value holding a comma...) the general parser
    decides, so both always agree.
    """
    if '"' in header and (header.count('"') % 2 or _QUOTED_SEPARATOR.search(header)):
        found: list[tuple[str, str]] = []
    else:
        found = _ENTRY.findall(header)
    # Every entry matched, each with exactly one dur (a second, even a bad one, is the general
    # parser's to judge), and every number finite (1e400 is not).
    if (
        found
        and len(found) == header.count(",") + 1
        and header.lower().count("dur") == len(found)
        and all(len(d) < 300 and float(d) < float("inf") for _, d in found)
    ):
        out: dict[str, float] = {}
        for name, dur in found:  # the same name twice: the app timed a step in pieces
            out[name] = out.get(name, 0.0) + float(dur)
        if all(v < math.inf for v in out.values()):  # else a sum overflowed: the general parser counts it
            return ParsedTiming(out, 0)
    return parse_server_timing(header)
