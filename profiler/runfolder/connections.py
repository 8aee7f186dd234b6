"""A WebSocket run's records (docs/connections.md): the kinds of its rows in requests.csv beside
the messages' main rows, and connections.jsonl's line (records.py holds the rest)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from profiler.runfolder.records import MAX_COUNT, finite_number

# A WebSocket run's other rows (docs/connections.md): each handshake (its status 101, or the HTTP
# status that refused it) and each connection's whole session, when it ended (latency_ms its
# length, status its close code, error why it ended: "" when the profiler closed it). Its main
# rows are the messages' round trips.
KIND_CONNECT, KIND_SESSION = "connect", "session"
WS_METHOD = "WS"  # the method column of a WebSocket row: the route is (WS, path)
WS_OPEN = 101  # the status of a handshake that opened, and of an answer that came on its connection
# A session's error when the server closed it (with its code in the status column) and when the
# connection broke without a close frame (1006, as RFC 6455 7.1.5 names an abnormal closure).
WS_CLOSED_BY_SERVER, WS_ABNORMAL = "ClosedByServer", 1006


@dataclass(slots=True)
class ConnectionTick:
    """One line of connections.jsonl, twice a second in a WebSocket run: connections held now, and
    since the run began (cumulative) opened, failed handshakes, closed by the server or broken
    (dropped), closed by us, and frames: messages sent, answers received, pushes received (frames
    that answered nothing). Mutable: the load worker counts into one as the run goes."""

    t: float
    stage: int
    held: int
    opened: int = 0
    failed: int = 0
    dropped: int = 0
    closed: int = 0
    sent: int = 0
    answered: int = 0
    pushed: int = 0

    def line(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":")) + "\n"

    @classmethod
    def parse(cls, d: dict[str, Any]) -> ConnectionTick | None:
        """A line as written; None for one a crash or a hand damaged (a count that is not one)."""
        t = d.get("t")
        counts = {k: d.get(k, 0) for k in ("stage", "held", "opened", "failed", "dropped", "closed", "sent",
                                             "answered", "pushed")}  # fmt: skip
        if not finite_number(t) or not all(isinstance(v, int) and 0 <= v < MAX_COUNT for v in counts.values()):
            return None
        return cls(float(t), **counts)  # type: ignore[arg-type]
