"""A bare WebSocket generator for benchmarks/ws_connections.py: the same library on the same engine
as `profiler run ws://...` (websocket-client on gevent, a sender and a reader greenlet a
connection), with nothing recorded: N connections opened at a connect rate, each sending `hello`
at one message a second and waiting for its echo, and a line of counts in a JSON-lines file twice a
second (t, held, answered), as connections.jsonl has them.

    python benchmarks/ws_bare.py ws://127.0.0.1:PORT/ N RATE SECONDS COUNTS.jsonl
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import json  # noqa: E402
import random  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import gevent  # noqa: E402
import gevent.event  # noqa: E402
import websocket  # noqa: E402

counts = {"held": 0, "answered": 0}


def connection(url: str, gap: float) -> None:
    ws = websocket.create_connection(url, timeout=30, enable_multithread=True, skip_utf8_validation=True)
    ws.settimeout(None)
    counts["held"] += 1
    answered = gevent.event.Event()

    def read() -> None:
        while True:
            code, _ = ws.recv_data_frame(control_frame=True)
            if code == websocket.ABNF.OPCODE_TEXT:
                counts["answered"] += 1
                answered.set()

    gevent.spawn(read)
    due = time.perf_counter() + random.uniform(0, gap)
    while True:  # as the profiler's users: a message every gap, never a catch-up burst
        gevent.sleep(max(0.0, due - time.perf_counter()))
        answered.clear()
        ws.send("hello")
        answered.wait(30)
        due = max(due + gap, time.perf_counter())


def main(argv: list[str]) -> None:
    url, n, rate, seconds, out = argv[0], int(argv[1]), float(argv[2]), float(argv[3]), argv[4]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    end = time.monotonic() + seconds
    with open(out, "a", encoding="utf-8") as fh:

        def tick() -> None:
            while True:
                fh.write(json.dumps({"t": time.time(), **counts}) + "\n")
                fh.flush()
                gevent.sleep(0.5)

        gevent.spawn(tick)
        greenlets: list[Any] = []
        for _ in range(n):
            greenlets.append(gevent.spawn(connection, url, 1.0))
            gevent.sleep(1.0 / rate)
        gevent.sleep(max(0.0, end - time.monotonic()))


if __name__ == "__main__":
    main(sys.argv[1:])
