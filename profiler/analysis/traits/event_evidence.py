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


@dataclass(frozen=True, slots=True)
class RestartDropsRequests(TraitEvidence):
    """A restart, a reload or a killed worker failed requests (a graceful one loses none: no trait)."""

    ID: ClassVar[str] = "restart-drops-requests"
    fault: str = field(metadata=SUBJECT)  # as asked: reload@15s
    failed: int
    lost: int
    requests: int
    unavailable_s: float
    stopped_after_s: float | None = None  # a restart: SIGTERM until it exited (its drain)
    ready_after_s: float | None = None  # a restart: started again until it answered


@dataclass(frozen=True, slots=True)
class SessionsLost(TraitEvidence):
    """After a restart, a reload or a killed worker, users' requests were refused (401/403) or found
    their state gone (404/410) where the baseline had no such answers: sessions held in the process."""

    ID: ClassVar[str] = "sessions-lost-on-restart"
    fault: str = field(metadata=SUBJECT)
    client_errors: int
    requests: int
    baseline_share: float
    statuses: str  # "401 x 198, 404 x 2": the client errors after it, most first


@dataclass(frozen=True, slots=True)
class DependencyStall(TraitEvidence):
    """A paused process of the target's tree (its Redis, its database) stalled the requests."""

    ID: ClassVar[str] = "dependency-stall"
    process: str = field(metadata=SUBJECT)
    paused_s: float
    baseline_p95_ms: float
    during_max_ms: float | None  # the longest wait of a request it caught
    failed: int
    failed_after: bool  # failures outlasted the pause: the cascade (retries, a pool left broken)
