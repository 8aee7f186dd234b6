"""Tests for profiler.handoff: formatting, per-request isolation, real servers."""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import time
import urllib.request
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
import uvicorn
from fastapi import FastAPI

from profiler.handoff import (
    ServerTimingMiddleware,
    ServerTimingWSGIMiddleware,
    format_server_timing,
    handoff,
)


def parse(header: str) -> dict[str, float]:
    """name -> dur from a Server-Timing value (enough for these tests)."""
    out: dict[str, float] = {}
    for entry in header.split(","):
        name, *params = entry.strip().split(";")
        for param in params:
            if param.startswith("dur="):
                out[name] = float(param[4:])
    return out


# --- formatting -------------------------------------------------------------


def test_format_basic_three_decimals() -> None:
    assert format_server_timing([("features", 5.1234), ("model", 12.0)]) == ("features;dur=5.123, model;dur=12.000")


def test_format_empty() -> None:
    assert format_server_timing([]) == ""


def test_format_desc_is_quoted_and_escaped() -> None:
    value = format_server_timing([("model", 1.0, 'in"fer\\')])
    assert value == 'model;dur=1.000;desc="in\\"fer\\\\"'


def test_format_desc_keeps_header_valid() -> None:
    # A newline would split the header; non-latin-1 could not be encoded.
    assert format_server_timing([("m", 1.0, "a\nb\u00e9\u2603")]) == 'm;dur=1.000;desc="a?b??"'


def test_format_sanitises_names_to_tokens() -> None:
    assert format_server_timing([("feature fetch,db", 1.0)]) == "feature_fetch_db;dur=1.000"


# --- handoff / middleware without a server ----------------------------------


def test_handoff_outside_request_is_noop() -> None:
    with handoff("nothing"):
        pass  # must not raise, must not leak into a later request


def run_asgi(app: Any, path: str = "/") -> dict[str, str]:
    """Drive one HTTP request through an ASGI app; return response headers."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": path, "headers": []}
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    return {k.decode(): v.decode() for k, v in start["headers"]}


async def plain_app(scope: Any, receive: Any, send: Any) -> None:
    with handoff("a"):
        await asyncio.sleep(0.01)
    with handoff("a"):  # same name again: summed
        await asyncio.sleep(0.01)
    with handoff("b", desc="second"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": [(b"x", b"1")]})
    await send({"type": "http.response.body", "body": b"ok"})


def test_asgi_middleware_sums_and_adds_total() -> None:
    headers = run_asgi(ServerTimingMiddleware(plain_app))
    assert headers["x"] == "1"  # existing headers kept
    value = headers["server-timing"]
    assert "b;dur=0." in value and 'desc="second"' in value
    timings = parse(value)
    assert list(timings) == ["a", "b", "total"]
    assert timings["a"] >= 19.0  # two 10 ms blocks summed
    assert timings["total"] >= timings["a"]


def test_asgi_non_http_scope_passes_through() -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])
        await send({"type": "lifespan.startup.complete"})

    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def receive() -> Any:
        return {}

    asyncio.run(ServerTimingMiddleware(app)({"type": "lifespan"}, receive, send))
    assert seen == ["lifespan"] and sent == [{"type": "lifespan.startup.complete"}]


def test_concurrent_asyncio_requests_do_not_mix() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        name = scope["path"].strip("/")
        for _ in range(5):  # interleave with the other requests
            with handoff(name):
                await asyncio.sleep(0.001)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    wrapped = ServerTimingMiddleware(app)
    results: dict[str, str] = {}

    async def one(name: str) -> None:
        sent: list[Any] = []

        async def send(message: Any) -> None:
            sent.append(message)

        async def receive() -> Any:
            return {"type": "http.request"}

        await wrapped({"type": "http", "path": f"/{name}"}, receive, send)
        results[name] = dict(sent[0]["headers"])[b"server-timing"].decode()

    async def main() -> None:
        await asyncio.gather(*(one(f"r{i}") for i in range(20)))

    asyncio.run(main())
    for name, value in results.items():
        assert list(parse(value)) == [name, "total"]


def test_concurrent_wsgi_threads_do_not_mix() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        name = environ["PATH_INFO"].strip("/")
        for _ in range(5):
            with handoff(name):
                time.sleep(0.001)
        start_response("200 OK", [])
        return [b""]

    wrapped = ServerTimingWSGIMiddleware(app)

    def one(name: str) -> str:
        captured: list[tuple[str, str]] = []

        def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
            captured.extend(headers)
            return lambda data: None

        list(wrapped({"PATH_INFO": f"/{name}"}, start_response))
        return dict(captured)["Server-Timing"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        names = [f"t{i}" for i in range(32)]
        for name, value in zip(names, pool.map(one, names), strict=True):
            assert list(parse(value)) == [name, "total"]


# --- real servers -----------------------------------------------------------


def make_fastapi_app() -> FastAPI:
    api = FastAPI()

    @api.get("/async")
    async def async_endpoint(name: str = "features") -> dict[str, str]:
        with handoff(name):
            await asyncio.sleep(0.02)
        with handoff("model", desc="infer"):
            sum(range(10_000))
        return {"name": name}

    @api.get("/sync")
    def sync_endpoint() -> dict[str, bool]:
        # Runs in a worker thread on a copy of the context: the mark must
        # still reach the middleware.
        with handoff("db"):
            time.sleep(0.01)
        return {"ok": True}

    return api


@pytest.fixture(scope="module")
def uvicorn_base_url() -> Iterator[str]:
    # Bind port 0 ourselves and hand the socket to uvicorn: no port race.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = ServerTimingMiddleware(make_fastapi_app())
    config = uvicorn.Config(app, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def get(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.status, resp.headers.get("Server-Timing", ""), resp.read()


def test_uvicorn_fastapi_async_handler(uvicorn_base_url: str) -> None:
    status, header, body = get(f"{uvicorn_base_url}/async")
    assert status == 200 and body == b'{"name":"features"}'
    assert re.search(r'model;dur=\d+\.\d{3};desc="infer"', header)
    timings = parse(header)
    assert list(timings) == ["features", "model", "total"]
    assert 15.0 <= timings["features"] < 1000.0
    assert timings["total"] >= timings["features"] + timings["model"]


def test_uvicorn_fastapi_sync_handler_in_threadpool(uvicorn_base_url: str) -> None:
    status, header, _ = get(f"{uvicorn_base_url}/sync")
    assert status == 200
    timings = parse(header)
    assert list(timings) == ["db", "total"]
    assert timings["db"] >= 8.0


def test_uvicorn_unknown_path_still_gets_total(uvicorn_base_url: str) -> None:
    try:
        urllib.request.urlopen(f"{uvicorn_base_url}/__profiler_probe__", timeout=10)
    except urllib.error.HTTPError as err:
        assert err.code == 404
        assert list(parse(err.headers["Server-Timing"])) == ["total"]
    else:
        pytest.fail("expected 404")


def test_uvicorn_concurrent_requests_do_not_mix(uvicorn_base_url: str) -> None:
    names = [f"n{i}" for i in range(12)]
    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(lambda n: get(f"{uvicorn_base_url}/async?name={n}"), names))
    for name, (status, header, _) in zip(names, results, strict=True):
        assert status == 200
        assert list(parse(header)) == [name, "model", "total"]


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_wsgiref_server() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        with handoff("render"):
            time.sleep(0.01)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"hello"]

    server = make_server("127.0.0.1", 0, ServerTimingWSGIMiddleware(app), handler_class=QuietHandler)
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        status, header, body = get(f"http://127.0.0.1:{port}/")
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
    assert status == 200 and body == b"hello"
    timings = parse(header)
    assert list(timings) == ["render", "total"]
    assert timings["render"] >= 8.0 and timings["total"] >= timings["render"]
