"""Reading what came back for one request: headers that may repeat, the flags the analysis
needs, and the name of what went wrong. No Locust import: plain functions over a response."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

from profiler.load.stream import StreamReader, StreamSummary
from profiler.runfolder.records import BODY_CUT, FLAG_CHUNKED, FLAG_COOKIE, FLAG_EVENT_STREAM, timed_out

MAX_ERROR_NAME = 64  # an error name is a short word in a CSV cell, whatever an exception calls itself


def joined(headers: Any, name: str) -> str:
    """All values of a header that may be sent several times, joined as one list. `headers` is a
    client's case-insensitive mapping (geventhttpclient's Headers, requests' CaseInsensitiveDict)."""
    if name not in headers:  # most responses: one dict lookup, per request (it counts)
        return ""
    getter = getattr(headers, "getheaders", None) or getattr(headers, "get_all", None)
    if getter is not None:
        values = getter(name)
        return ", ".join(values) if values else ""
    return str(headers.get(name) or "")


def error_name(exc: BaseException) -> str:
    """The name of what went wrong. geventhttpclient wraps the last error of a request it gave up
    on in RetriesExceeded (even with no retries): the original (a timeout, a reset) is the news."""
    original = getattr(exc, "original", None)
    return type(original if isinstance(original, BaseException) else exc).__name__[:MAX_ERROR_NAME]


def flags_of(headers: Any) -> str:
    """The flags of a response's headers (a case-insensitive mapping, as `joined`'s): three
    lookups, per request (walking every header was a percent of the generator's CPU)."""
    cookie = "set-cookie" in headers
    chunked = "chunked" in joined(headers, "transfer-encoding").lower()
    stream = "text/event-stream" in joined(headers, "content-type").lower()
    return (FLAG_COOKIE if cookie else "") + (FLAG_CHUNKED if chunked else "") + (FLAG_EVENT_STREAM if stream else "")


def read_body(resp: Any, status: int) -> tuple[str, int]:
    """Read the whole body: ("", its size), or (the error's name, 0). A body that breaks off is
    BODY_CUT whatever the parser calls it (an AttributeError, "Incomplete response"), unless it
    stalled until the timeout. (gevent's GreenletExit is not an Exception: it passes through.)"""
    exc = getattr(resp, "error", None)
    if exc is not None and status == 0:
        return error_name(exc), 0
    try:
        content = resp.content
    except Exception as e:  # noqa: BLE001 - whatever the client raises mid-body, the request is recorded
        name = error_name(e)
        return (name if timed_out(name) else BODY_CUT), 0
    return "", len(content) if content else 0


def arrivals(resp: Any) -> Iterator[tuple[float, bytes]]:
    """The body as it comes off the socket, each piece with its arrival time. geventhttpclient's own
    reads wait for a full block (or the end), which would merge a stream's chunks, so this reads
    what each recv brings, through its parser (chunked framing removed). A response of another
    client is read whole, as one piece."""
    inner = getattr(resp, "_response", None)
    if inner is None or not hasattr(inner, "_body_buffer") or not hasattr(inner, "feed"):
        yield time.perf_counter(), resp.content or b""
        return
    try:
        while True:
            buffer = inner._body_buffer
            if buffer:
                data = bytes(buffer)
                del buffer[:]
                yield time.perf_counter(), data
            if inner.message_complete:
                return
            if inner._sock is None:
                raise ConnectionResetError("the connection closed mid-body")
            inner.feed(inner._sock.recv(inner.block_size))
    except BaseException:
        inner.release()
        raise


def read_stream(resp: Any, status: int, sent: float, events: bool) -> tuple[str, int, StreamSummary | None]:
    """Read a streamed body, timing each chunk (or event): ("", its size, its figures), or the
    error's name as `read_body` names it, with the figures of what came before."""
    exc = getattr(resp, "error", None)
    if exc is not None and status == 0:
        return error_name(exc), 0, None
    reader, nbytes = StreamReader(sent, events), 0
    try:
        for t, data in arrivals(resp):
            nbytes += len(data)
            reader.feed(t, data)
    except Exception as e:  # noqa: BLE001 - whatever the client raises mid-body, the request is recorded
        name = error_name(e)
        return (name if timed_out(name) else BODY_CUT), nbytes, reader.summary()
    reader.finish(time.perf_counter())
    return "", nbytes, reader.summary()


def basic_auth(user: str | None, password: str | None, headers: dict[str, str]) -> dict[str, str]:
    """The request headers, with the URL's credentials as Basic auth unless the user already gave
    an Authorization header (theirs wins)."""
    if user is None or any(k.lower() == "authorization" for k in headers):
        return dict(headers)
    token = base64.b64encode(f"{unquote(user)}:{unquote(password or '')}".encode()).decode()
    return {**headers, "Authorization": f"Basic {token}"}
