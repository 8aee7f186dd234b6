"""Bytes and caching, as pure parts: a cache's verdict read from the headers caches send, the keys
that tell identical requests and answers apart, the engine's tally over rows the worker's own
writer wrote, the cache traits' rules and their advice's arithmetic."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from profiler.analysis.advice.caching import reaching_app
from profiler.analysis.advice.recommend import recommend
from profiler.analysis.figures.signals import RoutePayload, Signals
from profiler.analysis.traits.caching import cacheable_responses, low_cache_hit_ratio
from profiler.load.response import body_key, cache_of, flags_of, request_body, request_key, verdict
from profiler.runfolder.engine import RequestTable
from profiler.runfolder.names import REQUESTS
from profiler.runfolder.records import FLAG_CACHE_HEADERS, REQUEST_COLUMNS_V3
from profiler.runfolder.write import RequestLog


class Headers(dict[str, str]):
    """A client's case-insensitive header mapping, as far as the readers use it."""

    def __init__(self, **items: str) -> None:
        super().__init__({k.lower().replace("_", "-"): v for k, v in items.items()})

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(name.lower())

    def get(self, name: str, default: object = None) -> str | None:  # type: ignore[override]
        return super().get(name.lower(), default)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("HIT", "hit"),
        ("Hit from cloudfront", "hit"),
        ("TCP_MEM_HIT", "hit"),
        ("MISS", "miss"),
        ("Miss from cloudfront", "miss"),
        ("TCP_REFRESH_MISS", "miss"),
        ("EXPIRED", "miss"),
        ("STALE", "stale"),
        ("UPDATING", "stale"),
        ("REVALIDATED", "hit"),
        ("BYPASS", "bypass"),
        ("DYNAMIC", "bypass"),
        ("HIT, MISS", "hit"),  # two layers: the one nearest the client answered
        ("weird", "other"),
        ("", ""),
    ],
)
def test_a_caches_verdict_is_read_in_the_words_caches_use(value: str, expected: str) -> None:
    assert verdict(value) == expected


def test_the_verdict_comes_from_the_cache_headers_then_server_timing_then_age() -> None:
    assert cache_of(Headers(X_Cache_Status="HIT"), "") == "hit"  # nginx
    assert cache_of(Headers(CF_Cache_Status="DYNAMIC"), "") == "bypass"  # Cloudflare
    assert cache_of(Headers(X_Cache="MISS from squid"), "") == "miss"
    assert cache_of(Headers(), 'db;dur=3, cache;desc="hit";dur=0.2') == "hit"  # the app's own
    assert cache_of(Headers(), "cache;dur=1") == ""  # no desc: no verdict
    assert cache_of(Headers(Age="12"), "") == "hit"  # only a cache sets Age
    assert cache_of(Headers(Age="0"), "") == ""  # fresh from the origin, or not known
    assert cache_of(Headers(Content_Type="text/html"), "") == ""


def test_cache_headers_are_a_flag_of_the_response() -> None:
    assert FLAG_CACHE_HEADERS in flags_of(Headers(ETag='"abc"'))
    assert FLAG_CACHE_HEADERS in flags_of(Headers(Cache_Control="max-age=60"))
    assert FLAG_CACHE_HEADERS not in flags_of(Headers(Content_Type="application/json"))


@given(st.sampled_from(["GET", "POST"]), st.text(max_size=40), st.binary(max_size=64))
def test_identical_requests_share_a_key_and_a_changed_part_changes_it(method: str, url: str, body: bytes) -> None:
    key = request_key(method, url, body)
    assert key == request_key(method, url, body) and len(key) == 8
    assert key != request_key(method, url + "x", body)
    assert body_key(body) == body_key(bytes(body))


def test_a_request_body_is_read_from_the_clients_arguments() -> None:
    assert request_body(b"raw") == b"raw"
    assert request_body("text") == b"text"
    assert request_body(None, {"q": 1}) == b'{"q":1}'
    assert request_body() == b""


def _table(tmp_path: Path, rows: list[tuple[float, int, str, tuple[object, ...], str]]) -> RequestTable:
    """rows: (latency, status, flags, (req_bytes, req_key, body_crc, cache), route name)."""
    log = RequestLog(tmp_path)
    for i, (latency, status, flags, facts, name) in enumerate(rows):
        log.add(1_700_000_000.0 + i * 0.01, latency, latency, status, 100, "", 0, "main", flags, "", "GET", name,
                facts=facts)  # fmt: skip
    log.close()
    return RequestTable.read(tmp_path / REQUESTS, {})


def test_the_tally_counts_repeats_per_request_and_times_hits_apart_from_misses(tmp_path: Path) -> None:
    rows = [(2.0, 200, "", (10, "a", "x", "hit"), "/i")] * 6  # one request, the same answer six times
    rows += [(20.0, 200, FLAG_CACHE_HEADERS, (10, "b", f"y{i}", "miss"), "/i") for i in range(4)]  # changes
    rows += [(30.0, 500, "", (10, "c", "z", "miss"), "/i")]  # a failure: no figure counts it
    t = _table(tmp_path, rows).payload()
    assert t.responses == 10 and t.keyed == 10 and t.distinct_requests == 2
    assert t.repeats == 5 and t.repeat_share == pytest.approx(0.5)  # 5 of the 6 "a" answers repeat
    assert t.cache_headers_share == pytest.approx(0.4)
    assert t.verdicts == {"hit": 6, "miss": 4} and t.hit_ratio == pytest.approx(0.6)
    assert t.hit_ms == (2.0, 2.0) and t.miss_ms == (20.0, 20.0)
    assert t.request_bytes_mean == 10.0 and t.response_bytes_mean == 100.0


def test_a_folder_before_format_4_has_no_payload_figures_only_not_known(tmp_path: Path) -> None:
    header = ",".join(REQUEST_COLUMNS_V3)
    cells = ["1700000000.0", "5", "5", "200", "100", "", "0", "main"] + [""] * (len(REQUEST_COLUMNS_V3) - 8)
    cells[REQUEST_COLUMNS_V3.index("method")], cells[REQUEST_COLUMNS_V3.index("name")] = "GET", "/"
    (tmp_path / REQUESTS).write_text(f"{header}\n{','.join(cells)}\n")
    t = RequestTable.read(tmp_path / REQUESTS, {}).payload()
    assert t.responses == 1 and t.repeat_share is None and t.request_bytes_mean is None and t.reported == 0


def _signals(**payload: object) -> Signals:
    base: dict[str, object] = dict(route="GET /i", share=1.0, responses=500, repeat_share=0.95, distinct_requests=50,
                                   cache_headers_share=0.0, response_bytes_mean=2048.0)  # fmt: skip
    return Signals(stages=(), payload=(RoutePayload(**{**base, **payload}),))  # type: ignore[arg-type]


def test_cacheable_needs_repeats_no_cache_headers_no_cache_and_enough_answers() -> None:
    found = cacheable_responses(_signals())
    assert found is not None and found.data.route == "GET /i" and found.trait.confidence >= 0.9
    assert cacheable_responses(_signals(repeat_share=0.3)) is None
    assert cacheable_responses(_signals(cache_headers_share=0.9)) is None  # the app says how: its choice
    assert cacheable_responses(_signals(responses=10)) is None
    assert cacheable_responses(_signals(reported=500, hit_ratio=0.9)) is None  # a cache answers it already
    # One test URL always repeats: the app is deterministic, which says nothing of real traffic's hits.
    assert cacheable_responses(_signals(distinct_requests=1)) is None


def test_low_hit_ratio_needs_a_cache_that_misses_and_a_miss_dearer_than_a_hit() -> None:
    low = dict(reported=400, hit_ratio=0.2, hit_p50_ms=0.5, miss_p50_ms=8.0)
    assert low_cache_hit_ratio(_signals(**low)) is not None
    assert low_cache_hit_ratio(_signals(**{**low, "hit_ratio": 0.8})) is None
    assert low_cache_hit_ratio(_signals(**{**low, "miss_p50_ms": 0.6})) is None  # misses as cheap: no matter
    assert low_cache_hit_ratio(_signals(**{**low, "reported": 5})) is None


def test_the_fleet_a_cache_saves_is_the_share_of_requests_still_reaching_the_app() -> None:
    assert reaching_app(1.0, 0.9) == pytest.approx(0.1)
    assert reaching_app(0.5, 0.9) == pytest.approx(0.55)  # half the mix cached at 90%
    found = cacheable_responses(_signals(share=0.5))
    assert found is not None
    (rec,) = [r for r in recommend([found], None, 2, 1) if r.id == "add-response-cache"]
    assert rec.evidence["instances_of_10"] == 6 and rec.evidence["reaching_app_share"] == 0.55
    assert rec.evidence["capacity_rps_with_cache"] is None  # no capacity measured: no rps said
