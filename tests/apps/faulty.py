"""A hostile target: a raw threaded HTTP/1.1 server that misbehaves on purpose.

python tests/apps/faulty.py --port N --mode MODE [--every K]

Modes (applied to every K-th request, default every one; other requests answer 200 "ok"):
  cut         send the headers and part of the body, then close the connection
  timing      a Server-Timing header of 10,000 entries (~200 KB)
  error       answer 500
  print       answer 200 and print 100 KB to stdout per request (a chatty target)
  slow        answer after 50 ms
  ok          always 200
"""

from __future__ import annotations

import argparse
import socketserver
import sys
import time

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"
CUT = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nContent-Type: text/plain\r\n\r\n" + b"x" * 100
ERROR = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\nboom"
TIMING = ", ".join(f"step{i};dur={i % 7}.5" for i in range(10_000)).encode()
TIMING_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nServer-Timing: " + TIMING + b"\r\n\r\nok"
NOISE = ("x" * 1023 + "\n") * 100


class Handler(socketserver.StreamRequestHandler):
    mode = "ok"
    every = 1
    count = 0

    def handle(self) -> None:
        while True:
            line = self.rfile.readline(65537)
            if not line:
                return
            length = 0
            while True:  # the rest of the request head
                header = self.rfile.readline(65537)
                if header in (b"\r\n", b"\n", b""):
                    break
                if header.lower().startswith(b"content-length:"):
                    length = int(header.split(b":", 1)[1])
            if length:
                self.rfile.read(length)
            Handler.count += 1
            faulty = Handler.count % Handler.every == 0
            mode = Handler.mode if faulty else "ok"
            if mode == "cut":
                self.wfile.write(CUT)
                self.wfile.flush()
                return  # closing the connection mid-body
            if mode == "slow":
                time.sleep(0.05)
            if mode == "print":
                sys.stdout.write(NOISE)
                sys.stdout.flush()
            self.wfile.write({"timing": TIMING_RESPONSE, "error": ERROR}.get(mode, OK))
            self.wfile.flush()


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode", default="ok")
    parser.add_argument("--every", type=int, default=1)
    args = parser.parse_args()
    Handler.mode, Handler.every = args.mode, args.every
    with Server(("127.0.0.1", args.port), Handler) as server:
        server.serve_forever()


if __name__ == "__main__":
    main()
