"""A WebSocket echo server with one thread per connection (`websockets.sync.server`, the library's
threading implementation): `python ws_threaded.py PORT`. Each connection holds a thread until it ends."""

import sys

from websockets.sync.server import serve

PORT = int(sys.argv[1])


def session(ws):
    for message in ws:
        ws.send(message)


if __name__ == "__main__":
    with serve(session, "127.0.0.1", PORT, ping_interval=None) as server:
        server.serve_forever()
