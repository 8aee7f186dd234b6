"""Sending our own requests (the one URL, the probe) on a Locust session's user agent.

Locust's `FastHttpSession.request` wraps each request in its own timing, a dict of metadata and a
statistics event; we time and record every request ourselves (`Worker.fire`), so that wrapper was
a second account of each request: 4.7 of the 11.7 us our request path cost besides the network
(docs/benchmarks.md, generator efficiency). This sends through the same user agent the wrapper
calls (its connection pool, timeouts, retries, redirects and cookies), with the headers the
wrapper would have added, and hands back a response the same way (an HTTP error status is a
response with `.error` set; a failure to connect is an exception). No Locust import: the session
is whatever `FastHttpSession` the worker made.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# What Locust's request() asks for unless told otherwise: the target sees the same request.
ACCEPT_ENCODING = "gzip, deflate, br"


def request_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers as Locust's request() would send them: the user's, and Accept-Encoding."""
    if any(name.lower() == "accept-encoding" for name in headers):
        return dict(headers)
    return {**headers, "Accept-Encoding": ACCEPT_ENCODING}


def send(session: Any, method: str, url: str, body: bytes | None, headers: dict[str, str]) -> Any:
    """One request on the session's user agent, as Locust's request() sends it."""
    try:
        return session.client.urlopen(url, method=method, payload=body, headers=headers)
    except Exception as e:  # a status outside Locust's valid codes comes back raised, holding its response
        response = getattr(e, "response", None)
        if response is None:
            raise  # no response at all (refused, reset, timed out): the caller names the error
        response.error = e
        return response
