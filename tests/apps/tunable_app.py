"""A target whose speed and leak are set on the command line, for comparisons of one app made
slower or leakier: GET / awaits --delay-ms, and keeps --leak-kb of touched memory per request;
with --timing-every N, every Nth response reports that wait in Server-Timing (`wait;dur=MS`).

python tests/apps/tunable_app.py --port N [--delay-ms 20] [--leak-kb 0] [--timing-every 0]
"""

from __future__ import annotations

import argparse
import asyncio

import uvicorn
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

app = FastAPI()
DELAY_S = 0.02
LEAK_BYTES = 0
TIMING_EVERY = 0
served = 0
kept: list[bytearray] = []  # the leak: nothing removes entries (bounded by the test's short runs)


@app.get("/")
async def root() -> PlainTextResponse:
    await asyncio.sleep(DELAY_S)
    if LEAK_BYTES:
        kept.append(bytearray(b"x" * LEAK_BYTES))  # non-zero bytes: the pages are really touched
    global served
    served += 1
    if TIMING_EVERY and served % TIMING_EVERY == 0:
        return PlainTextResponse("ok", headers={"Server-Timing": f"wait;dur={DELAY_S * 1000.0:g}"})
    return PlainTextResponse("ok")


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--delay-ms", type=float, default=20.0)
    p.add_argument("--leak-kb", type=int, default=0)
    p.add_argument("--timing-every", type=int, default=0)
    args = p.parse_args()
    DELAY_S, LEAK_BYTES, TIMING_EVERY = args.delay_ms / 1000.0, args.leak_kb * 1024, args.timing_every
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")
