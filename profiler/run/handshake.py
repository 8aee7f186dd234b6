"""Is a ws:// or wss:// URL a WebSocket endpoint? One opening handshake (RFC 6455 4.1) with the
standard library before any load: 101 Switching Protocols is ready; any other HTTP answer (a 404,
a plain 200 page, a 401 for want of credentials) is a mistake waiting cannot mend, said in one line."""

from __future__ import annotations

import base64
import http.client
import os
import ssl
from collections.abc import Sequence
from typing import Literal
from urllib.parse import urlsplit

from profiler.base.errors import ConfigError
from profiler.base.secrets import mask_url
from profiler.load.response import basic_auth

CHECK_TIMEOUT_S = 2.0
_FIX = {
    401: "give the credentials the handshake needs with -H 'Authorization: ...' (or in the URL)",
    403: "the server refused the upgrade: check the path, the Origin it expects (-H 'Origin: ...') and credentials",
    404: "check the path: give the WebSocket route, e.g. ws://127.0.0.1:8000/ws",
}
_PLAIN = "the URL is an HTTP route, not a WebSocket one: give the WebSocket route, or an http:// URL to load it as HTTP"


def handshake(url: str, headers: Sequence[tuple[str, str]] = ()) -> Literal["ready", "refused", "timeout"]:
    """'ready' when the server switches protocols, 'refused' or 'timeout' while it is not up yet;
    ConfigError for an answer that is not an upgrade, or a wss:// URL to a server without TLS."""
    parts = urlsplit(url)
    host, secure = parts.hostname or "127.0.0.1", parts.scheme == "wss"
    port = parts.port or (443 if secure else 80)
    conn: http.client.HTTPConnection
    if secure:  # a local app's certificate is often self-signed; the load does not verify either
        conn = http.client.HTTPSConnection(
            host, port, timeout=CHECK_TIMEOUT_S, context=ssl._create_unverified_context()
        )
    else:
        conn = http.client.HTTPConnection(host, port, timeout=CHECK_TIMEOUT_S)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    sent = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
            **basic_auth(parts.username, parts.password, dict(headers))}  # fmt: skip
    try:
        conn.request("GET", path, headers=sent)
        status = conn.getresponse().status
    except ssl.SSLError:
        raise ConfigError(f"the server at {host}:{port} does not speak TLS, but the URL says wss://.",
                          "use ws:// in the URL") from None  # fmt: skip
    except TimeoutError:
        return "timeout"
    except (OSError, http.client.HTTPException):
        return "refused"
    finally:
        conn.close()
    if status == 101:
        return "ready"
    raise ConfigError(f"{mask_url(url)} answered the WebSocket handshake with HTTP {status}, not 101 Switching "
                      "Protocols.", _FIX.get(status, _PLAIN))  # fmt: skip
