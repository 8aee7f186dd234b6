"""Advice for connection-shaped apps (docs/connections.md): a fleet sized in connections held, not
requests a second, from the limit one instance measured (memory, file descriptors, CPU, or the
most it held cleanly, whichever binds first); balancing and autoscaling on connections; the fd
limit; an event loop instead of a thread per connection. Each rule a function of the section and
the traits found; `connection_advice` runs them in order."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from profiler.analysis.advice.vocabulary import advice
from profiler.analysis.traits import connections as cv
from profiler.analysis.traits.evidence import Finding, TraitEvidence
from profiler.schema.connections import ConnectionsSection
from profiler.schema.report import Recommendation, ServerInfo

CPU_CEILING = 0.8  # of the cores an instance may use: past it, round trips stretch


@dataclass(frozen=True, slots=True)
class ConnectionFacts:
    """What the rules read besides the section: the traits found, the server, and the sizing asked."""

    section: ConnectionsSection
    findings: dict[str, TraitEvidence]
    server: ServerInfo | None
    cores: float
    memory_limit_mb: float
    headroom: float
    peak_connections: int | None


def _clean_held(c: ConnectionsSection) -> int:
    """The most connections a stage held with none dropped and every handshake opened."""
    return max((s.held for s in c.stages if s.dropped == 0 and s.handshake_failed == 0), default=0)


def limits(f: ConnectionFacts) -> dict[str, int]:
    """Connections one instance can hold, by what would stop it; only the limits the run measured."""
    c, out = f.section, {}
    if (m := c.memory_kb) is not None and m.slope >= cv.MEMORY_MIN_KB and m.r2 >= cv.FIT_MIN_R2:
        out["memory"] = max(0, int((f.memory_limit_mb * 1024.0 - m.intercept) / m.slope))
    if c.fd_limit and (d := c.fds) is not None and d.slope > 0 and d.r2 >= cv.FIT_MIN_R2:
        out["file descriptors"] = max(0, int((c.fd_limit - d.intercept) / d.slope))
    if (p := c.cpu_pct) is not None and p.slope > 0 and p.r2 >= cv.FIT_MIN_R2:
        out["cpu"] = max(0, int((f.cores * 100.0 * CPU_CEILING - p.intercept) / p.slope))
    clean = _clean_held(c)
    if clean and (not out or any(c.held_max < v for v in out.values())):
        # What was held cleanly stands for the limits the run did not reach only where it is a floor.
        out["measured"] = clean
    return out


def fleet(f: ConnectionFacts) -> list[Recommendation]:
    found = limits(f)
    if not found:
        return []
    binds, per_instance = min(found.items(), key=lambda kv: kv[1])
    usable = max(1, int(per_instance * (1.0 - f.headroom)))
    others = ", ".join(f"{k} at about {v:,}" for k, v in found.items() if k != binds)
    size = (f"; {f.peak_connections:,} at the peak need {math.ceil(f.peak_connections / usable)} instances"
            if f.peak_connections else "; give --peak-connections N to size the fleet")  # fmt: skip
    if binds == "measured":
        held = (f"one instance held {per_instance:,} cleanly, the most the run reached"
                + (f" (the per-connection lines project {others}: not tested)" if others else ""))  # fmt: skip
    else:
        held = f"one instance holds about {per_instance:,}, {binds} binding first" + (f" ({others})" if others else "")
    return advice(
        "fleet-by-connections",
        f"Size the fleet in connections held, not requests a second: {held}; {usable:,} with {f.headroom:.0%} "
        f"headroom{size}.",
        "A connection costs an instance for as long as it is held, whether it sends or not: requests a second "
        "say nothing of how many fit.",
        [cv.LongLivedConnections.ID],
        connections_per_instance=per_instance,
        usable_per_instance=usable,
        bound_by=binds,
        instances=math.ceil(f.peak_connections / usable) if f.peak_connections else None,
    )


def balancing(f: ConnectionFacts) -> list[Recommendation]:
    usable = max(1, int(min(limits(f).values(), default=f.section.held_max) * (1.0 - f.headroom)))
    return advice(
        "balance-on-connections",
        "Balance by connections, not requests: least-connections (or consistent hashing on the session id, "
        "sticky where session state lives in the process), and autoscale on connections held per instance "
        f"(a Kubernetes HPA on a connections metric, target about {usable:,} per pod), never on CPU. On a "
        "deploy, close with 1001 Going Away and let clients reconnect to another instance, a few at a time.",
        "Connections stay where they landed: a round-robin balancer and a CPU signal both miss instances that "
        "fill up with idle connections, and a restart that drops all at once brings them all back together.",
        [cv.LongLivedConnections.ID],
        target_per_instance=usable,
    )


def fd_limit(f: ConnectionFacts) -> list[Recommendation]:
    e = f.findings.get(cv.FdLimitNear.ID)
    if not isinstance(e, cv.FdLimitNear):
        return []
    return advice(
        "raise-fd-limit",
        f"Raise the target's open-file limit (now {e.fd_limit}): `ulimit -n 1048576` before it starts, "
        "LimitNOFILE= in its systemd unit, --ulimit nofile=1048576 for docker; and the kernel's: fs.file-max, "
        "net.core.somaxconn and the listen backlog for reconnect storms.",
        "Every connection is a file descriptor: past the limit accept() fails and new connections are refused "
        "while the machine has room.",
        [e.ID],
        fd_limit=e.fd_limit,
        fds_max=e.fds_max,
    )


def event_loop(f: ConnectionFacts) -> list[Recommendation]:
    e = f.findings.get(cv.ThreadPerConnection.ID)
    if not isinstance(e, cv.ThreadPerConnection):
        return []
    python = f.server is None or f.server.language != "other"
    how = ("serve WebSockets from an event loop: the websockets library's asyncio server, or an ASGI app "
           "(Starlette, FastAPI) under uvicorn" if python else
           "serve WebSockets from an event-driven server (epoll/kqueue: one thread holds thousands)")  # fmt: skip
    return advice(
        "event-loop-for-connections",
        f"One thread per connection ({e.threads_per_connection:.2f} per connection held): {how}.",
        "A thread per idle connection costs a stack and scheduler time; an event loop holds an idle connection "
        "for a few KiB.",
        [e.ID],
        threads_per_connection=e.threads_per_connection,
    )


RULES: tuple[Callable[[ConnectionFacts], list[Recommendation]], ...] = (fleet, balancing, fd_limit, event_loop)


def connection_advice(
    section: ConnectionsSection | None,
    findings: Sequence[Finding[TraitEvidence]],
    server: ServerInfo | None,
    cores: float,
    memory_limit_mb: float,
    headroom: float,
    peak_connections: int | None,
) -> list[Recommendation]:
    if section is None or section.held_max < 1:
        return []
    facts = ConnectionFacts(section, {f.id: f.data for f in findings}, server, cores, memory_limit_mb, headroom,
                            peak_connections)  # fmt: skip
    return [r for rule in RULES for r in rule(facts)]
