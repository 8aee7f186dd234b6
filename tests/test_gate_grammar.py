"""The check grammar, durations with units, and the gate settings file: pure functions, with
property-based tests for the parsers (a malformed input is one ConfigError, never another error)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from profiler.base.durations import format_duration, parse_duration
from profiler.base.errors import ConfigError
from profiler.gate import plan_gate
from profiler.gate.grammar import Load, parse_check
from profiler.gate.metrics import METRIC_NAMES
from profiler.gate.settings import GateSettings, find_config, load_settings, project_settings

# --- durations -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("2m", 120), ("1m30s", 90), ("500ms", 0.5), ("1h", 3600), ("45", 45), ("1.5s", 1.5), ("2M", 120)],
)
def test_durations_as_locust_and_k6_users_type_them(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "needle"), [("1s1m", "out of order"), ("10x", "'10x'"), ("", "(empty)"), ("s", "'s'")]
)
def test_a_bad_duration_names_the_bad_part(text: str, needle: str) -> None:
    with pytest.raises(ConfigError, match="--duration") as e:
        parse_duration(text, "--duration")
    assert needle in str(e.value)


@given(
    h=st.integers(0, 48),
    m=st.integers(0, 59),
    s=st.integers(0, 59),
    ms=st.integers(0, 999),
)
def test_duration_parts_add_up(h: int, m: int, s: int, ms: int) -> None:
    parts = [f"{v}{u}" for v, u in ((h, "h"), (m, "m"), (s, "s"), (ms, "ms")) if v]
    text = "".join(parts) or "0s"
    assert parse_duration(text) == pytest.approx(h * 3600 + m * 60 + s + ms / 1000)


@given(st.integers(1, 10**6))
def test_formatted_durations_read_back(whole: int) -> None:
    assert parse_duration(format_duration(whole)) == whole
    assert parse_duration(format_duration(whole / 1000)) == pytest.approx(whole / 1000)


@given(st.text(max_size=12))
def test_any_text_is_a_duration_or_one_config_error(text: str) -> None:
    try:
        value = parse_duration(text)
    except ConfigError as e:
        assert "\n" not in str(e)
    else:
        assert value >= 0


# --- checks ----------------------------------------------------------------------------------


def test_checks_from_the_issue_read_as_meant() -> None:
    p95 = parse_check("p95<250ms")
    assert (p95.metric, p95.op, p95.limit, p95.at) == ("p95", "<", 250.0, None)
    assert parse_check("error_rate<1%").limit == pytest.approx(1.0)
    assert parse_check("error_rate<0.01").limit == pytest.approx(1.0)  # a fraction, as k6 writes it
    rps = parse_check("rps>=200")
    assert (rps.op, rps.limit) == (">=", 200.0)
    assert parse_check("capacity_rps>=150").run_level
    at = parse_check("p95@32users<300ms")
    assert at.at == Load(users=32) and at.limit == 300.0
    assert parse_check("p99@40rps<1s").at == Load(rate=40.0)
    assert parse_check("p99 @ stage2 < 0.5s").limit == 500.0
    assert parse_check("rss<1GiB").limit == 1024.0


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("p59<1s", "unknown metric 'p59'"),
        ("p95<<1s", "the limit '<1s'"),
        ("p95=1s", "unknown comparison '='"),
        ("p95<fast", "'fast'"),
        ("p95@32 people<1s", "the load '32 people'"),
        ("capacity_rps@8users>1", "figure of the whole run"),
        ("error_rate<5", "'5'"),
        ("p95", "is not METRIC"),
    ],
)
def test_a_malformed_check_names_the_bad_part(text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_check(text)
    assert needle in str(e.value), str(e.value)


@given(st.text(max_size=30))
def test_any_text_is_a_check_or_one_config_error(text: str) -> None:
    try:
        check = parse_check(text)
    except ConfigError as e:
        assert "\n" not in str(e)
    else:
        assert check.metric in METRIC_NAMES


def test_an_unknown_trait_and_a_rule_without_baseline_are_usage_errors() -> None:
    with pytest.raises(ConfigError, match="memory-growht"):
        plan_gate(GateSettings(forbid_traits=("memory-growht",)))
    with pytest.raises(ConfigError, match="--baseline"):
        plan_gate(GateSettings(fail_on=("p95:+10%",)))
    with pytest.raises(ConfigError, match="nothing to check"):
        plan_gate(GateSettings())


# --- the settings file -----------------------------------------------------------------------


def test_tool_profiler_in_pyproject_is_found_from_a_subfolder_and_the_command_line_wins(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.profiler]\nchecks = ["p95<250ms"]\nforbid-traits = ["memory-growth"]\n'
        'junit = "perf/junit.xml"\n'
    )
    sub = tmp_path / "src" / "app"
    sub.mkdir(parents=True)
    found = project_settings(None, sub)
    assert found.checks == ("p95<250ms",) and found.forbid_traits == ("memory-growth",)
    assert found.junit == tmp_path / "perf" / "junit.xml" and "[tool.profiler]" in (found.source or "")
    merged = found.overridden_by(GateSettings(checks=("p99<1s",)))
    assert merged.checks == ("p99<1s",) and merged.forbid_traits == ("memory-growth",)


def test_profiler_toml_wins_over_pyproject_in_the_same_folder(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.profiler]\nchecks = ["p95<1s"]\n')
    (tmp_path / "profiler.toml").write_text('checks = ["p50<1s"]\n')
    assert find_config(tmp_path) == tmp_path / "profiler.toml"
    assert project_settings(None, tmp_path).checks == ("p50<1s",)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ('chekcs = ["p95<1s"]\n', "unknown key 'chekcs'"),
        ("checks = 5\n", "'checks' must be a list of strings"),
        ("checks = [\n", "not valid TOML"),
        ("baseline = 3\n", "'baseline' must be a path"),
    ],
)
def test_a_bad_settings_file_is_one_usage_error(tmp_path: Path, content: str, needle: str) -> None:
    path = tmp_path / "profiler.toml"
    path.write_text(content)
    with pytest.raises(ConfigError) as e:
        load_settings(path)
    assert needle in str(e.value)
