"""memory_leak: every request keeps ~20 KB alive forever (20 ms awaited work).

Behaviour: resident memory grows linearly with the number of requests served
(~20 KB each: 10,000 requests ~ 200 MB) and never comes back down, while
latency, throughput and CPU look healthy.  In production this ends in an OOM
kill and a restart, i.e. a periodic latency cliff.

Physics: a module-level list (a cache without eviction, a growing history, a
listener never removed) holds a reference to each buffer, so the garbage
collector can never free it.  The buffer is filled with a non-zero byte so
its pages are really touched: a zeroed allocation can be lazily mapped and
would not show up in RSS.

Safety: leaking stops at --max-leak-mb (default 2048 MB) so a long run cannot
take the machine down; past the cap the memory curve goes flat.

Expected profiler trait: memory-growth.
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

CHUNK_BYTES = 20_000
max_leak_bytes = 2048 * 1024 * 1024
leaked: list[bytearray] = []  # the leak: nothing ever removes entries

api = FastAPI(title="memory_leak")


@api.api_route("/predict", methods=["GET", "POST"])
async def predict() -> dict[str, int]:
    with handoff("remember"):
        if len(leaked) * CHUNK_BYTES < max_leak_bytes:
            leaked.append(bytearray(b"\x5a") * CHUNK_BYTES)
    with handoff("work"):
        await asyncio.sleep(0.02)
    return {"leaked_mb": len(leaked) * CHUNK_BYTES // 1_000_000}


app = ServerTimingMiddleware(api)


def main() -> None:
    global max_leak_bytes
    parser = argparse.ArgumentParser(description="memory_leak example app")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--max-leak-mb", type=int, default=2048)
    args = parser.parse_args()
    max_leak_bytes = args.max_leak_mb * 1024 * 1024
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", workers=1)


if __name__ == "__main__":
    main()
