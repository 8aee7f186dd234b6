"""Command-line text to validated values: every bad input is a ConfigError with a fix."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from profiler.base.config import (
    Slo,
    parse_body,
    parse_float_list,
    parse_header,
    parse_int_list,
    parse_ms,
    parse_slo,
    substitute_port,
    validate_url,
)
from profiler.base.errors import ConfigError


def _assert_fix(err: pytest.ExceptionInfo[ConfigError]) -> None:
    assert "Fix:" in str(err.value)
    assert err.value.fix


# ---------------------------------------------------------------- validate_url


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/predict",
        "https://127.0.0.1/",
        "http://127.0.0.2:9000/x?y=1",
        "http://localhost:8000/predict",
        "http://localhost/",
        "http://[::1]:8000/predict",
        "http://[::1]/",
    ],
)
def test_validate_url_loopback_accepted(url: str) -> None:
    assert validate_url(url, allow_remote=False) == url


@pytest.mark.parametrize(
    "url",
    [
        "ftp://127.0.0.1/file",
        "127.0.0.1:8000/predict",  # no scheme
        "file:///etc/passwd",
        "",
    ],
)
def test_validate_url_bad_scheme(url: str) -> None:
    with pytest.raises(ConfigError, match="not an http\\(s\\) or ws\\(s\\) URL") as err:
        validate_url(url, allow_remote=True)
    _assert_fix(err)


@pytest.mark.parametrize("url", ["ws://127.0.0.1:8000/", "wss://127.0.0.1:8443/chat?room=1"])
def test_validate_url_takes_websocket_urls(url: str) -> None:
    assert validate_url(url, allow_remote=False) == url


@pytest.mark.parametrize("url", ["http://", "http:///predict", "https://:8000/"])
def test_validate_url_no_host(url: str) -> None:
    with pytest.raises(ConfigError, match="not an http\\(s\\) or ws\\(s\\) URL") as err:
        validate_url(url, allow_remote=True)
    _assert_fix(err)


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999/", "http://127.0.0.1:abc/", "http://127.0.0.1:-1/"])
def test_validate_url_bad_port(url: str) -> None:
    with pytest.raises(ConfigError, match="invalid port") as err:
        validate_url(url, allow_remote=False)
    _assert_fix(err)
    assert "1 to 65535" in str(err.value)


def test_validate_url_port_zero_is_invalid() -> None:
    # The fix text itself says "use a number from 1 to 65535"; port 0 cannot be connected to.
    with pytest.raises(ConfigError, match="invalid port") as err:
        validate_url("http://127.0.0.1:0/", allow_remote=False)
    _assert_fix(err)


@pytest.mark.parametrize("url", ["http://10.0.0.1:8000/", "https://192.0.2.7/predict", "http://[2001:db8::1]:80/"])
def test_validate_url_remote_refused_without_allow_remote(url: str) -> None:
    with pytest.raises(ConfigError, match="not a loopback address") as err:
        validate_url(url, allow_remote=False)
    _assert_fix(err)
    assert "--allow-remote" in str(err.value)


@pytest.mark.parametrize("url", ["http://10.0.0.1:8000/", "https://192.0.2.7/predict", "http://[2001:db8::1]:80/"])
def test_validate_url_remote_allowed_with_allow_remote(url: str) -> None:
    assert validate_url(url, allow_remote=True) == url


# ---------------------------------------------------------------- parse_header


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer x", ("Authorization", "Bearer x")),
        ("X-Trace:abc", ("X-Trace", "abc")),
        ("  Accept  :  application/json  ", ("Accept", "application/json")),
        ("X-Url: http://a:1/b", ("X-Url", "http://a:1/b")),  # only the first colon splits
        ("X-Empty:", ("X-Empty", "")),
    ],
)
def test_parse_header_ok(text: str, expected: tuple[str, str]) -> None:
    assert parse_header(text) == expected


@pytest.mark.parametrize("text", ["no colon", ": value", "   : value", "Bad Name: v", "X(y): v", ""])
def test_parse_header_bad(text: str) -> None:
    with pytest.raises(ConfigError, match="is not 'Name: value'") as err:
        parse_header(text)
    _assert_fix(err)


# ---------------------------------------------------------------- parse_body


def test_parse_body_none() -> None:
    assert parse_body(None) is None


def test_parse_body_literal() -> None:
    assert parse_body('{"x": 1}') == b'{"x": 1}'
    assert parse_body("") == b""


def test_parse_body_at_file(tmp_path: Path) -> None:
    body = tmp_path / "body.json"
    body.write_bytes(b'{"inputs": [1, 2, 3]}\n\x00\xff')
    assert parse_body(f"@{body}") == b'{"inputs": [1, 2, 3]}\n\x00\xff'


def test_parse_body_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    with pytest.raises(ConfigError, match="cannot read body file") as err:
        parse_body(f"@{missing}")
    _assert_fix(err)
    assert str(missing) in str(err.value)


def test_parse_body_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read body file") as err:
        parse_body(f"@{tmp_path}")
    _assert_fix(err)


# ---------------------------------------------------------------- parse_slo / parse_ms


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("p95=300ms", Slo(95.0, 300.0)),
        ("p99=1s", Slo(99.0, 1000.0)),
        ("p50=80", Slo(50.0, 80.0)),
        ("p99.9=0.5s", Slo(99.9, 500.0)),
        ("p95<=300ms", Slo(95.0, 300.0)),
        (" p90 = 250 ms ", Slo(90.0, 250.0)),
    ],
)
def test_parse_slo_ok(text: str, expected: Slo) -> None:
    assert parse_slo(text) == expected


def test_parse_slo_none() -> None:
    assert parse_slo(None) is None


def test_slo_label() -> None:
    assert Slo(95.0, 300.0).label() == "p95<=300ms"
    assert Slo(99.9, 1000.0).label() == "p99.9<=1000ms"


@pytest.mark.parametrize(
    "text",
    [
        "95=300ms",  # no p
        "p95",  # no threshold
        "p95=",  # empty threshold
        "p95=fast",
        "p95=300us",  # unknown unit
        "p95=-5ms",
        "p95=0ms",
        "p0=300ms",
        "p100=300ms",
        "p150=1s",
        "latency<300ms",
        "",
    ],
)
def test_parse_slo_bad(text: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_slo(text)
    _assert_fix(err)


@pytest.mark.parametrize(("text", "ms"), [("300ms", 300.0), ("0.3s", 300.0), ("80", 80.0), (".5s", 500.0)])
def test_parse_ms(text: str, ms: float) -> None:
    assert parse_ms(text, "x") == pytest.approx(ms)


# ---------------------------------------------------------------- number lists


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1,2,4,8", (1, 2, 4, 8)), ("16", (16,)), (" 1, 4 ,16 ", (1, 4, 16)), ("1,,2,", (1, 2))],
)
def test_parse_int_list_ok(text: str, expected: tuple[int, ...]) -> None:
    assert parse_int_list(text, "--users") == expected


@pytest.mark.parametrize("text", ["", ",", "a", "1,b", "1.5", "0", "1,0", "-2", "1,-4"])
def test_parse_int_list_bad(text: str) -> None:
    with pytest.raises(ConfigError, match=re.escape("--users")) as err:
        parse_int_list(text, "--users")
    _assert_fix(err)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("10,20,40", (10.0, 20.0, 40.0)), ("2.5", (2.5,)), (" 0.5 , 1 ", (0.5, 1.0)), ("1e2", (100.0,))],
)
def test_parse_float_list_ok(text: str, expected: tuple[float, ...]) -> None:
    assert parse_float_list(text, "--rate") == expected


@pytest.mark.parametrize("text", ["", ",", "x", "10,y", "0", "10,0", "-1", "nan", "10,nan"])
def test_parse_float_list_bad(text: str) -> None:
    with pytest.raises(ConfigError, match=re.escape("--rate")) as err:
        parse_float_list(text, "--rate")
    _assert_fix(err)


# ---------------------------------------------------------------- substitute_port


def test_substitute_port_nothing_to_do() -> None:
    assert substitute_port("http://127.0.0.1:8000/", "uvicorn app:app --port 8000") == (
        "http://127.0.0.1:8000/",
        "uvicorn app:app --port 8000",
    )
    assert substitute_port("http://127.0.0.1:8000/", None) == ("http://127.0.0.1:8000/", None)


def test_substitute_port_same_port_in_url_and_launch() -> None:
    url, launch = substitute_port("http://127.0.0.1:{port}/predict", "uvicorn app:app --port {port}")
    m = re.fullmatch(r"http://127\.0\.0\.1:(\d+)/predict", url)
    assert m is not None
    port = m.group(1)
    assert 1 <= int(port) <= 65535
    assert launch == f"uvicorn app:app --port {port}"


def test_substitute_port_url_only() -> None:
    url, launch = substitute_port("http://127.0.0.1:{port}/", None)
    assert "{port}" not in url
    assert launch is None


def test_substitute_port_launch_only() -> None:
    url, launch = substitute_port("http://127.0.0.1:8000/", "app --port {port} --metrics {port}")
    assert url == "http://127.0.0.1:8000/"
    assert launch is not None and "{port}" not in launch
    ports = re.findall(r"\d+", launch)
    assert len(ports) == 2 and ports[0] == ports[1]
