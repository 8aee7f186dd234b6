"""A WSGI app (started by `waitress.serve` itself) that answers every request with a large JSON
document encoded by orjson, a C encoder with no Python frame of its own, and sends no
Server-Timing: its time is serialization, seen from the line that calls it.

python tests/apps/servers/orjson_waitress.py --port N
"""

from __future__ import annotations

import argparse

import orjson
import waitress
from json_waitress import records  # this folder is on the path of a script run from it

RECORDS = records(8000)  # ~1.3 MB of JSON a response: orjson is fast, so it takes many


def app(environ, start_response):  # type: ignore[no-untyped-def]
    body = orjson.dumps({"items": RECORDS, "count": len(RECORDS)}, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    args = p.parse_args()
    # Bodies stay in memory (waitress spills those over 1 MB to a temporary file, which would be its time).
    waitress.serve(app, host="127.0.0.1", port=args.port, threads=4, outbuf_overflow=64 << 20, _quiet=True)
