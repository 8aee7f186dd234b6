"""A server that writes each response's headers and body in two sends on a socket without
TCP_NODELAY: Nagle's algorithm holds the body until the client ACKs the headers, and the client
delays that ACK (~40 ms on Linux). Older uvicorn with --workers did this; any server can.

python tests/apps/servers/nagle_server.py --port N
"""

from __future__ import annotations

import argparse
import socket
import socketserver

BODY = b'{"ok": true}'


class Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        conn: socket.socket = self.request
        pending = b""
        while True:
            while b"\r\n\r\n" not in pending:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                pending += chunk
            _, _, pending = pending.partition(b"\r\n\r\n")  # requests without a body (GET)
            head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(BODY)}\r\n\r\n"
            conn.sendall(head.encode())
            conn.sendall(BODY)  # a second small write: held by Nagle until the headers are ACKed


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    with Server(("127.0.0.1", parser.parse_args().port), Handler) as server:
        server.serve_forever()
