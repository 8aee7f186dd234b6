"""cpu_bound: every request burns ~4 ms of pure-Python CPU in a sync handler.

Behaviour: throughput stops growing at roughly 1000 / 4 ms ~ 250 requests/s
minus framework overhead (~210-225 rps on the 2-core dev box), however many
users are added; past that point latency grows linearly with users while the
server process sits at ~100% of one core.  A probe to another path slows too
(tens of ms), since the event-loop thread must win the GIL from the workers;
the full core is what tells this apart from a blocked loop.

Physics: FastAPI runs a sync `def` handler in a thread pool, but the work is
Python bytecode, so every thread needs the GIL: the threads take turns on one
core.  More users only lengthen the queue for the GIL (Little's law: latency =
users / throughput).  Adding threads or async does not help; more *processes*
(workers) or faster code does.

Expected profiler trait: cpu-bound.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import uvicorn
from fastapi import FastAPI

from profiler.handoff import ServerTimingMiddleware, handoff

# Calibrated on the 2-core dev box (CPython 3.11, ~17.5k iterations/ms of the
# loop below): 70k iterations ~ 4 ms.  A fixed count (not a time budget)
# keeps the *work* per request constant however contended the GIL is.
ITERATIONS = 70_000


def burn(iterations: int) -> int:
    acc = 0
    for i in range(iterations):
        acc = (acc * 31 + i) & 0xFFFFFFFF
    return acc


api = FastAPI(title="cpu_bound")


@api.api_route("/predict", methods=["GET", "POST"])
def predict() -> dict[str, int]:
    with handoff("compute"):
        digest = burn(ITERATIONS)
    return {"digest": digest}


app = ServerTimingMiddleware(api)


def main() -> None:
    parser = argparse.ArgumentParser(description="cpu_bound example app")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", workers=1)


if __name__ == "__main__":
    main()
