"""Is the target ready, and is it the server behind the URL?

Readiness never touches the endpoint (a GET to it would absorb a lazily loaded model's cold
start): the probe path answers (any HTTP status), or without a probe the port accepts
connections. What cannot get better by waiting is said at once, in its own words: a host that
does not resolve, https:// to a plain-HTTP server, a server that answers but not in HTTP. What
can (a refused connection while the app starts) is waited for, and the final message names what
was seen last.

Then the process tree being sampled must own the URL's listening port: otherwise the load goes
to one server while another is measured.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

import psutil

from profiler.base.errors import ConfigError, TargetError, TargetExitedError, TargetNotReadyError
from profiler.base.secrets import mask_url
from profiler.base.websocket import is_websocket
from profiler.run.handshake import handshake
from profiler.run.target import Target

CHECK_TIMEOUT_S = 2.0
POLL_S = 0.1
Seen = Literal["ready", "refused", "timeout", "closed"]  # what one readiness check met

# What each "not yet" looked like, for the message when the wait runs out.
_WAITED: dict[Seen, str] = {
    "ready": "",
    "refused": "nothing accepted connections on {where} (connection refused)",
    "timeout": "connections to {where} timed out",
    "closed": "the server at {where} accepted connections but closed them without an HTTP answer",
}


@dataclass(frozen=True, slots=True)
class Endpoint:
    scheme: str
    host: str
    port: int

    @classmethod
    def of(cls, url: str) -> Endpoint:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme in ("https", "wss") else 80)
        return cls(parts.scheme, parts.hostname or "127.0.0.1", port)

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


def _resolve(ep: Endpoint) -> None:
    try:
        socket.getaddrinfo(ep.host, ep.port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        raise ConfigError(
            f"the host '{ep.host}' does not resolve ({getattr(e, 'strerror', None) or e}).",
            "check the host name in the URL (127.0.0.1 for a local app)",
        ) from None


def _connect_failure(e: OSError) -> Seen:
    return "timeout" if isinstance(e, TimeoutError | socket.timeout) else "refused"


def _listening(ep: Endpoint) -> Seen:
    """The target accepts a TCP connection on the URL's port."""
    try:
        with socket.create_connection((ep.host, ep.port), timeout=CHECK_TIMEOUT_S):
            return "ready"
    except OSError as e:
        return _connect_failure(e)


def _not_http(ep: Endpoint, first: str) -> ConfigError:
    sample = first.strip()[:40]
    return ConfigError(
        f"the server at {ep.where} answered, but not in HTTP" + (f" (it sent '{sample}')." if sample else "."),
        "check the URL's port: it belongs to another kind of server",
    )


def _answers(ep: Endpoint, path: str) -> Seen:
    """One GET of `path`: any HTTP answer (even 404 or 405) means the server is up."""
    conn: http.client.HTTPConnection
    if ep.scheme == "https":
        # A local app often has a self-signed certificate; the load worker does not verify either.
        context = ssl._create_unverified_context()
        conn = http.client.HTTPSConnection(ep.host, ep.port, timeout=CHECK_TIMEOUT_S, context=context)
    else:
        conn = http.client.HTTPConnection(ep.host, ep.port, timeout=CHECK_TIMEOUT_S)
    try:
        conn.request("GET", path)
        conn.getresponse().read()
        return "ready"
    except http.client.LineTooLong:
        return "ready"  # an HTTP answer whose headers are huge is still an answer (the load copes)
    except ssl.SSLError:
        raise ConfigError(
            f"the server at {ep.where} does not speak TLS, but the URL says https://.",
            "use http:// in the URL",
        ) from None
    except http.client.BadStatusLine as e:
        if isinstance(e, http.client.RemoteDisconnected):
            return "closed"
        raise _not_http(ep, str(e.args[0]) if e.args else "") from None
    except (OSError, http.client.HTTPException) as e:
        return _connect_failure(e) if isinstance(e, OSError) else "closed"
    finally:
        conn.close()


def _upgrades(ep: Endpoint, url: str, headers: Sequence[tuple[str, str]]) -> Seen:
    """Listening, then switching protocols on the WebSocket handshake."""
    listening = _listening(ep)
    return handshake(url, headers) if listening == "ready" else listening


def ready_check(url: str, probe_path: str | None, headers: Sequence[tuple[str, str]] = ()) -> Callable[[], Seen]:
    """How readiness is checked without touching the endpoint (see the module's docstring); a
    WebSocket endpoint by its own handshake (run/handshake.py)."""
    ep = Endpoint.of(url)
    _resolve(ep)
    if is_websocket(url):
        return lambda: _upgrades(ep, url, headers)
    if probe_path is None:
        return lambda: _listening(ep)
    path = urlunsplit(("", "", probe_path, "", ""))
    return lambda: _answers(ep, path)


def wait_ready(
    target: Target,
    url: str,
    timeout_s: float,
    cancelled: Callable[[], bool] = lambda: False,
    probe_path: str | None = None,
    headers: Sequence[tuple[str, str]] = (),
) -> float | None:
    """Block until the target is ready (`ready_check`); return seconds waited (None if cancelled).
    Raise at once for what waiting cannot mend; raise if the target exits or stays silent."""
    check = ready_check(url, probe_path, headers)
    start = time.monotonic()
    seen: Seen = "refused"
    while not cancelled():
        code = target.exit_code()
        if code is not None:
            tail = target.tail()
            raise TargetExitedError(
                f"the target exited with code {code} before answering at {mask_url(url)}"
                + (f"; its last output: {tail}" if tail else "."),
                "run the --launch command by hand to see why it fails",
            )
        seen = check()
        if seen == "ready":
            return time.monotonic() - start
        if time.monotonic() - start > timeout_s:
            tail = target.tail()
            raise TargetNotReadyError(
                f"the target was not ready within {timeout_s:g}s: "
                + _WAITED[seen].format(where=Endpoint.of(url).where)
                + (f"; its last output: {tail}" if tail else "."),
                "check the URL's port matches the app's, or raise --ready-timeout",
            )
        time.sleep(POLL_S)
    return None


# -- who owns the URL's port -----------------------------------------------------------------------


def _tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def _listen_ports(proc: psutil.Process) -> set[int]:
    return {c.laddr.port for c in proc.net_connections(kind="tcp") if c.status == psutil.CONN_LISTEN}


def _owner(port: int) -> str:
    """Which process listens on `port`, in words ("" when it cannot be seen)."""
    try:
        for c in psutil.net_connections(kind="tcp"):
            if c.status == psutil.CONN_LISTEN and c.laddr.port == port and c.pid:
                return f"pid {c.pid} ({psutil.Process(c.pid).name()})"
    except (psutil.Error, OSError):
        pass
    return ""


def port_owner_problem(pid: int, url: str) -> str | None:
    """None when the process tree of `pid` listens on the URL's port (or it cannot be checked:
    a remote host, no permission); else a sentence saying what it listens on and who owns the port."""
    ep = Endpoint.of(url)
    try:
        tree = _tree(pid)
        ports = set().union(*(_listen_ports(p) for p in tree))
        name = tree[0].name()
    except (psutil.Error, OSError):
        return None
    if ep.port in ports:
        return None
    owner = _owner(ep.port)
    listens = f"it listens on port {', '.join(map(str, sorted(ports)))}" if ports else "it listens on no TCP port"
    return (
        f"process {pid} ({name}) does not serve {mask_url(url)}: {listens}"
        + (f", while port {ep.port} belongs to {owner}" if owner else "")
        + "."
    )


def check_port_owner(pid: int, url: str, attached: bool) -> str | None:
    """For an attached target (--pid), a tree that does not own the URL's port is an error: the
    load would go to one server while another is measured. For a launched one it is a notice
    (returned): a launcher such as a container runtime may serve the port through a proxy."""
    problem = port_owner_problem(pid, url)
    if problem is not None and attached:
        raise TargetError(problem, "give --pid of the server behind the URL, or the URL of this process's port")
    return problem
