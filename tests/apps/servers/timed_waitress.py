"""A WSGI app (started by `waitress.serve` itself) whose every request is a query (an SQLite scan,
in C) then the encoding of its rows (the standard library's JSON), and which reports both in
`Server-Timing` (`db`, `encode`): the app's own account, to hold the stacks' account against.

python tests/apps/servers/timed_waitress.py --port N
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import waitress
from sqlite_waitress import build, connection  # this folder is on the path of a script run from it

ROWS = 200_000


def query(path: str) -> list[tuple[int, str, float]]:
    # No index on note: a full scan, then the first rows that match.
    return (
        connection(path)
        .execute("SELECT id, note, price FROM items WHERE note LIKE ? LIMIT 3000", ("%7 4%",))
        .fetchall()
    )


def encode(rows: list[tuple[int, str, float]]) -> bytes:
    return json.dumps({"items": [{"id": i, "note": n, "price": p, "tags": [n[:4]] * 4} for i, n, p in rows]},
                      indent=2, sort_keys=True).encode()  # fmt: skip


def make_app(path: str):  # type: ignore[no-untyped-def]
    def app(environ, start_response):  # type: ignore[no-untyped-def]
        t0 = time.perf_counter()
        rows = query(path)
        t1 = time.perf_counter()
        body = encode(rows)
        t2 = time.perf_counter()
        timing = f"db;dur={(t1 - t0) * 1000:.2f}, encode;dur={(t2 - t1) * 1000:.2f}"
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                                  ("Server-Timing", timing)])  # fmt: skip
        return [body]

    return app


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    args = p.parse_args()
    folder = tempfile.mkdtemp(prefix="timed-app-")
    path = os.path.join(folder, "items.db")
    build(path, ROWS)
    waitress.serve(make_app(path), host="127.0.0.1", port=args.port, threads=4, _quiet=True)
