"""concurrency_capped: a pool of 2 slots guards a 50 ms awaited call.

Behaviour: throughput plateaus at 2 / 0.05 s = 40 rps, latency grows linearly
with users, the server CPU is idle, and a probe to any other path still
answers in about a millisecond (the event loop is free; only /predict queues).

Physics: the `asyncio.Semaphore(2)` stands in for a small connection pool, a
rate-limited upstream or a GPU with two slots: work waits for a slot, not for
CPU.  Raising the pool size (or the upstream's limit) raises the plateau;
more CPU or more workers sharing the same upstream limit would not.

Expected profiler trait: concurrency-capped.
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

POOL_SIZE = 2
# Since Python 3.10 asyncio primitives bind to the running loop lazily, so a
# module-level semaphore is safe to create before uvicorn starts its loop.
pool = asyncio.Semaphore(POOL_SIZE)

api = FastAPI(title="concurrency_capped")


@api.api_route("/predict", methods=["GET", "POST"])
async def predict() -> dict[str, str]:
    with handoff("pool_wait"):
        await pool.acquire()
    try:
        with handoff("upstream"):
            await asyncio.sleep(0.05)
    finally:
        pool.release()
    return {"status": "ok"}


app = ServerTimingMiddleware(api)


def main() -> None:
    parser = argparse.ArgumentParser(description="concurrency_capped example app")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", workers=1)


if __name__ == "__main__":
    main()
