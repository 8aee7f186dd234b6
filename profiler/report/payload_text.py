"""The bytes-and-caching table of a report (each route's `payload`): pure, no printing, like
terminal.py's tables (the terminal, the Markdown summary and the HTML report show it)."""

from __future__ import annotations

from profiler.report.text_table import TextTable, fmt
from profiler.schema.report import Report


def _kb(value: float | None) -> str:
    return "-" if value is None else (f"{value:.0f} B" if value < 1024 else f"{value / 1024:,.1f} KB")


def _pct(value: float | None) -> str:
    return fmt(value * 100 if value is not None else None, "{:.0f}")


def payload_table(report: Report) -> TextTable | None:
    """Per route: the bytes each way, how often an answer repeats, and what caches said of them."""
    routes = [r for r in report.routes if r.payload is not None and r.payload.responses]
    if not routes:
        io = io_line(report)
        return TextTable("Bytes and caching", ("figure",), ((io,),)) if io else None
    rows = []
    for r in routes:
        p = r.payload
        assert p is not None
        c = p.cache
        rows.append((r.route or "(the URL)", _kb(p.request_bytes_mean), _kb(p.response_bytes_mean),
                     _kb(float(p.response_bytes_max) if p.response_bytes_max is not None else None),
                     _pct(p.repeat_share), str(p.distinct_requests), _pct(p.cache_headers_share),
                     _pct(c.hit_ratio) if c else "-", fmt(c.hit_p50_ms if c else None, "{:.2f}"),
                     fmt(c.miss_p50_ms if c else None, "{:.2f}")))  # fmt: skip
    notes: tuple[str, ...] = (
        "repeat: answers the same as an earlier answer to the same request (method, URL, body): a cache's best hit",
        "cache hdrs: answers with Cache-Control, ETag, Last-Modified or Expires; hit: X-Cache-Status, "
        "CF-Cache-Status, X-Cache, Server-Timing cache;desc, Age > 0",
    )
    io = io_line(report)
    notes = (*notes, io) if io else notes
    cols = ("route", "request", "response", "largest", "repeat %", "distinct", "cache hdrs %", "hit %",
            "hit p50 ms", "miss p50 ms")  # fmt: skip
    return TextTable("Bytes and caching", cols, tuple(rows), notes)


def io_line(report: Report) -> str | None:
    """The target tree's I/O per answered request at the heaviest whole unprofiled stage, if sampled."""
    stages = [s for s in report.load.stages if s.completed and not s.profiled and s.io_write_per_request is not None]
    if not stages:
        return None
    s = max(stages, key=lambda s: (s.rps, s.index))
    return (f"I/O per request (stage {s.index}, /proc/PID/io): disk read {_kb(s.disk_read_per_request)}, disk write "
            f"{_kb(s.disk_write_per_request)}; read calls {_kb(s.io_read_per_request)}, write calls "
            f"{_kb(s.io_write_per_request)}")  # fmt: skip
