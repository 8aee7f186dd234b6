"""What several trait rules read the same way: closed stages, the plateau, means that skip gaps."""

from __future__ import annotations

from collections.abc import Sequence

from profiler.analysis.figures.scaling import Plateau, find_plateau
from profiler.analysis.figures.signals import Signals, StageSignal
from profiler.base.stats import mean
from profiler.schema.report import ServerInfo


def closed(signals: Signals) -> list[StageSignal]:
    """Measured stages of the closed model (a user count), in run order."""
    return [s for s in signals.measured if s.users]


def plateau(signals: Signals) -> tuple[Plateau, list[StageSignal]] | None:
    """The plateau of the closed stages and the closed stages on it, if the run reached one."""
    stages = closed(signals)
    p = find_plateau(stages)
    if p is None:
        return None
    return p, [s for s in stages if s.index >= p.stage]


def python_of(server: ServerInfo | None) -> bool | None:
    """Whether the target runs Python, as the evidence records it; None when not known."""
    return None if server is None or server.language == "unknown" else server.language == "python"


def mean_opt(values: Sequence[float | None]) -> float | None:
    """Mean of the values that are known; None when none is."""
    vals = [v for v in values if v is not None]
    return mean(vals) if vals else None


def slow_probe(stages: Sequence[StageSignal]) -> tuple[float, float] | None:
    """(mean probe p50, its ratio to the mean request p50) over these stages, when both are known."""
    probe = mean_opt([s.probe_p50 for s in stages])
    main = mean_opt([s.p50 for s in stages])
    if probe is None or main is None or main <= 0:
        return None
    return probe, probe / main


def users_text(users: int | None) -> str:
    return f"{users} user{'s' if users != 1 else ''}"


def load_text(s: StageSignal) -> str:
    """A stage's load in words: '4 users' (closed model) or '20/s' (open model)."""
    return users_text(s.users) if s.users else f"{s.rate:g}/s"
