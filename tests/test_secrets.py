"""One rule for secrets (`profiler.base.secrets`), applied to every file, report, terminal line and message."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from profiler.base.config import RunConfig
from profiler.base.secrets import (
    MASK,
    is_secret_name,
    mask_argv,
    mask_body,
    mask_command,
    mask_header,
    mask_text,
    mask_url,
)
from profiler.load.spec import LoadSpec
from profiler.report.build import target_info
from profiler.runfolder.meta import RecordedConfig, TargetMeta
from tests.conftest import BASIC_APP, CliResult, assert_no_traceback, read_report, run_cli

# Each secret is unlike anything else in a run folder, so finding it anywhere means it leaked.
SECRETS = {
    "password": "S3cretPass",
    "token": "S3cretTok",
    "api_key": "S3cretKey",
    "bearer": "S3cretBearer",
    "auth_token": "S3cretAuthTok",
    "proxy": "S3cretProxy",
    "cookie": "S3cretCookie",
    "body": "S3cretBody",
}
SECRET_HEADERS = [
    f"X-Api-Key: {SECRETS['api_key']}",
    f"Authorization: Bearer {SECRETS['bearer']}",
    f"X-Auth-Token: {SECRETS['auth_token']}",
    f"Proxy-Authorization: Basic {SECRETS['proxy']}",
    f"Cookie: session={SECRETS['cookie']}",
]
SECRET_BODY = json.dumps({"password": SECRETS["body"], "q": 1})


def _secret_url(port: str = "{port}", path: str = "/timing") -> str:
    return f"http://admin:{SECRETS['password']}@127.0.0.1:{port}{path}?token={SECRETS['token']}&q=1"


def _header_args() -> list[str]:
    return [arg for h in SECRET_HEADERS for arg in ("-H", h)]


def _request_args() -> list[str]:
    """A POST carrying a secret in every header that may hold one and in its JSON body."""
    return [*_header_args(), "-X", "POST", "-d", SECRET_BODY]


def _assert_no_secret(text: str | bytes, where: object = "") -> None:
    data = text.encode() if isinstance(text, str) else text
    leaked = [s for s in SECRETS.values() if s.encode() in data]
    assert not leaked, f"{leaked} in {where}"


def _assert_folder_clean(folder: Path) -> None:
    files = [f for f in folder.rglob("*") if f.is_file()]
    assert files, folder
    for f in files:
        _assert_no_secret(f.read_bytes(), f)


# ---------------------------------------------------------------- the name rule


@pytest.mark.parametrize(
    "name",
    [
        "Authorization",
        "Proxy-Authorization",
        "Cookie",
        "X-Api-Key",
        "api-key",
        "X-Auth-Token",
        "token",
        "access_token",
        "client_secret",
        "DB_PASSWORD",
        "passwd",
        "apiKey",
        "sessionid",
        "api%5Fkey",
    ],
)
def test_secret_names(name: str) -> None:
    assert is_secret_name(name)
    assert mask_header(name, "value") == MASK


@pytest.mark.parametrize("name", ["Content-Type", "Accept", "X-Trace", "q", "page", "User-Agent"])
def test_ordinary_names_are_kept(name: str) -> None:
    assert not is_secret_name(name)
    assert mask_header(name, "value") == "value"


# ---------------------------------------------------------------- URLs


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("http://127.0.0.1:8000/predict", "http://127.0.0.1:8000/predict"),
        ("http://127.0.0.1:8000/x?q=1&page=2#top", "http://127.0.0.1:8000/x?q=1&page=2#top"),
        ("http://admin:pw@127.0.0.1:8000/x", f"http://admin:{MASK}@127.0.0.1:8000/x"),
        ("https://ghp_tok@example.com/repo", f"https://{MASK}@example.com/repo"),
        ("http://h/x?token=abc&q=1", f"http://h/x?token={MASK}&q=1"),
        ("http://h/x?q=1&api_key=abc", f"http://h/x?q=1&api_key={MASK}"),
        ("http://h/cb#access_token=abc&state=1", f"http://h/cb#access_token={MASK}&state=1"),
        ("http://u:p@ss@h:1/?password=x", f"http://u:{MASK}@h:1/?password={MASK}"),
        ("http://h/mail@example.com", "http://h/mail@example.com"),  # an @ in the path is no userinfo
        ("127.0.0.1:8000/x?token=abc", f"127.0.0.1:8000/x?token={MASK}"),  # no scheme: still masked
        ("http://[::1:8000/x?token=abc", f"http://[::1:8000/x?token={MASK}"),  # unparseable: still masked
        ("", ""),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


SECRET_TEXT = st.text(alphabet="abcdefghijkXYZ0123456789-_.~", min_size=4, max_size=20).map(lambda s: "Zq" + s)


@given(
    user=st.sampled_from(["admin", "u", "me.you"]),
    password=SECRET_TEXT,
    name=st.sampled_from(["token", "api_key", "password", "secret", "X-Auth-Token", "sessionid"]),
    value=SECRET_TEXT,
    path=st.sampled_from(["", "/", "/predict", "/a/b.json"]),
)
def test_mask_url_hides_every_secret(user: str, password: str, name: str, value: str, path: str) -> None:
    url = f"http://{user}:{password}@127.0.0.1:8000{path}?q=1&{name}={value}"
    masked = mask_url(url)
    assert password not in masked and value not in masked
    assert masked.startswith(f"http://{user}:{MASK}@127.0.0.1:8000") and "q=1" in masked


@given(st.text(max_size=80))
def test_mask_url_is_idempotent_on_any_text(text: str) -> None:
    once = mask_url(text)
    assert mask_url(once) == once


@given(
    host=st.sampled_from(["127.0.0.1", "localhost:8000", "[::1]:9000"]),
    path=st.text(alphabet="abcxyz0123/-_.", max_size=20),
    query=st.lists(st.tuples(st.sampled_from(["q", "page", "lang", "n"]), st.text("abc123", max_size=5)), max_size=3),
)
def test_mask_url_leaves_a_url_without_secrets_alone(host: str, path: str, query: list[tuple[str, str]]) -> None:
    url = f"http://{host}/{path}" + ("?" + "&".join(f"{k}={v}" for k, v in query) if query else "")
    assert mask_url(url) == url


def test_mask_text_masks_every_url_in_a_sentence() -> None:
    text = f"the target did not answer at {_secret_url('8000')} within 3s; see 'https://tok@h/x'."
    masked = mask_text(text)
    _assert_no_secret(masked)
    assert "tok@" not in masked and masked.endswith("within 3s; see 'https://***@h/x'.")


# ---------------------------------------------------------------- bodies


def test_mask_body_json_fields_at_any_depth() -> None:
    body = {"password": "pw", "q": 1, "user": {"api_key": "k", "name": "ann"}, "items": [{"token": "t"}, 2]}
    masked = json.loads(mask_body(json.dumps(body).encode()))
    assert masked == {"password": MASK, "q": 1, "user": {"api_key": MASK, "name": "ann"}, "items": [{"token": MASK}, 2]}


@pytest.mark.parametrize(
    ("body", "shown"),
    [
        (b"user=ann&password=pw", f"user=ann&password={MASK}"),
        (b"plain text with password pw", "<27 bytes>"),
        (b"\xff\xfe", "<2 bytes>"),
        (b"[1, 2]", "[1, 2]"),
    ],
)
def test_mask_body_other_bodies(body: bytes, shown: str) -> None:
    assert mask_body(body) == shown


# ---------------------------------------------------------------- command lines


def test_mask_argv_keeps_its_rules_and_masks_urls_and_headers() -> None:
    argv = [
        "app",
        "--api-key",
        "sk-1",
        "--token=abc",
        "DB_PASSWORD=pw",
        "postgres://u:pw@h/db",
        "--url=http://h/x?token=t",
        "-H",
        "X-Api-Key: k",
        "--workers",
        "2",
    ]
    assert mask_argv(argv) == (
        "app",
        "--api-key",
        MASK,
        f"--token={MASK}",
        f"DB_PASSWORD={MASK}",
        f"postgres://u:{MASK}@h/db",
        f"--url=http://h/x?token={MASK}",
        "-H",
        f"X-Api-Key: {MASK}",
        "--workers",
        "2",
    )


@pytest.mark.parametrize(
    ("command", "masked"),
    [
        ("python app.py --port 8000", "python app.py --port 8000"),
        ("uvicorn app:app --api-key 'sk 1' --port 8000", f"uvicorn app:app --api-key {MASK} --port 8000"),
        ("sh -c 'serve --token t --port 8000'", f"sh -c 'serve --token {MASK} --port 8000'"),
        ("env API_KEY=k python app.py", f"env API_KEY={MASK} python app.py"),
        ("python 'unbalanced --token t", f"python ''\"'\"'unbalanced' --token {MASK}"),
    ],
)
def test_mask_command(command: str, masked: str) -> None:
    assert mask_command(command) == masked


# ---------------------------------------------------------------- what is recorded


def _config(tmp_path: Path) -> RunConfig:
    return RunConfig(
        url=_secret_url("8000"),
        out=tmp_path,
        launch=f"python app.py --api-key {SECRETS['api_key']}",
        headers=tuple((n.strip(), v.strip()) for n, _, v in (h.partition(":") for h in SECRET_HEADERS)),
        body=SECRET_BODY.encode(),
    )


def test_recorded_config_masks_url_headers_launch_and_body(tmp_path: Path) -> None:
    recorded = RecordedConfig.of(_config(tmp_path))
    _assert_no_secret(recorded.model_dump_json())
    assert recorded.url == f"http://admin:{MASK}@127.0.0.1:8000/timing?token={MASK}&q=1"
    assert recorded.headers[0] == f"X-Api-Key: {MASK}"
    assert recorded.body == f"<{len(SECRET_BODY)} bytes>"


def test_loadgen_spec_copy_is_masked_and_the_worker_gets_the_real_one(tmp_path: Path) -> None:
    config = _config(tmp_path)
    spec = LoadSpec.of(config, (), tmp_path)
    _assert_no_secret(spec.masked().model_dump_json())
    assert spec.url == config.url and spec.body == config.body  # what goes to the worker's stdin


def test_report_target_is_masked_even_from_an_old_folder() -> None:
    # A folder written before masking covered the URL: the report masks it again.
    run = SimpleNamespace(
        meta=SimpleNamespace(
            target=TargetMeta(command=f"python app.py --token {SECRETS['token']}"),
            config=RecordedConfig(url=_secret_url("8000")),
        )
    )
    info = target_info(run)  # type: ignore[arg-type]
    _assert_no_secret(info.model_dump_json())


# ---------------------------------------------------------------- the CLI, before any load


def _one_clean_line(result: CliResult) -> str:
    assert_no_traceback(result)
    _assert_no_secret(result.output, "the CLI's output")
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("url", "extra", "needle"),
    [
        (_secret_url("99999"), [], "invalid port"),
        (_secret_url("8000").replace("127.0.0.1", "a" * 64 + ".example"), [], "not a valid name"),
        (_secret_url("8000").replace("http:", "ftp:"), [], "not an http(s) or ws(s) URL"),
        (_secret_url("8000").replace("127.0.0.1:8000", "[::1:8000"), [], "not a valid URL"),
        (_secret_url("8000"), ["-H", f"Authorization Bearer {SECRETS['bearer']}"], "is not 'Name: value'"),
        (_secret_url("8000"), ["-H", f"X-Api-Key: {SECRETS['api_key']}\r\nX-Evil: 1"], "line break"),
        (_secret_url("8000"), ["--users", "99999999999999999999"], "--users"),
    ],
)
def test_bad_options_never_echo_a_secret(url: str, extra: list[str], needle: str, tmp_path: Path) -> None:
    result = run_cli("run", url, "--pid", "1", *_header_args(), *extra, "--out", str(tmp_path / "r"))
    line = _one_clean_line(result)
    assert result.code == 2 and needle in line, line


def test_a_run_that_stops_at_the_target_keeps_secrets_out_of_its_folder(tmp_path: Path) -> None:
    out = tmp_path / "r"
    result = run_cli(
        "run",
        _secret_url("8000"),
        "--pid",
        "999999999",
        *_request_args(),
        "--out",
        str(out),
    )
    assert result.code == 3, result.output
    _one_clean_line(result)
    _assert_folder_clean(out)


def test_a_launch_command_is_masked_in_the_folder(tmp_path: Path) -> None:
    out = tmp_path / "r"
    launch = f"no-such-binary-xyz --api-key {SECRETS['api_key']} --port {{port}}"
    result = run_cli("run", _secret_url(), "--launch", launch, *_header_args(), "--out", str(out))
    assert result.code == 2, result.output
    _one_clean_line(result)
    _assert_folder_clean(out)


# ---------------------------------------------------------------- a real run


@pytest.mark.slow
def test_a_real_run_leaves_no_secret_anywhere(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = run_cli(
        "run",
        _secret_url(),
        "--launch",
        f"{sys.executable} {BASIC_APP} --port {{port}}",
        "--duration",
        "3",
        "--users",
        "1,2",
        "--no-pyspy",
        *_request_args(),
        "--out",
        str(out),
    )
    assert_no_traceback(result)
    assert result.code == 0, result.output
    _assert_no_secret(result.output, "the CLI's output")
    _assert_folder_clean(out)
    report = read_report(out)
    assert report["load"]["requests"] > 0
    assert report["target"]["url"].startswith(f"http://admin:{MASK}@127.0.0.1:")
    again = run_cli("analyze", str(out), "--json")
    assert again.code == 0, again.output
    _assert_no_secret(again.output, "analyze --json")
