"""Users written by someone else (a locustfile, or a scenario file made into one) recorded like ours.

Their requests go through Locust's own clients (HttpSession, FastHttpSession), so the record of
each comes from two places: the clients' `request` method, wrapped here, says when a request
starts (the accounting's "started", and the stage it belongs to), and Locust's request event says
how it ended. A request still running when the run stops is recorded as UNFINISHED by the wrapper;
one whose event never fired (a `catch_response` block cut off by the stop) is recorded so at the
end. Imports Locust: only the load worker process imports this module.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import gevent
from gevent import getcurrent
from locust import User
from locust.clients import HttpSession
from locust.contrib.fasthttp import FastHttpSession
from locust.env import Environment
from locust.exception import CatchResponseError
from locust.util.load_locustfile import load_locustfile

from profiler.base.secrets import mask_url
from profiler.load.response import body_key, cache_of, error_name, flags_of, joined, request_body, request_key
from profiler.runfolder.records import UNFINISHED

USER_FAILURE = "UserFailure"  # the locustfile marked the response failed (`response.failure(...)`)


class Sink(Protocol):
    """Where a finished request goes: the worker's `record` and its accounting."""

    @property
    def stage(self) -> int: ...  # the stage running now

    def begin(self, stage: int) -> None: ...
    def record_route(self, row: Row) -> None: ...


@dataclass(frozen=True, slots=True)
class Started:
    stage: int
    start: float  # epoch s
    t0: float  # perf_counter
    method: str
    name: str
    req_bytes: int = 0
    req_key: str = ""


@dataclass(frozen=True, slots=True)
class Row:
    """One request's outcome, as requests.csv keeps it."""

    start: float
    latency_ms: float
    ttfb_ms: float
    status: int
    nbytes: int
    error: str
    stage: int
    flags: str
    timing: str
    method: str
    name: str
    req_bytes: int | None = None  # the cache columns (records.CACHE_COLUMNS): None/"" where not known
    req_key: str = ""
    body_crc: str = ""
    cache: str = ""

    def facts(self) -> tuple[object, ...]:
        return ("" if self.req_bytes is None else self.req_bytes, self.req_key, self.body_crc, self.cache)


def _sent_body(kwargs: dict[str, Any]) -> bytes:
    """The body a client call sends, from its arguments (requests' and FastHttpSession's `data=`,
    `json=`; FastHttpSession's `data` may be bytes or str)."""
    try:
        return request_body(kwargs.get("data"), kwargs.get("json"))
    except (TypeError, ValueError):  # a body json cannot encode: the client will say so itself
        return b""


def _read_key(response: Any) -> str:
    """The body key of a body the client already read (requests' `_content`, geventhttpclient's
    `_cached_content`); never reads one itself (a streamed body must stay the user's)."""
    for attr in ("_cached_content", "_content"):
        content = getattr(response, attr, None)
        if isinstance(content, bytes):
            return body_key(content)
    return ""


def route_name(name: str) -> str:
    """A request's name as kept: Locust names an unnamed request by its URL, whose query may hold
    a token, so secret-named parameters are masked, and an absolute URL keeps only its path."""
    masked = mask_url(name)
    scheme, sep, rest = masked.partition("://")
    if sep and scheme.isalpha():
        slash = min((i for i in (rest.find(c) for c in "/?") if i >= 0), default=len(rest))
        masked = rest[slash:] or "/"
    return masked


class Recorder:
    """Wraps Locust's clients and listens to its request event, for one environment."""

    def __init__(self, env: Environment, sink: Sink) -> None:
        self.env, self.sink = env, sink
        self.waiting: dict[Any, list[Started]] = {}  # per greenlet: requests sent, no event yet
        env.events.request.add_listener(self.on_request)  # type: ignore[no-untyped-call]
        for cls in (HttpSession, FastHttpSession):
            cls.request = self._wrap(cls.request)  # type: ignore[method-assign]

    def _wrap(self, original: Callable[..., Any]) -> Callable[..., Any]:
        recorder = self

        def request(session: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            if getattr(session, "request_event", None) is not recorder.env.events.request:
                return original(session, method, url, *args, **kwargs)  # not a user's client (our probe)
            name = kwargs.get("name") or getattr(session, "request_name", None) or url
            body = _sent_body(kwargs)
            started = Started(
                recorder.sink.stage, time.time(), time.perf_counter(), method.upper(), route_name(str(name)),
                len(body), request_key(method.upper(), str(url), body),
            )  # fmt: skip
            recorder.sink.begin(started.stage)
            recorder.waiting.setdefault(getcurrent(), []).append(started)
            try:
                return original(session, method, url, *args, **kwargs)
            except gevent.GreenletExit:
                recorder._unfinished(started)
                raise

        return request

    def _unfinished(self, started: Started, queue: list[Started] | None = None) -> None:
        """Still waiting when the run ended: recorded with the time it had waited (a lower bound)."""
        queue = self.waiting.get(getcurrent(), []) if queue is None else queue
        if started in queue:
            queue.remove(started)
            waited = (time.perf_counter() - started.t0) * 1000.0
            self.sink.record_route(Row(started.start, waited, waited, 0, 0, UNFINISHED, started.stage, "", "",
                                       started.method, started.name, started.req_bytes, started.req_key))  # fmt: skip

    def on_request(self, request_type: str, name: str, response_time: float, response_length: int,
                   response: Any = None, exception: BaseException | None = None, start_time: float | None = None,
                   **_kw: Any) -> None:  # fmt: skip
        queue = self.waiting.get(getcurrent())
        started = queue.pop(0) if queue else None
        custom = started is None
        if started is None:  # an event the locustfile fired itself (a custom client): counted here
            started = Started(self.sink.stage, start_time or time.time(), 0.0, request_type, name)
            self.sink.begin(started.stage)
        status = int(getattr(response, "status_code", 0) or 0)
        headers = getattr(response, "headers", None)
        latency = float(response_time or 0.0)
        elapsed = getattr(response, "elapsed", None)  # requests: time to the headers
        ttfb = elapsed.total_seconds() * 1000.0 if isinstance(elapsed, datetime.timedelta) else latency
        self.sink.record_route(
            Row(
                start=start_time or started.start,
                latency_ms=latency,
                ttfb_ms=min(ttfb, latency),
                status=status,
                nbytes=int(response_length or 0),
                error=_error(exception, status),
                stage=started.stage,
                flags=flags_of(headers) if headers is not None else "",
                timing=joined(headers, "Server-Timing") if headers is not None else "",
                method=str(request_type).upper(),
                name=route_name(str(name)),
                req_bytes=None if custom else started.req_bytes,
                req_key=started.req_key,
                body_crc=_read_key(response) if exception is None else "",
                cache=cache_of(headers, joined(headers, "Server-Timing")) if headers is not None else "",
            )
        )

    def close(self) -> None:
        """Requests sent whose outcome never came (their greenlet was stopped in a `with` block)."""
        for queue in self.waiting.values():
            for started in list(queue):
                self._unfinished(started, queue)


def _error(exception: BaseException | None, status: int) -> str:
    """The error column: a failure the locustfile marked itself (`response.failure(...)`) is
    USER_FAILURE (its message is the user's text, not kept: it may hold anything); Locust's own
    status check is "HTTP nnn" as for every run; anything else the exception's name."""
    if isinstance(exception, CatchResponseError):
        return USER_FAILURE
    if status >= 400:
        return f"HTTP {status}"
    return "" if exception is None else error_name(exception)


def user_classes(path: str) -> tuple[list[type[User]], list[Any]]:
    """The locustfile's user classes (abstract ones left out), and its load shapes (instances; the
    check before the run reads the one there may be into the run's shape steps)."""
    classes, shapes = load_locustfile(path)
    return list(classes.values()), list(shapes)
