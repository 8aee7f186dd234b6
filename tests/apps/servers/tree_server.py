"""A model server as a process tree: an HTTP front process (stdlib, threaded) that hands each
request to an inference worker process over a pipe; the worker burns ~35 ms of CPU per request (so it, not the pipe, sets the pace).
multiprocessing's spawn context also starts its resource_tracker helper, which serves nothing.

    python tree_server.py --port 8000
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection

ITERATIONS = 500_000


def infer(iterations: int) -> int:
    acc = 0
    for i in range(iterations):
        acc += i * i
    return acc


def inference_worker(conn: Connection) -> None:
    while True:
        n = conn.recv()
        conn.send(infer(n))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    ctx = mp.get_context("spawn")
    front, back = ctx.Pipe()
    ctx.Process(target=inference_worker, args=(back,), daemon=True).start()
    ctx.Lock()  # a named semaphore: spawn's resource_tracker starts to watch it
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go in two writes: without it, a 40 ms floor

        def do_GET(self) -> None:
            if self.path != "/predict":
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            with lock:  # one pipe, one request at a time: the worker is the serial stage
                front.send(ITERATIONS)
                body = str(front.recv()).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
