"""A latency floor set by TCP, not by the app: Nagle's algorithm meeting delayed ACKs.

A server that writes a response's headers and its body in two writes, on a socket without
TCP_NODELAY, sends the headers at once and holds the body until the client acknowledges them;
the client delays that ACK by ~40 ms on Linux. Every request then takes the app's time plus
~40 ms, however light the load: the headers arrive early and a small body ~40 ms after. A server
known to do this: uvicorn with `--workers N`, whose listening socket asyncio does not mark TCP
(measured: one connection, 52 ms with two workers vs 9.5 ms with one; 4 ms once the client
acknowledges at once).
"""

from __future__ import annotations

from profiler.analysis.figures.signals import Signals, light_stage
from profiler.analysis.traits.common import closed
from profiler.analysis.traits.evidence import Finding, LatencyFloor, finding
from profiler.analysis.traits.thresholds import FLOOR_MAX_BYTES, FLOOR_MAX_MS, FLOOR_MIN_MS

DELAYED_ACK_MS = 40.0


def latency_floor(signals: Signals) -> Finding[LatencyFloor] | None:
    light = light_stage(closed(signals) or list(signals.measured))
    if light is None or light.requests < 10 or signals.responses == 0:
        return None
    streamed = max(signals.event_stream_responses, signals.chunked_responses) / signals.responses
    gap = light.p50 - light.ttfb_p50
    if streamed >= 0.5 or light.bytes_per_request > FLOOR_MAX_BYTES or not FLOOR_MIN_MS <= gap <= FLOOR_MAX_MS:
        return None
    # The nearer the wait to 40 ms and the larger its share of latency, the surer the signature.
    confidence = 0.5 + 0.25 * max(0.0, 1 - abs(gap - DELAYED_ACK_MS) / 20) + 0.2 * min(1.0, gap / light.p50)
    server = signals.server
    known = (
        f" {server.server} with {server.workers} workers is known to do this (its listening socket lacks TCP_NODELAY)."
        if server is not None and server.server == "uvicorn" and server.workers > 1
        else ""
    )
    summary = (
        f"At light load the headers arrived after {light.ttfb_p50:.1f} ms but the last byte of a "
        f"{light.bytes_per_request:.0f}-byte body only after {light.p50:.1f} ms: a fixed ~{gap:.0f} ms wait, the "
        "signature of Nagle's algorithm meeting delayed ACKs (headers and body written separately on a socket "
        f"without TCP_NODELAY). It is a floor under every request's latency, not the app's work.{known}"
    )
    return finding(
        LatencyFloor(
            ttfb_p50_ms=light.ttfb_p50,
            latency_p50_ms=light.p50,
            gap_ms=gap,
            bytes_per_request=light.bytes_per_request,
            users=light.users,
        ),
        confidence,
        summary,
    )
