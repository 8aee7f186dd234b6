"""A server nobody here wrote the serving model of: the standard library's ThreadingHTTPServer (a
thread per request, no pool the profiler knows of) whose every request, the probe's included,
takes one global lock around 20 ms of waiting (a shared client, a non-thread-safe model).

Throughput plateaus at ~50 rps with the CPU idle and a free request waits like the others: the
signature of a blocked event loop, yet there is no event loop. The profiler cannot tell which
from outside, so it must say "one shared limit" without asyncio advice.

python tests/apps/servers/locked_threads.py --port N
"""

from __future__ import annotations

import argparse
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - the standard library's name
        with LOCK:
            time.sleep(0.02)
        body = b"ok" if self.path == "/predict" else b"not found"
        self.send_response(200 if self.path == "/predict" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet: no line per request
        pass


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    args = p.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.serve_forever()
