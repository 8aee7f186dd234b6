"""Traits of a WebSocket run (docs/connections.md), each a rule over report.json's `connections`
with its typed evidence: the workload's shape, and what each held connection costs the target
(memory, a thread, a file descriptor) or how connections fail as more are held."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

from profiler.analysis.traits.evidence import SUBJECT, Finding, TraitEvidence, finding
from profiler.schema.connections import ConnectionsSection, ConnectionStage

MEMORY_MIN_KB = 4.0  # per connection: less is a socket's own buffers, not the app's session state
FIT_MIN_R2 = 0.6  # a line that explains less of the samples is not a per-connection cost
THREADS_PER_CONNECTION = 0.8  # a thread for (nearly) every connection held
FD_NEAR = 0.8  # descriptors in use past this share of the limit
DROPS_SHARE = 0.01  # sessions dropped or handshakes failed, of the connections a stage asked for


@dataclass(frozen=True, slots=True)
class LongLivedConnections(TraitEvidence):
    """The workload holds connections open: its capacity is connections held, not requests a second."""

    ID: ClassVar[str] = "long-lived-connections"
    held_max: int
    message_rate: float | None  # per connection per second
    pushed_per_s: float | None  # the server's unasked frames at the most held
    round_trip_p95_ms: float | None  # at the most held


@dataclass(frozen=True, slots=True)
class MemoryPerConnection(TraitEvidence):
    ID: ClassVar[str] = "memory-per-connection"
    kb_per_connection: float
    r2: float
    held_max: int
    memory_limit_mb: float
    connections_at_limit: int  # where the line reaches the memory limit


@dataclass(frozen=True, slots=True)
class ThreadPerConnection(TraitEvidence):
    ID: ClassVar[str] = "thread-per-connection"
    threads_per_connection: float
    r2: float
    held_max: int
    threads_max: int | None


@dataclass(frozen=True, slots=True)
class FdLimitNear(TraitEvidence):
    ID: ClassVar[str] = "fd-limit-near"
    fd_limit: int
    fds_max: int  # the most the target held in a stage (median over its hold)
    fds_per_connection: float | None
    connections_at_limit: int | None
    handshake_failed: int  # in the run


@dataclass(frozen=True, slots=True)
class ConnectionDropsUnderLoad(TraitEvidence):
    ID: ClassVar[str] = "connection-drops-under-load"
    stage: str = field(metadata=SUBJECT)  # "stage 2"
    connections: int  # the stage's target
    dropped: int
    handshake_failed: int
    close_codes: str  # "1011 x 40, 1006 x 2"
    causes: str  # the failed handshakes by cause
    lightest_clean: int  # the most connections a stage held with none (0: none was clean)


def _tally(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} x {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))


def _heaviest(c: ConnectionsSection) -> ConnectionStage | None:
    return max(c.stages, key=lambda s: s.held, default=None)


def long_lived(c: ConnectionsSection, _limit_mb: float) -> Finding[LongLivedConnections] | None:
    top = _heaviest(c)
    if top is None or c.held_max < 1:
        return None
    rate = f"{c.message_rate:g} message(s) a second each" if c.message_rate else "held idle"
    return finding(
        LongLivedConnections(c.held_max, c.message_rate, top.pushed_per_s, top.round_trip_p95_ms), 0.95,
        f"Up to {c.held_max} WebSocket connections held at once ({rate}): an instance's capacity is the "
        "connections it holds, and what each one costs it.",
    )  # fmt: skip


def memory_per_connection(c: ConnectionsSection, limit_mb: float) -> Finding[MemoryPerConnection] | None:
    fit = c.memory_kb
    if fit is None or fit.slope < MEMORY_MIN_KB or fit.r2 < FIT_MIN_R2:
        return None
    at_limit = max(0, int((limit_mb * 1024.0 - fit.intercept) / fit.slope))
    return finding(
        MemoryPerConnection(fit.slope, fit.r2, fit.held_max, limit_mb, at_limit), 0.5 + 0.45 * fit.r2,
        f"Each connection held costs the target about {fit.slope:.0f} KiB of memory (a line over {fit.samples} "
        f"samples from {fit.held_min} to {fit.held_max} connections, r2 {fit.r2:.2f}): {limit_mb:g} MiB holds "
        f"about {at_limit:,} connections.",
    )  # fmt: skip


def thread_per_connection(c: ConnectionsSection, _limit_mb: float) -> Finding[ThreadPerConnection] | None:
    fit = c.threads
    if fit is None or fit.slope < THREADS_PER_CONNECTION or fit.r2 < FIT_MIN_R2:
        return None
    top = max((s.threads or 0 for s in c.stages), default=None)
    return finding(
        ThreadPerConnection(fit.slope, fit.r2, fit.held_max, top), 0.5 + 0.45 * fit.r2,
        f"The target adds {fit.slope:.2f} threads per connection held ({fit.held_min} to {fit.held_max} "
        f"connections, r2 {fit.r2:.2f}): one thread per connection, each with its stack, and a scheduler that "
        "slows as they grow.",
    )  # fmt: skip


def fd_limit_near(c: ConnectionsSection, _limit_mb: float) -> Finding[FdLimitNear] | None:
    limit = c.fd_limit
    fds = max((s.fds or 0 for s in c.stages), default=0)
    if not limit or fds < FD_NEAR * limit:
        return None
    per = c.fds.slope if c.fds is not None and c.fds.slope > 0 else None
    at_limit = int((limit - (c.fds.intercept if c.fds else 0.0)) / per) if per else None
    failed = sum(s.handshake_failed for s in c.stages)
    return finding(
        FdLimitNear(limit, fds, per, at_limit, failed), 0.9 if failed else 0.7,
        f"The target held {fds} open files against its limit of {limit} (RLIMIT_NOFILE)"
        + (f"; {failed} handshakes failed" if failed else "")
        + ": each connection is a file descriptor, and past the limit accept() fails.",
    )  # fmt: skip


def connection_drops(c: ConnectionsSection, _limit_mb: float) -> Finding[ConnectionDropsUnderLoad] | None:
    def bad(s: ConnectionStage) -> int:
        return s.dropped + s.handshake_failed

    stages = sorted(c.stages, key=lambda s: s.target)
    worst = next((s for s in stages if bad(s) > DROPS_SHARE * max(1, s.target)), None)
    if worst is None:
        return None
    clean = max((s.held for s in stages if bad(s) == 0), default=0)
    where = (f"where {clean} were held with none: the server sheds connections under load" if clean else
             "at the lightest stage already: the server closes connections whatever the load")  # fmt: skip
    return finding(
        ConnectionDropsUnderLoad(f"stage {worst.stage}", worst.target, worst.dropped, worst.handshake_failed,
                                 _tally(worst.close_codes), _tally(worst.handshake_causes), clean),
        0.6 + 0.35 * min(1.0, bad(worst) / max(1, worst.target) / 0.1),
        f"At {worst.target} connections {worst.dropped} sessions were dropped"
        + (f" (close codes {_tally(worst.close_codes)})" if worst.close_codes else "")
        + f" and {worst.handshake_failed} handshakes failed, {where}.",
    )  # fmt: skip


RULES: tuple[Callable[[ConnectionsSection, float], Finding[TraitEvidence] | None], ...] = (
    long_lived,
    memory_per_connection,
    thread_per_connection,
    fd_limit_near,
    connection_drops,
)


def connection_traits(c: ConnectionsSection | None, memory_limit_mb: float) -> list[Finding[TraitEvidence]]:
    if c is None:
        return []
    return [f for rule in RULES if (f := rule(c, memory_limit_mb)) is not None]
