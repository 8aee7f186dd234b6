"""A load named in a check or rule (`@32users`, `@40rps`, `@stage3`) and the stage it names."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from profiler.base.errors import ConfigError
from profiler.schema.report import StageReport

_LOAD = re.compile(r"(?:(\d+)\s*(?:users|user|u)|(\d*\.?\d+)\s*rps|stage\s*(\d+))", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Load:
    """A named load: `users` (closed model), `rate` (open model) or a stage index."""

    users: int | None = None
    rate: float | None = None
    stage: int | None = None

    def words(self) -> str:
        if self.users is not None:
            return f"{self.users} user{'s' if self.users != 1 else ''}"
        if self.rate is not None:
            return f"{self.rate:g} rps"
        return f"stage {self.stage}"

    def matches(self, s: StageReport) -> bool:
        if self.stage is not None:
            return s.index == self.stage
        if self.users is not None:
            return s.users == self.users
        return s.rate is not None and self.rate is not None and math.isclose(s.rate, self.rate, rel_tol=1e-6)


def parse_load(text: str, where: str) -> Load:
    """`32users`, `40rps`, `stage3`; a ConfigError naming `where` otherwise."""
    m = _LOAD.fullmatch(text.strip())
    if m is None:
        raise ConfigError(
            f"{where}: cannot read the load {text.strip()!r} after '@'.", "write e.g. @32users, @40rps or @stage3"
        )
    users, rate, stage = m.groups()
    if users is not None:
        return Load(users=int(users))
    if rate is not None:
        return Load(rate=float(rate))
    return Load(stage=int(stage))


def stage_words(s: StageReport) -> str:
    """The load a stage ran, in words: '4 users', '40 rps'."""
    if s.users is not None:
        return f"{s.users} user{'s' if s.users != 1 else ''}"
    return f"{s.rate:g} rps" if s.rate is not None else f"stage {s.index}"
