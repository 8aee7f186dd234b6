"""A WSGI app (started by `waitress.serve` itself) whose every request reads a cart from a real
Redis, one key at a time (a round trip per item, the classic N+1), and sends no Server-Timing:
its time is storage, waiting on Redis.

python tests/apps/servers/redis_waitress.py --port N --redis-port M
"""

from __future__ import annotations

import argparse
import json

import redis
import waitress

ITEMS = 60  # keys read per request: one round trip each

store: redis.Redis | None = None


def load_cart(cart: int) -> list[str]:
    assert store is not None
    return [store.get(f"cart:{cart}:item:{i}") or "" for i in range(ITEMS)]


def app(environ, start_response):  # type: ignore[no-untyped-def]
    body = json.dumps({"items": load_cart(7)}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--redis-port", type=int, required=True)
    args = p.parse_args()
    store = redis.Redis(host="127.0.0.1", port=args.redis_port, decode_responses=True)
    store.mset({f"cart:7:item:{i}": f"sku-{i:05d}" for i in range(ITEMS)})
    waitress.serve(app, host="127.0.0.1", port=args.port, threads=4, _quiet=True)
