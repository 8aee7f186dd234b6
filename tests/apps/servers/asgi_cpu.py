"""A bare ASGI app for `uvicorn --workers N`: /predict burns ~4 ms of pure-Python CPU on the loop;
other paths answer 404 at once. No framework, so the CPU is the handler's."""

from __future__ import annotations

from typing import Any

ITERATIONS = 70_000


def burn(iterations: int) -> int:
    acc = 0
    for i in range(iterations):
        acc += i * i
    return acc


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/predict":
        body = str(burn(ITERATIONS)).encode()
        status = 200
    else:
        body, status = b"", 404
    await send(
        {"type": "http.response.start", "status": status, "headers": [(b"content-length", str(len(body)).encode())]}
    )
    await send({"type": "http.response.body", "body": body})
