"""A WSGI app that starts its own server (`waitress.serve`, not a command the profiler knows) and
sends no Server-Timing: every request is a full scan of a 300,000-row SQLite table in one function,
which sqlite3 runs in C with the GIL let go. The stacks show only the Python line that calls
`execute`; the profiler must still say storage, name `scan_items`, and see it on a CPU.

python tests/apps/servers/sqlite_waitress.py --port N
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import threading

import waitress

ROWS = 300_000
_local = threading.local()


def build(path: str, rows: int = ROWS) -> None:
    """The table of `rows` items, with no index on `note` (tests/apps/servers/timed_waitress.py too)."""
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, note TEXT, price REAL)")
    db.executemany(
        "INSERT INTO items (note, price) VALUES (?, ?)", ((f"item {i} {i % 97}", i * 0.01) for i in range(rows))
    )
    db.commit()
    db.close()


def connection(path: str) -> sqlite3.Connection:
    """This thread's connection to the table (waitress serves from several threads)."""
    db = getattr(_local, "db", None)
    if db is None:
        db = _local.db = sqlite3.connect(path, check_same_thread=False)
    return db


def scan_items(path: str) -> tuple[int, float]:
    db = connection(path)
    # No index on note: a full scan of every row, in C.
    ((n, total),) = db.execute(
        "SELECT count(*), coalesce(sum(price), 0) FROM items WHERE note LIKE ?", ("%7 42%",)
    ).fetchall()
    return int(n), float(total)


def make_app(path: str):  # type: ignore[no-untyped-def]
    def app(environ, start_response):  # type: ignore[no-untyped-def]
        n, total = scan_items(path)
        body = f'{{"matches": {n}, "total": {total:.2f}}}'.encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    return app


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    args = p.parse_args()
    folder = tempfile.mkdtemp(prefix="sqlite-app-")
    path = os.path.join(folder, "items.db")
    build(path)
    waitress.serve(make_app(path), host="127.0.0.1", port=args.port, threads=4, _quiet=True)
