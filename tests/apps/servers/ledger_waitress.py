"""A WSGI app (started by `waitress.serve` itself) that appends a 64 KB record to a file and syncs
it to disk on every request, answering with a few bytes: each request's cost is its disk write.

python tests/apps/servers/ledger_waitress.py --port N
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading

import waitress

RECORD = bytes(range(256)) * 256  # 64 KB
_lock = threading.Lock()


def make_app(path: str):  # type: ignore[no-untyped-def]
    def app(environ, start_response):  # type: ignore[no-untyped-def]
        with _lock, open(path, "ab") as ledger:
            ledger.write(RECORD)
            ledger.flush()
            os.fsync(ledger.fileno())  # on disk before the answer: the block layer counts it
        body = b'{"ok": true}'
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    return app


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="ledger-") as folder:
        waitress.serve(make_app(os.path.join(folder, "ledger.bin")), host="127.0.0.1", port=args.port, threads=4,
                       _quiet=True)  # fmt: skip
