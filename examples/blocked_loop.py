"""blocked_loop: an `async def` handler makes a blocking 20 ms call.

Behaviour: throughput plateaus at ~1 / 0.02 s = 50 rps no matter how many
users, latency grows linearly with users, yet the server CPU is low (it is
sleeping, not computing).  A cheap probe request to any other path waits just
as long as /predict, because it queues behind the same blocked loop.

Physics: `time.sleep` (like a sync DB driver or `requests.get`) does not
yield, so the single event-loop thread is stuck for 20 ms and serves nothing
else; requests are served strictly one at a time.  The fix is to `await` an
async API, or to declare the handler `def` so it runs in the thread pool.

Expected profiler trait: event-loop-blocked.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import uvicorn
from fastapi import FastAPI

from profiler.handoff import ServerTimingMiddleware, handoff

api = FastAPI(title="blocked_loop")


@api.api_route("/predict", methods=["GET", "POST"])
async def predict() -> dict[str, str]:
    with handoff("blocking_call", desc="time.sleep on the loop"):
        time.sleep(0.02)  # noqa: ASYNC251 -- the bug this example demonstrates
    return {"status": "ok"}


app = ServerTimingMiddleware(api)


def main() -> None:
    parser = argparse.ArgumentParser(description="blocked_loop example app")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", workers=1)


if __name__ == "__main__":
    main()
