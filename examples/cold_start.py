"""cold_start: the first 30 requests after start are slow, then it is fast.

Behaviour: request 1 takes ~1 s (lazy model load) and every request arriving
meanwhile waits behind it; requests 2-30 take ~200 ms each (warm-up: caches,
JIT, connection pools filling); from request 31 on, ~5 ms.  A profile's first
seconds show a latency spike that never comes back.

Physics / why it matters: work deferred to "first use" is paid by real users
at every process start: on each deploy, each autoscaling step and each
scale-from-zero (serverless).  Doing it at startup and gating readiness on
it, or keeping a warm minimum of instances, hides it.

Expected profiler trait: cold-start.
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

LOAD_S = 1.0  # the one-off "model load"
WARMUP_REQUESTS = 30  # requests 2..30 pay the warm-up cost
WARMUP_S = 0.2
STEADY_S = 0.005

load_lock = asyncio.Lock()  # concurrent first requests all wait for one load
model_loaded = False
served = 0

api = FastAPI(title="cold_start")


@api.api_route("/predict", methods=["GET", "POST"])
async def predict() -> dict[str, int]:
    global model_loaded, served
    served += 1  # arrival order; no await before it, so no race on the loop
    n = served
    if not model_loaded:
        with handoff("load_model"):
            async with load_lock:
                if not model_loaded:
                    await asyncio.sleep(LOAD_S)
                    model_loaded = True
    if 1 < n <= WARMUP_REQUESTS:
        with handoff("warmup"):
            await asyncio.sleep(WARMUP_S)
    with handoff("infer"):
        await asyncio.sleep(STEADY_S)
    return {"request": n}


app = ServerTimingMiddleware(api)


def main() -> None:
    parser = argparse.ArgumentParser(description="cold_start example app")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", workers=1)


if __name__ == "__main__":
    main()
