"""streaming: /predict streams 10 server-sent events, 20 ms apart.

Behaviour: the first byte arrives at once (time to first byte ~1-3 ms) but
the response takes ~190 ms (9 gaps of 20 ms) to finish, like a token-by-token
LLM answer.  The waits are awaited, so many streams overlap: throughput grows
with users (about users / 0.19 s) with low CPU.

Physics / why it matters: each stream holds a connection open for its whole
duration, so capacity is counted in concurrent connections, not requests per
second; hosting needs long request timeouts, proxies that do not buffer
(`X-Accel-Buffering: no`), and platforms that allow streaming responses.
Latency must be read as two numbers: time to first byte and time to last.

Note: marks made inside the stream cannot reach the Server-Timing header,
which is sent before the first event; only `total` (to first byte) appears.

Expected profiler trait: streaming-responses.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import uvicorn
from fastapi import FastAPI
from fastapi.responses import StreamingResponse

from profiler.handoff import ServerTimingMiddleware

EVENTS = 10
GAP_S = 0.02

api = FastAPI(title="streaming")


async def events() -> AsyncIterator[str]:
    for i in range(EVENTS):
        if i:  # first event at once: time to first byte stays tiny
            await asyncio.sleep(GAP_S)
        last = "true" if i == EVENTS - 1 else "false"
        yield f'data: {{"index": {i}, "last": {last}}}\n\n'


@api.api_route("/predict", methods=["GET", "POST"])
async def predict() -> StreamingResponse:
    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


app = ServerTimingMiddleware(api)


def main() -> None:
    parser = argparse.ArgumentParser(description="streaming example app")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", workers=1)


if __name__ == "__main__":
    main()
