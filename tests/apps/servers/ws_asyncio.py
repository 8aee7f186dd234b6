"""A WebSocket echo server on the `websockets` library (asyncio): one event loop, one task per connection.

Each session keeps SESSION_KB of its own (a game's or a chat's per-player state), so the memory a
connection costs is known: `python ws_asyncio.py PORT [SESSION_KB] [PUSH_EVERY_S]`. With PUSH_EVERY_S
every connection gets a pushed frame that often (a broadcast). A message `close` makes the server
close that connection with 1011; `drop-all` closes every connection (1001).
"""

import asyncio
import sys

from websockets.asyncio.server import broadcast, serve

PORT = int(sys.argv[1])
SESSION_KB = int(sys.argv[2]) if len(sys.argv) > 2 else 0
PUSH_EVERY_S = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
CONNECTED: set = set()


async def session(ws):
    state = b"\x01" * (SESSION_KB * 1024)  # written, so its pages are resident
    CONNECTED.add(ws)
    try:
        async for message in ws:
            if message == "close":
                await ws.close(1011, "asked to")
            elif message == "drop-all":
                for other in list(CONNECTED):
                    await other.close(1001, "going away")
            else:
                await ws.send(message)
    finally:
        CONNECTED.discard(ws)
        del state


async def pusher():
    while True:
        await asyncio.sleep(PUSH_EVERY_S)
        broadcast(CONNECTED, "tick")


async def main():
    async with serve(session, "127.0.0.1", PORT, ping_interval=None, max_queue=16, backlog=4096):
        if PUSH_EVERY_S > 0:
            asyncio.get_running_loop().create_task(pusher())
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main())
