"""A WebSocket run's connections in words and a table (report.json's `connections`): the terminal,
Markdown and the HTML report each render these."""

from __future__ import annotations

from profiler.analysis.traits.connections import FIT_MIN_R2
from profiler.report.text_table import TextTable, fmt
from profiler.schema.connections import PerConnection
from profiler.schema.report import Report


def _codes(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} x{v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1])) or "-"


def connections_table(report: Report) -> TextTable | None:
    c = report.connections
    if c is None:
        return None
    rows = tuple(
        (
            str(s.stage),
            str(s.target),
            str(s.held),
            fmt(s.connect_p50_ms),
            fmt(s.connect_p95_ms),
            fmt(s.round_trip_p50_ms),
            fmt(s.round_trip_p95_ms),
            fmt(s.round_trip_p99_ms),
            fmt(s.sent_per_s),
            fmt(s.pushed_per_s),
            str(s.handshake_failed),
            _codes(s.handshake_causes),
            str(s.dropped),
            _codes(s.close_codes),
            fmt(s.rss_mb, "{:.0f}"),
            fmt(s.fds, "{:d}"),
            fmt(s.threads, "{:d}"),
        )  # fmt: skip
        for s in c.stages
    )
    cols = ("stage", "asked", "held", "connect p50", "connect p95", "rtt p50", "rtt p95", "rtt p99", "sent/s",
            "pushed/s", "hs failed", "causes", "dropped", "close codes", "rss MiB", "fds", "threads")  # fmt: skip
    what = "a ping (its pong answers)" if c.message == "ping" else f"a {c.message} message (the next frame answers)"
    rate = f"{c.message_rate:g}/s per connection" if c.message_rate else "none: held idle"
    notes = (f"each connection sends {what}, {rate}; ms; held: median over the stage's hold, after its ramp",)
    return TextTable("Connections", cols, rows, notes)


def _cost(name: str, fit: PerConnection | None, unit: str) -> str | None:
    """A fitted cost worth a word: one a line explains (FIT_MIN_R2); else it is not tied to connections."""
    if fit is None or fit.r2 < FIT_MIN_R2:
        return None
    return f"{name} {fit.slope:.3g}{unit} per connection (r2 {fit.r2:.2f}, {fit.held_min}-{fit.held_max} held)"


def connection_lines(report: Report) -> list[str]:
    """The per-connection costs and the fd limit, one line; nothing for another kind of run."""
    c = report.connections
    if c is None:
        return []
    costs = [
        x
        for x in (
            _cost("memory", c.memory_kb, " KiB"),
            _cost("fds", c.fds, ""),
            _cost("threads", c.threads, ""),
            _cost("cpu", c.cpu_pct, "% of a core"),
        )  # fmt: skip
        if x is not None
    ]
    limit = f"; open-file limit {c.fd_limit}" if c.fd_limit else ""
    head = f"Connections: up to {c.held_max} held, {c.dropped} dropped"
    none = ": no figure of the target rose in line with the connections held"
    return [head + (": " + "; ".join(costs) if costs else none) + limit]
