"""The evidence of the traits read from a shape run's events (analysis/traits/transients.py): one
class per trait id, as in evidence.py, kept apart so that module stays one readable page."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from profiler.analysis.traits.evidence import SUBJECT, TraitEvidence


@dataclass(frozen=True, slots=True)
class SpikeQueues(TraitEvidence):
    """Under a step up, latency grew with the backlog and nothing was shed."""

    ID: ClassVar[str] = "spike-queues"
    step: str = field(metadata=SUBJECT)  # "stage N": the step the event began
    load_before: float
    load_after: float
    baseline_p95_ms: float
    during_p95_ms: float
    max_in_flight: int
    failed: int
    during_rps: float


@dataclass(frozen=True, slots=True)
class ShedsLoad(TraitEvidence):
    """Under a step up, the target answered part of it at once with 429 or 503: it sheds load."""

    ID: ClassVar[str] = "sheds-load"
    step: str = field(metadata=SUBJECT)  # "stage N": the step the event began
    shed: int
    requests: int
    shed_share: float
    during_p95_ms: float | None


@dataclass(frozen=True, slots=True)
class SlowRecovery(TraitEvidence):
    """After a spike the target took long to come back, or did not within the time watched."""

    ID: ClassVar[str] = "slow-recovery"
    step: str = field(metadata=SUBJECT)  # "stage N": the step the event began
    recovery_s: float | None  # None: not within watched_s
    watched_s: float
    baseline_p95_ms: float
