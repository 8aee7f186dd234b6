"""A bare ASGI app for uvicorn: /predict waits 50 ms (an awaited call, the loop free meanwhile);
other paths answer 404 at once. Behind `uvicorn --limit-concurrency N` it sheds what is past N."""

from __future__ import annotations

import asyncio
from typing import Any


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    found = scope["path"] == "/predict"
    if found:
        await asyncio.sleep(0.05)
    await send({"type": "http.response.start", "status": 200 if found else 404,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"2" if found else b"0")]})  # fmt: skip
    await send({"type": "http.response.body", "body": b"ok" if found else b""})
