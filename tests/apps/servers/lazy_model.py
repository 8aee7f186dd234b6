"""A model server that loads its model lazily, on the first /predict (2 s), then answers in ~3 ms.
Other paths (the profiler's probe) answer at once and never load the model."""

from __future__ import annotations

import asyncio
import time
from typing import Any

MODEL: dict[str, float] = {}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    status, body = 404, b""
    if scope["path"] == "/predict":
        if not MODEL:
            time.sleep(2.0)  # loading weights: blocks, as a real first load does
            MODEL["loaded"] = time.time()
        await asyncio.sleep(0.003)
        status, body = 200, b"ok"
    await send(
        {"type": "http.response.start", "status": status, "headers": [(b"content-length", str(len(body)).encode())]}
    )
    await send({"type": "http.response.body", "body": body})
