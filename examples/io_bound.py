"""io_bound: every request awaits 50 ms of (simulated) I/O and does no work.

Behaviour: latency stays ~50 ms as users are added and throughput grows
about linearly with them (users / 0.05 s: 10 users ~ 200 rps), with the
server CPU low, until the event loop's own per-request overhead (parsing,
routing, JSON) finally saturates a core at several hundred rps.

Physics: `await asyncio.sleep` hands the event loop back while waiting, so
one process overlaps any number of waits; the only serial cost is the
framework's few hundred microseconds of Python per request.

Expected profiler trait: io-bound.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import uvicorn
from fastapi import FastAPI

from profiler.handoff import ServerTimingMiddleware, handoff

api = FastAPI(title="io_bound")


@api.api_route("/predict", methods=["GET", "POST"])
async def predict() -> dict[str, str]:
    with handoff("upstream", desc="awaited I/O"):
        await asyncio.sleep(0.05)
    return {"status": "ok"}


app = ServerTimingMiddleware(api)


def main() -> None:
    parser = argparse.ArgumentParser(description="io_bound example app")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", workers=1)


if __name__ == "__main__":
    main()
