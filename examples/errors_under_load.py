"""errors_under_load: sheds load with 503 once more than 6 requests are in flight.

Behaviour: up to 6 concurrent users everything is a 200 in ~40 ms
(6 / 0.04 s = 150 rps at most).  Beyond that, the excess requests get an
immediate 503 Service Unavailable: the error rate climbs with users while
the 200s' throughput stays flat and their latency stays ~40 ms.  The fast 503s
make raw "requests per second" look great; only successful throughput counts.

Physics / why it matters: the in-flight limit stands in for a bounded worker
pool or queue (or an upstream with a quota) that refuses instead of queueing.
That protects latency but means capacity is hard-capped: past it users see
errors, so the scaling decision must be driven by the error rate.

Expected profiler trait: errors-under-load.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from profiler.handoff import ServerTimingMiddleware, handoff

MAX_IN_FLIGHT = 6
WORK_S = 0.04
in_flight = 0  # only touched on the event loop thread: no lock needed

api = FastAPI(title="errors_under_load")


@api.api_route("/predict", methods=["GET", "POST"])
async def predict() -> JSONResponse:
    global in_flight
    in_flight += 1
    try:
        if in_flight > MAX_IN_FLIGHT:
            return JSONResponse({"error": "overloaded"}, status_code=503, headers={"Retry-After": "1"})
        with handoff("work"):
            await asyncio.sleep(WORK_S)
        return JSONResponse({"status": "ok"})
    finally:
        in_flight -= 1


app = ServerTimingMiddleware(api)


def main() -> None:
    parser = argparse.ArgumentParser(description="errors_under_load example app")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", workers=1)


if __name__ == "__main__":
    main()
