"""Streamed (LLM-style) responses read for real while timing: an OpenAI-compatible example with a
known cadence, prefill and token count, measured through the whole pipeline; and the stream
reader on synthetic arrivals (events split across reads, comments, the end marker, usage)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from profiler.load.stream import StreamReader
from tests.conftest import ROOT, CliResult, assert_no_traceback, launch_args, read_report, run_cli

APP = ROOT / "examples" / "llm_stream.py"
CADENCE_MS, PREFILL_MS, TOKENS = 20.0, 30.0, 12


def _chunk(text: str) -> bytes:
    return b"data: " + json.dumps({"choices": [{"index": 0, "delta": {"content": text}}]}).encode() + b"\n\n"


def test_events_split_across_reads_are_timed_when_they_complete() -> None:
    reader = StreamReader(sent=0.0, events=True)
    first = _chunk("a")
    reader.feed(0.010, first[:7])  # half an event: not yet a chunk
    reader.feed(0.012, first[7:] + b": a comment line\n\n")
    reader.feed(0.032, _chunk("b") + _chunk("c")[:5])
    reader.feed(0.052, _chunk("c")[5:])
    reader.feed(0.053, b'data: {"choices": [], "usage": {"completion_tokens": 7}}\n\ndata: [DONE]\n\n')
    reader.finish(0.054)
    s = reader.summary()
    assert s is not None
    assert s.chunks == 4  # three tokens and the usage chunk; the comment and [DONE] are no chunk
    assert s.first_chunk_ms == pytest.approx(12.0) and s.first_token_ms == pytest.approx(12.0)
    assert s.tokens == 7  # the stream's own count wins over the chunks seen
    assert s.itl_ms == pytest.approx((52.0 - 12.0) / 6)
    assert s.gap_max_ms == pytest.approx(20.0)


def test_tokens_are_counted_per_chunk_without_usage_and_not_at_all_for_other_streams() -> None:
    reader = StreamReader(sent=0.0, events=True)
    for i, t in enumerate((0.1, 0.2, 0.3)):
        reader.feed(t, _chunk(f"t{i}") + (b"data: " + json.dumps({"choices": [{"text": ""}]}).encode() + b"\n\n"))
    s = reader.summary()
    assert s is not None and s.tokens == 3 and s.itl_ms == pytest.approx(100.0)
    other = StreamReader(sent=0.0, events=True)
    other.feed(0.1, b'event: tick\ndata: {"index": 1}\n\n')
    other.feed(0.2, b"data: not json\r\n\r\n")
    s2 = other.summary()
    assert s2 is not None and s2.chunks == 2 and s2.tokens is None and s2.first_token_ms is None


def test_a_chunked_body_counts_what_arrives() -> None:
    reader = StreamReader(sent=1.0, events=False)
    for t in (1.005, 1.025, 1.045, 1.045):
        reader.feed(t, b"x")
    reader.feed(1.5, b"")  # nothing arrived: no chunk
    s = reader.summary()
    assert (
        s is not None and s.chunks == 4 and s.gap_p50_ms == pytest.approx(20.0) and s.gap_max_ms == pytest.approx(20.0)
    )
    assert StreamReader(sent=0.0, events=False).summary() is None


def _run(tmp_path: Path, *app_args: str, users: str = "1,8", duration: str = "8s") -> tuple[Path, CliResult]:
    folder = tmp_path / "run"
    result = run_cli(
        "run",
        *launch_args(APP, "/v1/chat/completions", *app_args),
        *("-X", "POST", "--users", users, "--duration", duration, "--no-pyspy", "--out", str(folder)),
        timeout=180,
    )
    assert_no_traceback(result)
    assert result.code == 0, result.output
    return folder, result


@pytest.mark.slow
def test_an_llm_stream_s_cadence_tokens_and_first_token_are_measured(tmp_path: Path) -> None:
    folder, result = _run(
        tmp_path, "--tokens", str(TOKENS), "--cadence-ms", "20", "--prefill-ms", "30", "--prefill-per-stream-ms", "30"
    )
    report = read_report(folder)
    light, heavy = (s["stream"] for s in report["load"]["stages"][:2])
    # the cadence is the app's 20 ms asyncio.sleep between tokens: within a few ms, at any load
    for st in (light, heavy):
        assert CADENCE_MS <= st["gap_p50_ms"] <= CADENCE_MS + 4, st
        assert CADENCE_MS <= st["itl_p50_ms"] <= CADENCE_MS + 4, st
        assert st["tokens_per_response"] == TOKENS and st["tokens"] == TOKENS * st["streamed"]
    # prefill: 30 ms alone; with 8 streams each waits 30 ms more per other stream in flight
    assert PREFILL_MS <= light["first_token_p50_ms"] <= PREFILL_MS + 15, light
    assert heavy["first_token_p50_ms"] >= 3 * light["first_token_p50_ms"], heavy
    traits = {t["id"]: t for t in report["traits"]}
    assert "streaming-responses" in traits and "first-token-queues" in traits, list(traits)
    assert "stream-slows-under-load" not in traits
    recs = {r["id"]: r for r in report["recommendations"]}
    assert recs["lb-least-connections"]["evidence"]["stream_p95_ms"] > TOKENS * CADENCE_MS
    assert "time-to-first-token" in recs
    assert "Streams" in result.stdout and "itl p50" in result.stdout
    with (folder / "requests.csv").open() as fh:
        rows = [r for r in csv.DictReader(fh) if r["kind"] == "main"]
    assert rows and all(r["tokens"] == str(TOKENS) and int(r["chunks"]) == TOKENS + 1 for r in rows if not r["error"])


@pytest.mark.slow
def test_a_shared_generator_shows_as_a_stream_slowing_under_load(tmp_path: Path) -> None:
    folder, _ = _run(tmp_path, "--shared", "--step-ms", "5", "--tokens", "16", duration="6s")
    report = read_report(folder)
    traits = {t["id"]: t for t in report["traits"]}
    assert "stream-slows-under-load" in traits, [t["id"] for t in report["traits"]]
    values = traits["stream-slows-under-load"]["evidence"]["values"]
    assert values["tokens"] is True and values["ratio"] >= 1.5
    assert "first-token-queues" not in traits  # the cadence did not hold: not a queue before generation
    assert "cap-concurrent-streams" in {r["id"] for r in report["recommendations"]}
