"""sessions: per-client state lives in this process, keyed by a cookie.

Behaviour: the first response to a client sets a `session` cookie (a uuid);
later requests carrying it are counted against that client's in-memory state
(`visits`).  Each request awaits ~5 ms.  Load-wise it looks healthy; the
point is the `Set-Cookie` on first contact followed by cookie-bearing
requests.

Physics / why it matters: the state is in one process's memory, so a second
replica (or a restart) would not know the session.  Scaling out needs sticky
sessions or an external store (Redis, a database) first; serverless hosting,
which recycles instances freely, loses it outright.

Expected profiler trait: stateful-sessions.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import uvicorn
from fastapi import FastAPI, Request, Response

from profiler.handoff import ServerTimingMiddleware, handoff

sessions: dict[str, dict[str, int]] = {}  # in-process state: the trait

api = FastAPI(title="sessions")


@api.api_route("/predict", methods=["GET", "POST"])
async def predict(request: Request, response: Response) -> dict[str, int]:
    with handoff("session"):
        sid = request.cookies.get("session")
        if not sid:
            sid = uuid.uuid4().hex
            response.set_cookie("session", sid, httponly=True, samesite="lax")
        # An unknown cookie (e.g. after a restart) silently starts a new state:
        # exactly the data loss a second replica would cause.
        state = sessions.setdefault(sid, {"visits": 0})
        state["visits"] += 1
    with handoff("work"):
        await asyncio.sleep(0.005)
    return {"visits": state["visits"], "sessions": len(sessions)}


app = ServerTimingMiddleware(api)


def main() -> None:
    parser = argparse.ArgumentParser(description="sessions example app")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", workers=1)


if __name__ == "__main__":
    main()
