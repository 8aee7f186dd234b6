"""Test target in the style of Locust's own suite: /fast, /slow, /fail, /timing, /stream.

python tests/apps/basic_app.py --port N [--exit-at-start] [--die-after K] [--workers W]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

import uvicorn
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse, Response, StreamingResponse

app = FastAPI()
served = 0
DIE_AFTER = int(os.environ.get("BASIC_APP_DIE_AFTER", "0"))


@app.middleware("http")
async def count(request, call_next):  # type: ignore[no-untyped-def]
    global served
    served += 1
    if DIE_AFTER and served >= DIE_AFTER:
        os._exit(7)  # simulate a crash mid-run
    return await call_next(request)


@app.get("/fast")
async def fast() -> PlainTextResponse:
    return PlainTextResponse("ok")


@app.get("/slow")
async def slow() -> PlainTextResponse:
    await asyncio.sleep(0.05)
    return PlainTextResponse("slow")


@app.get("/fail")
async def fail() -> PlainTextResponse:
    return PlainTextResponse("boom", status_code=500)


@app.api_route("/timing", methods=["GET", "POST"])
async def timing() -> Response:
    await asyncio.sleep(0.01)
    return Response(
        "{}",
        media_type="application/json",
        headers={"Server-Timing": 'features;dur=2.0, model;dur=7.5;desc="infer", bogus;dur=abc, total;dur=9.8'},
    )


@app.get("/stream")
async def stream() -> StreamingResponse:
    async def gen():  # type: ignore[no-untyped-def]
        for i in range(5):
            yield f"data: {i}\n\n"
            await asyncio.sleep(0.02)

    return StreamingResponse(gen(), media_type="text/event-stream")


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--exit-at-start", action="store_true")
    p.add_argument("--workers", type=int, default=1)
    args = p.parse_args()
    if args.exit_at_start:
        print("fatal: model weights not found at /nonexistent/model.bin", file=sys.stderr)
        sys.exit(3)
    if args.workers > 1:
        uvicorn.run(
            "basic_app:app",
            host="127.0.0.1",
            port=args.port,
            log_level="warning",
            workers=args.workers,
            app_dir=os.path.dirname(os.path.abspath(__file__)),
        )
    else:
        uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")
