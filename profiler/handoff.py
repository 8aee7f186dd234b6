"""Report per-handoff timings from inside an app in the ``Server-Timing`` header.

The profiler only sees a request from the outside: one latency number.  An app
that marks its phases ("handoffs": feature fetch, model call, serialisation)
lets the profiler split that number and say *which* phase grows under load.
The standard carrier for that is the ``Server-Timing`` response header::

    Server-Timing: features;dur=4.213, model;dur=3.051, total;dur=7.498

Usage with FastAPI (or any ASGI app)::

    from fastapi import FastAPI
    from profiler.handoff import ServerTimingMiddleware, handoff

    api = FastAPI()

    @api.post("/predict")
    async def predict() -> dict[str, float]:
        with handoff("features"):
            feats = await fetch_features()
        with handoff("model", desc="infer"):
            score = model(feats)
        return {"score": score}

    app = ServerTimingMiddleware(api)  # serve `app`, e.g. uvicorn mod:app

For WSGI apps (Flask, Django, ...) wrap with ``ServerTimingWSGIMiddleware``.
``handoff`` is a silent no-op outside a wrapped request, so library code can
call it unconditionally.  This module has no dependencies beyond the stdlib.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar
from time import perf_counter
from typing import Any

from profiler.base.servertiming import TOKEN_CHARS

__all__ = [
    "ServerTimingMiddleware",
    "ServerTimingWSGIMiddleware",
    "format_server_timing",
    "handoff",
]

# name -> [total ms, desc].  The ContextVar holds a *mutable* dict rather than
# being re-set per mark: a sync FastAPI handler runs in a worker thread on a
# *copy* of the request's context, so a ContextVar.set() there would never be
# seen by the middleware, while mutations of the shared dict are.
_Marks = dict[str, list[Any]]
_current: ContextVar[_Marks | None] = ContextVar("profiler_server_timing", default=None)

# Server-Timing metric names must be RFC 7230 tokens; anything else would make
# the whole header unparsable, so replace offending characters instead.
_NOT_TOKEN = re.compile(f"[^{TOKEN_CHARS}]")
_NOT_PRINTABLE = re.compile(r"[^ -~]")


@contextmanager
def handoff(name: str, desc: str | None = None) -> Iterator[None]:
    """Time the block and record it under ``name`` for the current request.

    Repeated names within one request are summed (a phase called in a loop is
    still one phase).  Works in sync and async code alike; it only reads the
    clock, so it never yields to the event loop.
    """
    marks = _current.get()
    if marks is None:  # not inside a wrapped request: do nothing, cheaply
        yield
        return
    start = perf_counter()
    try:
        yield
    finally:  # a failing phase still took time, and that is worth seeing
        elapsed_ms = (perf_counter() - start) * 1000.0
        entry = marks.setdefault(name, [0.0, desc])
        entry[0] += elapsed_ms


def format_server_timing(
    marks: Iterable[tuple[str, float] | tuple[str, float, str | None]],
) -> str:
    """Format ``(name, ms[, desc])`` pairs as a ``Server-Timing`` header value."""
    parts = []
    for mark in marks:
        name = _NOT_TOKEN.sub("_", mark[0]) or "_"
        part = f"{name};dur={mark[1]:.3f}"
        desc = mark[2] if len(mark) > 2 else None
        if desc:
            # Header values must be printable ASCII: a stray newline or
            # non-latin-1 character would make the server reject the response.
            printable = _NOT_PRINTABLE.sub("?", desc)
            escaped = printable.replace("\\", "\\\\").replace('"', '\\"')
            part += f';desc="{escaped}"'
        parts.append(part)
    return ", ".join(parts)


def _header_value(marks: _Marks, started: float) -> str:
    # `total` is request-in to response-start: what the app itself spent before
    # the first byte, to compare with the latency the client observed.
    total_ms = (perf_counter() - started) * 1000.0
    # Snapshot with list(): a worker thread of this request (e.g. a background
    # task) may still be adding marks while the header is built.
    entries: list[tuple[str, float, str | None]] = [(name, dur, desc) for name, (dur, desc) in list(marks.items())]
    entries.append(("total", total_ms, None))
    return format_server_timing(entries)


# Minimal ASGI types, spelled out here so this module needs no starlette.
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class ServerTimingMiddleware:
    """Pure ASGI middleware: collect ``handoff`` marks per HTTP request.

    Wrap the outermost app so ``total`` covers everything, error pages included.
    Marks recorded after the response has started (e.g. inside a streaming
    body) cannot be reported: the header is already on the wire.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # websockets/lifespan have no response headers
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        marks: _Marks = {}

        async def send_with_timing(message: Message) -> None:
            if message["type"] == "http.response.start":
                value = _header_value(marks, started).encode("latin-1")
                # Copy instead of mutating: the app may reuse its message dict.
                headers = [*message.get("headers", []), (b"server-timing", value)]
                message = {**message, "headers": headers}
            await send(message)

        # The server runs each request in its own task, so this set() is only
        # visible to this request (and to threads it hands work to).
        token = _current.set(marks)
        try:
            await self.app(scope, receive, send_with_timing)
        finally:
            _current.reset(token)


# Minimal WSGI types (PEP 3333).
StartResponse = Callable[..., Callable[[bytes], object]]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class ServerTimingWSGIMiddleware:
    """WSGI middleware: collect ``handoff`` marks per request.

    Marks are collected while the app callable runs; for apps that return a
    generator, work done while the server iterates it happens after this
    returns and is not collected (it usually follows start_response anyway).
    """

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        started = perf_counter()
        marks: _Marks = {}

        def start_response_with_timing(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], object]:
            headers = [*headers, ("Server-Timing", _header_value(marks, started))]
            return start_response(status, headers, exc_info)

        # WSGI servers reuse threads across requests, so always reset: a mark
        # must never land in the next request served by this thread.
        token = _current.set(marks)
        try:
            return self.app(environ, start_response_with_timing)
        finally:
            _current.reset(token)
