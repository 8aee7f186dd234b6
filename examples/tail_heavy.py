"""tail_heavy: 3% of requests take 250 ms, the rest 5 ms.

Behaviour: the median stays ~5 ms but p99 is ~250 ms (p95 sits just below
the slow fraction, so it is still fast): a fat tail with a healthy middle.
Throughput scales with users and CPU is low, since all waits are awaited.

Physics / why it matters: a rare slow path (cache miss, GC pause, a cold
shard, a retry) barely moves the mean but dominates what users feel: a page
that makes 20 such calls hits the slow one 1 - 0.97^20 = 46% of the time.
Hedged requests, timeouts with retries, or fixing the slow path help; more
replicas do not.

The draw uses a seeded random.Random, so runs are reproducible.

Expected profiler trait: tail-heavy.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import uvicorn
from fastapi import FastAPI

from profiler.handoff import ServerTimingMiddleware, handoff

SLOW_FRACTION = 0.03
SLOW_S = 0.25
FAST_S = 0.005
rng = random.Random(1234)

api = FastAPI(title="tail_heavy")


@api.api_route("/predict", methods=["GET", "POST"])
async def predict() -> dict[str, bool]:
    slow = rng.random() < SLOW_FRACTION
    with handoff("slow_path" if slow else "fast_path"):
        await asyncio.sleep(SLOW_S if slow else FAST_S)
    return {"slow": slow}


app = ServerTimingMiddleware(api)


def main() -> None:
    parser = argparse.ArgumentParser(description="tail_heavy example app")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", workers=1)


if __name__ == "__main__":
    main()
