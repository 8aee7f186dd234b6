"""report.json's `connections`: a WebSocket run's connections held, per stage and per connection
(docs/connections.md). In its own module so the report schema stays one readable page;
re-exported by profiler.schema.report."""

from __future__ import annotations

from pydantic import Field

from profiler.schema.base import ReportModel as _Model


class ConnectionStage(_Model):
    """One stage of connections: what was asked, what was held, and how its frames went."""

    stage: int = Field(ge=0, description="The stage's index (load.stages[].index).")
    target: int = Field(ge=0, description="Connections the stage asked for.")
    held: int = Field(ge=0, description="Connections held over the stage's hold (its median, after the ramp).")
    held_max: int = Field(ge=0, description="Most connections held at once in the stage.")
    opened: int = Field(ge=0, description="Handshakes that opened in the stage.")
    handshake_failed: int = Field(ge=0, description="Handshakes that failed in the stage.")
    handshake_causes: dict[str, int] = Field(default_factory=dict, description="Failed handshakes by cause: "
                                             "http-4xx/http-5xx (refused with that status), refused, timeout, tls, "
                                             "reset, other.")  # fmt: skip
    handshake_statuses: dict[str, int] = Field(default_factory=dict, description="HTTP status of refused handshakes.")
    connect_p50_ms: float | None = Field(None, ge=0, description="Time to open a connection (TCP, TLS, upgrade).")
    connect_p95_ms: float | None = Field(None, ge=0, description="95th percentile of the same.")
    connect_p99_ms: float | None = Field(None, ge=0, description="99th percentile of the same.")
    round_trip_p50_ms: float | None = Field(None, ge=0, description="A message (or ping) to its answer (pong).")
    round_trip_p95_ms: float | None = Field(None, ge=0, description="95th percentile of the same.")
    round_trip_p99_ms: float | None = Field(None, ge=0, description="99th percentile of the same.")
    messages: int = Field(0, ge=0, description="Messages (or pings) sent in the stage and recorded.")
    unanswered: int = Field(0, ge=0, description="Of those, without an answer (timed out, or the connection ended).")
    sent_per_s: float | None = Field(None, ge=0, description="Messages sent per second, all connections.")
    received_per_s: float | None = Field(None, ge=0, description="Frames received per second: answers and pushes.")
    pushed_per_s: float | None = Field(None, ge=0, description="Frames the server sent unasked, per second.")
    dropped: int = Field(0, ge=0, description="Sessions opened in the stage that the server closed or that broke.")
    close_codes: dict[str, int] = Field(default_factory=dict, description="Close code of the dropped sessions "
                                        "(1006: broken without a close frame).")  # fmt: skip
    session_p50_s: float | None = Field(None, ge=0, description="Median length of the stage's sessions, as they ended.")
    session_max_s: float | None = Field(None, ge=0, description="The longest of the same.")
    rss_mb: float | None = Field(None, ge=0, description="The target's resident memory over the hold (median).")
    fds: int | None = Field(None, ge=0, description="The target's open file descriptors over the hold (median).")
    threads: int | None = Field(None, ge=0, description="The target's threads over the hold (median).")
    cpu_pct: float | None = Field(None, ge=0, description="The target's CPU over the hold, % of one core.")


class PerConnection(_Model):
    """One of the target's figures fitted against the connections held, sample by sample."""

    slope: float = Field(description="Added per connection held (KiB, descriptors, threads, or % of a core).")
    intercept: float = Field(description="With no connection held.")
    r2: float = Field(ge=0, le=1, description="How well a straight line fits (1: exactly).")
    samples: int = Field(ge=0, description="Samples of the target the line was fitted on.")
    held_min: int = Field(ge=0, description="Fewest connections held over those samples.")
    held_max: int = Field(ge=0, description="Most connections held over those samples.")


class ConnectionsSection(_Model):
    """A WebSocket run: the connections held, per stage, and what each costs the target."""

    url: str = Field(description="The ws:// or wss:// URL loaded (credentials masked).")
    message: str = Field(description="'ping' (a ping, answered by a pong), or the size of the message sent.")
    message_rate: float | None = Field(None, ge=0, description="Messages per connection per second.")
    connect_rate: float | None = Field(None, ge=0, description="New connections per second while ramping.")
    held_max: int = Field(ge=0, description="Most connections held at once in the run.")
    stages: list[ConnectionStage] = Field(default_factory=list, description="Each stage of connections, in order.")
    memory_kb: PerConnection | None = Field(None, description="Resident memory (KiB) per connection held.")
    fds: PerConnection | None = Field(None, description="File descriptors per connection held.")
    threads: PerConnection | None = Field(None, description="Threads per connection held.")
    cpu_pct: PerConnection | None = Field(
        None, description="CPU (% of one core) per connection held, messages included."
    )
    fd_limit: int | None = Field(None, ge=0, description="The target's soft limit on open files (RLIMIT_NOFILE).")
    dropped: int = Field(0, ge=0, description="Sessions the server closed or that broke, in the run.")
    notes: list[str] = Field(default_factory=list, description="What the figures rest on, and what is not known.")
