"""Bounded, validated options: a value out of range is one ConfigError line, never a plan or a traceback."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from profiler.base.config import (
    MAX_RATE,
    MAX_SLO_MS,
    MAX_USERS,
    MIN_STAGE_S,
    OPTION_BOUNDS,
    RunConfig,
    check_option,
    check_options,
    parse_header,
    parse_rates,
    parse_slo,
    parse_users,
    validate_url,
)
from profiler.base.errors import ConfigError
from profiler.load.plan import build_plan, check_plan
from tests.conftest import assert_no_traceback, run_cli

# ---------------------------------------------------------------- headers


@pytest.mark.parametrize("value", ["a\r\nX-Evil: 1", "a\nb", "a\rb", "a\x00b", "tail\n", "a\x7fb"])
def test_header_with_a_line_break_or_control_char_is_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="line break or control character") as err:
        parse_header(f"X-Api-Key: {value}")
    assert "X-Api-Key" in str(err.value) and value.strip() not in str(err.value)


def test_header_with_a_tab_is_kept() -> None:
    assert parse_header("X-A: a\tb") == ("X-A", "a\tb")


@given(st.text(min_size=1, max_size=30).filter(lambda s: ":" not in s))
def test_a_malformed_header_never_repeats_its_text(text: str) -> None:
    secret = "Zq" + text + "Zq"
    with pytest.raises(ConfigError, match="is not 'Name: value'") as err:
        parse_header(f"Authorization Bearer {secret}")
    assert secret not in str(err.value)


# ---------------------------------------------------------------- host names


@pytest.mark.parametrize(
    "host",
    ["a" * 64, "a" * 64 + ".example.com", "x." + "b" * 70 + ".com", "a..b", ".", "-" * 300, ("a" * 60 + ".") * 5],
)
@pytest.mark.parametrize("allow_remote", [False, True])
def test_host_labels_over_63_characters_are_one_config_error(host: str, allow_remote: bool) -> None:
    with pytest.raises(ConfigError, match="not a valid name") as err:
        validate_url(f"http://{host}:8000/", allow_remote=allow_remote)
    assert err.value.fix


@pytest.mark.parametrize("host", ["a" * 63 + ".example.com", "my_service", "localhost.", "xn--bcher-kva.example"])
def test_valid_host_names_pass_the_name_check(host: str) -> None:
    assert validate_url(f"http://{host}:8000/", allow_remote=True)


# ---------------------------------------------------------------- users, rates


@pytest.mark.parametrize("text", ["1", "1,2,4", str(MAX_USERS), f"1,{MAX_USERS}"])
def test_users_within_bounds(text: str) -> None:
    assert max(parse_users(text)) <= MAX_USERS


@pytest.mark.parametrize("text", [str(MAX_USERS + 1), "99999999999999999999", "1,2,1000000"])
def test_users_over_the_bound(text: str) -> None:
    with pytest.raises(ConfigError, match="--users .* <= 100,000"):
        parse_users(text)


@pytest.mark.parametrize("text", ["0.5", "10,20", str(int(MAX_RATE)), "1e6"])
def test_rates_within_bounds(text: str) -> None:
    assert max(parse_rates(text)) <= MAX_RATE


@pytest.mark.parametrize("text", ["1000001", "1e7", "1e400", "nan", "inf", "10,2e6"])
def test_rates_out_of_bounds(text: str) -> None:
    with pytest.raises(ConfigError, match="--rate"):
        parse_rates(text)


# ---------------------------------------------------------------- SLO


@pytest.mark.parametrize("text", ["p95=3600s", "p99=3600000ms", "p50=1"])
def test_slo_up_to_an_hour(text: str) -> None:
    slo = parse_slo(text)
    assert slo is not None and slo.threshold_ms <= MAX_SLO_MS


@pytest.mark.parametrize("text", ["p95=3601s", "p95=3600001", "p95=1" + "0" * 400, "p95=" + "9" * 400 + "ms"])
def test_slo_over_an_hour_or_infinite(text: str) -> None:
    with pytest.raises(ConfigError, match="over an hour") as err:
        parse_slo(text)
    assert "inf" not in str(err.value)


# ---------------------------------------------------------------- number options


@pytest.mark.parametrize("option", sorted(OPTION_BOUNDS))
@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan, 1e300, -1.0])
def test_every_number_option_refuses_inf_nan_and_huge(option: str, bad: float) -> None:
    if bad == -1.0 and OPTION_BOUNDS[option][1] <= -1.0:
        pytest.skip("in range")
    with pytest.raises(ConfigError, match=f"{option} .* out of range"):
        check_option(option, bad)


@given(st.sampled_from(sorted(OPTION_BOUNDS)), st.floats(min_value=0, max_value=1))
def test_every_number_option_accepts_its_range(option: str, share: float) -> None:
    _field, low, high = OPTION_BOUNDS[option]
    value = low + (high - low) * share
    assert check_option(option, value) == value
    assert check_option(option, None) is None


def test_check_options_looks_at_every_field(tmp_path: Path) -> None:
    base = RunConfig(url="http://127.0.0.1:8000/", out=tmp_path)
    assert check_options(base) is base
    for option, (field, _low, _high) in OPTION_BOUNDS.items():
        with pytest.raises(ConfigError, match=option):
            check_options(dataclasses.replace(base, **{field: math.inf}))


# ---------------------------------------------------------------- stage length


def _config(tmp_path: Path, **kw: object) -> RunConfig:
    return RunConfig(url="http://127.0.0.1:8000/", out=tmp_path, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kw",
    [
        {"duration_s": 42.0},
        {"duration_s": 42.0, "max_users": MAX_USERS},
        {"duration_s": 3.0, "users": (1, 2)},
        {"duration_s": 1.0, "users": (4,)},
        {"duration_s": 5.0, "rates": (10.0,) * 10},
        {"duration_s": 25.0, "max_users": 1000, "stage_count": 50},
    ],
)
def test_plans_with_stages_of_half_a_second_or_more(tmp_path: Path, kw: dict[str, object]) -> None:
    config = _config(tmp_path, **kw)
    assert check_plan(config) is config
    assert all(s.planned_s >= MIN_STAGE_S for s in build_plan(config))


@pytest.mark.parametrize(
    ("kw", "at_least"),
    [
        ({"duration_s": 1.0, "max_users": 64}, "4"),  # 1,2,4..64: 7 stages
        ({"duration_s": 10.0, "users": tuple(range(1, 41))}, "20"),
        ({"duration_s": 2.0, "rates": (1.0, 2.0, 3.0, 4.0, 5.0)}, "3"),
        ({"duration_s": 20.0, "max_users": 1000, "stage_count": 50}, "25"),
    ],
)
def test_plans_with_shorter_stages_name_duration(tmp_path: Path, kw: dict[str, object], at_least: str) -> None:
    with pytest.raises(ConfigError, match="--duration") as err:
        check_plan(_config(tmp_path, **kw))
    assert f"at least {at_least}," in str(err.value)


# ---------------------------------------------------------------- the CLI


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--users", "99999999999999999999"], "--users"),
        (["--users", "100001"], "--users"),
        (["--rate", "2000000"], "--rate"),
        (["--rate", "1e400"], "--rate"),
        (["--slo", "p95=1" + "0" * 400], "over an hour"),
        (["--slo", "p95=2h"], "over an hour"),
        (["--slo", "p95=fast"], "not a duration"),
        (["--timeout", "inf"], "--timeout"),
        (["--ready-timeout", "1e9"], "--ready-timeout"),
        (["--duration", "inf"], "--duration"),
        (["--peak-rps", "inf"], "--peak-rps"),
        (["--memory-limit", "inf"], "--memory-limit"),
        (["--duration", "1", "--users", "64"], "--duration"),
        (["-H", "X-A: 1\r\nX-B: 2"], "line break"),
    ],
)
def test_out_of_range_options_are_one_line(extra: list[str], needle: str, tmp_path: Path) -> None:
    out = tmp_path / "r"
    result = run_cli("run", "http://127.0.0.1:8000/", "--pid", "1", *extra, "--out", str(out))
    assert_no_traceback(result)
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert result.code == 2 and len(lines) == 1, result.output
    assert needle in lines[0] and "Fix:" in lines[0]
    assert not out.exists()  # refused before anything started


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--peak-rps", "inf"], "--peak-rps"),
        (["--memory-limit", "inf"], "--memory-limit"),
        (["--slo", "p99=99999s"], "hour"),
    ],
)
def test_analyze_bounds_its_options_too(extra: list[str], needle: str, tmp_path: Path) -> None:
    result = run_cli("analyze", str(tmp_path), *extra)  # an empty folder: the option is refused first
    assert_no_traceback(result)
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert result.code == 2 and len(lines) == 1 and needle in lines[0], result.output
