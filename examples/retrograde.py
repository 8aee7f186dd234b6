"""retrograde: per-request CPU cost grows with the number of requests in flight.

Behaviour: throughput rises with the first few users, peaks (~4 concurrent
requests on the 2-core dev box), then *falls* as users are added: at N
requests in flight each one costs N ms of CPU, so the server does ~1000/N
useful requests per second while sitting at 100% of a core.  Latency grows
faster than linearly with users.

Physics: this is the coherency term (kappa) of Gunther's Universal
Scalability Law: work that every in-flight request must do for every other
one (lock convoys, cache-line or cache invalidation, all-to-all
coordination, a shared structure scanned per request).  Each request first
waits ~10 ms on simulated I/O (time.sleep in the thread pool, releasing the
GIL), which is what lets a few requests overlap and the curve rise before it
falls.  Past the peak, adding load (or replicas sharing the contended
resource) makes things worse; admission control at the peak helps.

Expected profiler trait: retrograde-scaling.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import uvicorn
from fastapi import FastAPI

from profiler.handoff import ServerTimingMiddleware, handoff

# ~1 ms of the loop below on the 2-core dev box (CPython 3.11, ~17.5k it/ms).
ITERATIONS_PER_PEER = 17_500
IO_S = 0.01

_lock = threading.Lock()  # handlers run in the thread pool: guard the counter
in_flight = 0

api = FastAPI(title="retrograde")


def burn(iterations: int) -> int:
    acc = 0
    for i in range(iterations):
        acc = (acc * 31 + i) & 0xFFFFFFFF
    return acc


@api.api_route("/predict", methods=["GET", "POST"])
def predict() -> dict[str, int]:
    global in_flight
    with _lock:
        in_flight += 1
    try:
        with handoff("io"):
            time.sleep(IO_S)
        with _lock:
            peers = in_flight  # cost is set by the crowd present right now
        with handoff("coherency", desc="1 ms x in-flight"):
            burn(ITERATIONS_PER_PEER * peers)
        return {"in_flight": peers}
    finally:
        with _lock:
            in_flight -= 1


app = ServerTimingMiddleware(api)


def main() -> None:
    parser = argparse.ArgumentParser(description="retrograde example app")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", workers=1)


if __name__ == "__main__":
    main()
