"""parse_server_timing: the W3C Server-Timing header, as apps really send it."""

from __future__ import annotations

import pytest

from profiler.base.servertiming import ParsedTiming, parse_server_timing


def test_single_entry() -> None:
    parsed = parse_server_timing("db;dur=53.2")
    assert parsed == ParsedTiming({"db": 53.2}, 0)


def test_multiple_entries() -> None:
    parsed = parse_server_timing("db;dur=53, app;dur=47.2, cache;desc=hit;dur=0.1")
    assert parsed.durations == {"db": 53.0, "app": 47.2, "cache": 0.1}
    assert parsed.malformed == 0


def test_whitespace_around_entries_and_params() -> None:
    parsed = parse_server_timing("  db ; dur = 5 ,app;  dur=2  ")
    assert parsed.durations == {"db": 5.0, "app": 2.0}
    assert parsed.malformed == 0


def test_quoted_desc_with_commas_and_semicolons() -> None:
    header = 'db;desc="select a, b; from t";dur=12.5, app;dur=3;desc="x,y;z"'
    parsed = parse_server_timing(header)
    assert parsed.durations == {"db": 12.5, "app": 3.0}
    assert parsed.malformed == 0


def test_quoted_desc_with_escaped_quote() -> None:
    parsed = parse_server_timing(r'db;desc="say \"hi, there\"";dur=4, app;dur=1')
    assert parsed.durations == {"db": 4.0, "app": 1.0}
    assert parsed.malformed == 0


def test_quoted_dur_value() -> None:
    assert parse_server_timing('db;dur="7.5"').durations == {"db": 7.5}


def test_dur_key_is_case_insensitive() -> None:
    assert parse_server_timing("db;DUR=9").durations == {"db": 9.0}


def test_several_headers_joined() -> None:
    # What the worker records when a response carries two Server-Timing headers.
    joined = ", ".join(["db;dur=10", 'app;dur=5;desc="a, b"', "total;dur=16"])
    parsed = parse_server_timing(joined)
    assert parsed.durations == {"db": 10.0, "app": 5.0, "total": 16.0}
    assert parsed.malformed == 0


def test_same_name_twice_is_summed() -> None:
    parsed = parse_server_timing("db;dur=10, app;dur=1, db;dur=2.5")
    assert parsed.durations == {"db": 12.5, "app": 1.0}


def test_entries_without_dur_are_ignored_not_malformed() -> None:
    parsed = parse_server_timing('cache;desc="hit", miss, db;dur=3')
    assert parsed.durations == {"db": 3.0}
    assert parsed.malformed == 0


@pytest.mark.parametrize(
    "bad",
    [
        "bad name;dur=1",  # space inside the name
        "db(x);dur=1",  # ( and ) are not token characters
        '"db";dur=1',  # a quoted name
        ";dur=1",  # no name at all
        "db;dur=abc",
        "db;dur=-1",
        "db;dur=NaN",
        "db;dur=nan",
        "db;dur=inf",
        "db;dur=",
        "db;dur",
    ],
)
def test_malformed_entry_is_skipped_and_counted(bad: str) -> None:
    parsed = parse_server_timing(f"{bad}, app;dur=2")
    assert parsed.durations == {"app": 2.0}
    assert parsed.malformed == 1


def test_several_malformed_entries_are_counted() -> None:
    parsed = parse_server_timing("a;dur=x, b;dur=-3, c;dur=1, bad name;dur=1, d;dur=nan")
    assert parsed.durations == {"c": 1.0}
    assert parsed.malformed == 4


def test_zero_duration_is_valid() -> None:
    parsed = parse_server_timing("db;dur=0")
    assert parsed.durations == {"db": 0.0}
    assert parsed.malformed == 0


@pytest.mark.parametrize("header", [None, "", " ", ",", " , ,"])
def test_empty_or_missing_header(header: str | None) -> None:
    parsed = parse_server_timing(header)
    assert parsed.durations == {}
    assert parsed.malformed == 0
