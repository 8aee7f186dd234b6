"""A WSGI app (started by `waitress.serve` itself) that answers every request with a large JSON
document encoded by the standard library, and sends no Server-Timing: its time is serialization.

python tests/apps/servers/json_waitress.py --port N
"""

from __future__ import annotations

import argparse
import json

import waitress


def records(n: int) -> list[dict]:
    """`n` records of nested fields (tests/apps/servers/orjson_waitress.py too)."""
    return [
        {"id": i, "name": f"product {i}", "tags": [f"t{i % 7}", f"t{i % 11}", "sale"], "price": i * 1.25,
         "stock": {"warehouse": i % 5, "count": i * 3, "reserved": i % 9}, "active": i % 2 == 0}
        for i in range(n)
    ]  # fmt: skip


RECORDS = records(2000)  # ~300 KB of JSON a response


def app(environ, start_response):  # type: ignore[no-untyped-def]
    body = json.dumps({"items": RECORDS, "count": len(RECORDS)}, indent=1, sort_keys=True).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    args = p.parse_args()
    waitress.serve(app, host="127.0.0.1", port=args.port, threads=4, _quiet=True)
