"""Reading what came back for one request: headers that may repeat, the flags the analysis
needs, and the name of what went wrong. No Locust import: plain functions over a response."""

from __future__ import annotations

import base64
import json
import time
import zlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

from profiler.load.stream import StreamReader, StreamSummary
from profiler.runfolder.records import (
    BODY_CUT,
    CACHE_BYPASS,
    CACHE_HIT,
    CACHE_MISS,
    CACHE_OTHER,
    CACHE_STALE,
    FLAG_CACHE_HEADERS,
    FLAG_CHUNKED,
    FLAG_COOKIE,
    FLAG_EVENT_STREAM,
    timed_out,
)

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
    cache = "cache-control" in headers or "etag" in headers or "last-modified" in headers or "expires" in headers
    return (
        (FLAG_COOKIE if cookie else "")
        + (FLAG_CHUNKED if chunked else "")
        + (FLAG_EVENT_STREAM if stream else "")
        + (FLAG_CACHE_HEADERS if cache else "")
    )


# The headers a cache in front of an app (or the app's own) says its verdict in, the first that
# is present read: Varnish/Fastly/CloudFront/Squid `X-Cache`, nginx `X-Cache-Status`, Cloudflare.
CACHE_HEADERS = ("x-cache-status", "cf-cache-status", "x-cache")
# Words in a verdict, checked in this order ("TCP_REFRESH_MISS" is a miss, "HIT, MISS" from two
# layers is a hit: the layer nearest the client answered). REVALIDATED and UPDATING are served
# from the cache; EXPIRED was fetched again.
_VERDICTS = (
    ("hit", CACHE_HIT),
    ("revalidated", CACHE_HIT),
    ("updating", CACHE_STALE),
    ("stale", CACHE_STALE),
    ("miss", CACHE_MISS),
    ("expired", CACHE_MISS),
    ("bypass", CACHE_BYPASS),
    ("dynamic", CACHE_BYPASS),
    ("pass", CACHE_BYPASS),
)


def verdict(text: str) -> str:
    """A cache header's value as one CACHE_* word ("" for an empty value)."""
    words = text.strip().lower()
    if not words:
        return ""
    first = words.split(",")[0]  # the layer nearest us: "HIT, MISS" is a hit
    return next((word for key, word in _VERDICTS if key in first), CACHE_OTHER)


def _timing_cache(timing: str) -> str:
    """Server-Timing's `cache;desc=hit` (or `cache;desc="miss"`), the app's own verdict."""
    for entry in timing.split(","):
        name, _, params = entry.strip().partition(";")
        if name.strip().lower() != "cache":
            continue
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "desc":
                return verdict(value.strip().strip('"'))
    return ""


def cache_of(headers: Any, timing: str) -> str:
    """What the response says of the cache that answered it: a CACHE_* word, or "" when nothing
    says. An `Age` above 0 is only set by a cache (RFC 9111 5.1): a hit when nothing else said."""
    for name in CACHE_HEADERS:
        if name in headers:
            return verdict(joined(headers, name))
    if timing and "cache" in timing.lower():
        found = _timing_cache(timing)
        if found:
            return found
    if "age" in headers:
        age = joined(headers, "age").split(",")[0].strip()
        if age.isdigit() and int(age) > 0:
            return CACHE_HIT
    return ""


def body_key(content: bytes) -> str:
    """The key identical bodies share (CRC-32, 8 hex digits): it groups repeats, nothing more."""
    return f"{zlib.crc32(content):08x}"


def request_body(data: Any = None, json_body: Any = None) -> bytes:
    """A request's body as bytes, as near as a client's arguments tell it (`data=`, `json=`)."""
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        return data.encode()
    if data is not None:
        return repr(data).encode()  # a dict of form fields: its size is near, its key stable
    if json_body is not None:
        return json.dumps(json_body, separators=(",", ":")).encode()
    return b""


def request_key(method: str, url: str, body: bytes) -> str:
    """The key identical requests share: CRC-32 of method, URL and body."""
    return f"{zlib.crc32(body, zlib.crc32(f'{method} {url}'.encode())):08x}"


def read_body(resp: Any, status: int) -> tuple[str, int, str]:
    """Read the whole body: ("", its size, its body_key), or (the error's name, 0, ""). A body that breaks off is
    BODY_CUT whatever the parser calls it (an AttributeError, "Incomplete response"), unless it
    stalled until the timeout. (gevent's GreenletExit is not an Exception: it passes through.)"""
    exc = getattr(resp, "error", None)
    if exc is not None and status == 0:
        return error_name(exc), 0, ""
    try:
        content = resp.content
    except Exception as e:  # noqa: BLE001 - whatever the client raises mid-body, the request is recorded
        name = error_name(e)
        return (name if timed_out(name) else BODY_CUT), 0, ""
    return "", len(content) if content else 0, body_key(content or b"")


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
