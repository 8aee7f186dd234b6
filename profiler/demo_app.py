"""Pilot "AI app" for `profiler demo`: features -> model -> serialize.

Run it alone with ``python -m profiler.demo_app --port 8000`` and profile
``http://127.0.0.1:8000/predict`` (GET or POST; the body is ignored).

Each request makes three handoffs, reported in the Server-Timing header:

- ``features``: an awaited ~4 ms feature-store fetch (overlaps across users);
- ``model``: ~3 ms of pure-Python "inference" (a tiny two-layer MLP) run
  directly in the ``async def`` handler, i.e. on the event loop;
- ``serialize``: ``json.dumps`` of the 256 output scores.

Behaviour (measured on the 2-core dev box): at light load a request takes
~7.5 ms in the app (features ~4.1 ms, model ~3.0 ms, serialize ~0.1 ms).  The
model step is the only serial phase, so it sets capacity: throughput tops out
near 1000 / 3.x ms (~270 rps) with the process at ~95% of a core, and the
awaited feature fetch starts to look slower too, because its wake-up has to
wait for the busy loop.  A realistic mix: CPU-bound at the core, with some
I/O overlap and a per-phase breakdown to read.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random

import uvicorn
from fastapi import FastAPI, Response

from profiler.handoff import ServerTimingMiddleware, handoff

# Layer sizes calibrated on the 2-core dev box (CPython 3.11): ~110k
# multiply-adds of pure Python ~ 3 ms.
N_FEATURES = 128
N_HIDDEN = 720  # ~7 ms of pure-Python "inference": the model step dominates, as in most pilots
N_OUTPUT = 256

_rng = random.Random(7)  # fixed weights: identical work on every run
W1 = [[_rng.uniform(-0.1, 0.1) for _ in range(N_FEATURES)] for _ in range(N_HIDDEN)]
W2 = [[_rng.uniform(-0.1, 0.1) for _ in range(N_HIDDEN)] for _ in range(N_OUTPUT)]


async def fetch_features(request_id: int) -> list[float]:
    await asyncio.sleep(0.004)  # stands in for a feature-store round trip
    seeded = random.Random(request_id)
    return [seeded.random() for _ in range(N_FEATURES)]


def infer(features: list[float]) -> list[float]:
    hidden = [max(0.0, sum(w * x for w, x in zip(row, features, strict=True))) for row in W1]
    return [sum(w * h for w, h in zip(row, hidden, strict=True)) for row in W2]


api = FastAPI(title="profiler demo app")
_requests = 0


@api.api_route("/predict", methods=["GET", "POST"])
async def predict() -> Response:
    global _requests
    _requests += 1
    with handoff("features", desc="feature store"):
        features = await fetch_features(_requests)
    with handoff("model", desc="infer on the loop"):
        scores = infer(features)  # CPU work that blocks the loop: the point
    with handoff("serialize"):
        body = json.dumps({"request": _requests, "scores": scores})
    return Response(body, media_type="application/json")


app = ServerTimingMiddleware(api)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="profiler demo app")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", workers=1)


if __name__ == "__main__":
    main()
