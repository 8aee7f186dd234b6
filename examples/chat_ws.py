"""chat_ws: a WebSocket chat room that keeps each player's state in this process.

Behaviour: `ws://127.0.0.1:PORT/ws` accepts a connection, keeps `--session-kb` (default 32) of
state for it, echoes each text frame back, and every `--push-every` seconds (default 0: never)
pushes a tick to every connection (a broadcast). Plain `GET /predict` answers too (a health page).

Physics / why it matters: an instance's capacity is the connections it holds, not requests a
second: each one costs its session state and a socket for as long as it is held, idle or not.
The fleet is sized in connections, balanced by connections, autoscaled on connections.

Expected profiler traits: long-lived-connections, memory-per-connection (about the session's KiB
and the socket's own per connection).

    profiler run 'ws://127.0.0.1:{port}/ws' --launch 'python examples/chat_ws.py --port {port}' \\
        --connections 100,1000 --message hello --peak-connections 50000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

import uvicorn
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

api = FastAPI(title="chat_ws")
ROOM: set[WebSocket] = set()
SETTINGS = {"session_kb": 32, "push_every": 0.0}


@api.websocket("/ws")
async def chat(ws: WebSocket) -> None:
    await ws.accept()
    state = b"\x01" * (int(SETTINGS["session_kb"]) * 1024)  # written, so its pages are resident
    ROOM.add(ws)
    try:
        while True:
            await ws.send_text(await ws.receive_text())
    except WebSocketDisconnect:
        pass
    finally:
        ROOM.discard(ws)
        del state


@api.get("/predict")
async def health() -> dict[str, int]:
    return {"connections": len(ROOM)}


async def pusher(every: float) -> None:
    while True:
        await asyncio.sleep(every)
        for ws in list(ROOM):
            with contextlib.suppress(Exception):  # a connection that went meanwhile
                await ws.send_text("tick")


@api.on_event("startup")
async def start_pusher() -> None:
    if SETTINGS["push_every"] > 0:
        asyncio.get_running_loop().create_task(pusher(float(SETTINGS["push_every"])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--session-kb", type=int, default=32)
    parser.add_argument("--push-every", type=float, default=0.0)
    args = parser.parse_args()
    SETTINGS.update(session_kb=args.session_kb, push_every=args.push_every)
    uvicorn.run(api, host="127.0.0.1", port=args.port, log_level="warning", ws="websockets", backlog=4096)


if __name__ == "__main__":
    main()
