"""A WSGI app (started by `waitress.serve` itself) whose `/item?id=N` answer is the same every time
for the same N: a product page computed with a few ms of CPU, sent with no Cache-Control, ETag,
Last-Modified or Expires, and no Server-Timing. What a cache would serve, were one asked.

python tests/apps/servers/catalog_waitress.py --port N
"""

from __future__ import annotations

import argparse
import hashlib
import json
from urllib.parse import parse_qs

import waitress

WORK = 3000  # sha256 rounds per answer: ~3 ms of CPU, the app's "rendering"


def page(item: int) -> bytes:
    digest = str(item).encode()
    for _ in range(WORK):
        digest = hashlib.sha256(digest).digest()
    return json.dumps({"id": item, "name": f"product {item}", "price": item * 1.25, "sku": digest.hex()}).encode()


def app(environ, start_response):  # type: ignore[no-untyped-def]
    query = parse_qs(environ.get("QUERY_STRING", ""))
    body = page(int(query.get("id", ["0"])[0] or 0))
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    args = p.parse_args()
    waitress.serve(app, host="127.0.0.1", port=args.port, threads=4, _quiet=True)
