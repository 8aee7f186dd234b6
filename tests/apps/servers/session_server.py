"""A single-process server (the standard library's ThreadingHTTPServer) that keeps its users'
sessions in memory, as many pilots do:

- POST /login sets a `sid` cookie and answers {"access_token": sid};
- GET /cart answers 200 after 20 ms for a known session, else 401 (a session the process forgot);
- GET /predict sleeps 300 ms (so a SIGTERM finds requests in flight);
- anything else (the profiler's probe) is a 404.

It has no SIGTERM handler, so SIGTERM ends it at once: what it had in flight fails, its sessions
are gone. With `--once FILE` it starts only while FILE does not exist (and creates it): started a
second time it exits 3, a target that does not come back after a restart.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SESSIONS: set[str] = set()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        if self.path != "/login":
            self._send(404, b"{}")
            return
        sid = secrets.token_hex(8)
        SESSIONS.add(sid)
        self._send(200, json.dumps({"access_token": sid}).encode(), {"Set-Cookie": f"sid={sid}; Path=/"})

    def do_GET(self) -> None:
        if self.path == "/cart":
            cookie = self.headers.get("Cookie") or ""
            sid = next((p.split("=", 1)[1] for p in cookie.split("; ") if p.startswith("sid=")), "")
            if sid not in SESSIONS:
                self._send(401, b'{"error":"unknown session"}')
                return
            time.sleep(0.02)
            self._send(200, b'{"items":[]}')
        elif self.path == "/predict":
            time.sleep(0.3)
            self._send(200, b'{"ok":true}')
        else:
            self._send(404, b"{}")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--once", type=Path, default=None)
    args = p.parse_args()
    if args.once is not None:
        if args.once.exists():
            print("started a second time: refusing (--once)", flush=True)
            sys.exit(3)
        args.once.write_text("started\n")
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print(f"serving on {args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
