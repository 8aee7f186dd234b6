"""Each example app through the real pipeline: the expected trait appears, the contrary ones do not.

Real uvicorn targets on 127.0.0.1, real Locust load, real sampling (and real py-spy where the
test is about code attribution). Runs are short (2-3 s a stage); the rules' margins are set so
that these verdicts hold on a noisy 2-core machine.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, assert_no_traceback, read_report, run_cli

pytestmark = pytest.mark.slow
EXAMPLES = ROOT / "examples"


def profile(tmp_path: Path, example: str, *args: str, pyspy: bool = False) -> dict:
    out = tmp_path / example
    cli = [
        "run",
        "http://127.0.0.1:{port}/predict",
        "--launch",
        f"{sys.executable} {EXAMPLES / example}.py --port {{port}}",
        "--out",
        str(out),
        "--quiet",
        *args,
    ]
    if not pyspy:
        cli.append("--no-pyspy")
    result = run_cli(*cli, timeout=180)
    assert_no_traceback(result)
    assert result.code == 0, result.output
    return read_report(out)


def trait_ids(report: dict) -> set[str]:
    return {t["id"] for t in report["traits"]}


def test_cpu_bound_is_named_and_py_spy_finds_the_hot_function(tmp_path: Path) -> None:
    report = profile(tmp_path, "cpu_bound", "--users", "1,2,4,8", "--duration", "10", pyspy=True)
    ids = trait_ids(report)
    assert "cpu-bound" in ids
    assert not ids & {"io-bound", "event-loop-blocked", "concurrency-capped"}
    # py-spy ran on a dedicated stage, which capacity does not use
    code = report["code"]
    assert code["available"], code
    profiled = code["profiled_stages"]
    assert profiled and all(s["profiled"] == (s["index"] in profiled) for s in report["load"]["stages"])
    assert report["capacity"]["from_unprofiled_stages"] is True
    assert report["capacity"]["capacity_stage"] not in profiled
    top = [f["function"] for f in code["per_stage"][0]["top_self"][:3]]
    assert any(f.startswith("burn (cpu_bound.py") for f in top), top
    assert any(r["id"] == "worker-processes" for r in report["recommendations"])


def test_io_bound_scales_with_concurrency(tmp_path: Path) -> None:
    report = profile(tmp_path, "io_bound", "--users", "1,4,16", "--duration", "9")
    ids = trait_ids(report)
    assert "io-bound" in ids
    assert not ids & {"cpu-bound", "event-loop-blocked", "concurrency-capped"}


def test_blocked_event_loop_is_not_cpu_or_io_bound(tmp_path: Path) -> None:
    report = profile(tmp_path, "blocked_loop", "--users", "1,2,4,8", "--duration", "10", pyspy=True)
    ids = trait_ids(report)
    assert "event-loop-blocked" in ids
    assert not ids & {"cpu-bound", "io-bound", "concurrency-capped"}
    blocked = next(t for t in report["traits"] if t["id"] == "event-loop-blocked")
    # py-spy saw the blocking call sitting on the event loop's stack
    assert blocked["evidence"]["values"]["blocking_on_loop_share"] >= 0.5
    assert "predict" in blocked["evidence"]["values"]["blocking_function"]
    assert any(r["id"] == "unblock-event-loop" for r in report["recommendations"])


def test_concurrency_cap_is_told_apart_from_a_blocked_loop(tmp_path: Path) -> None:
    report = profile(tmp_path, "concurrency_capped", "--users", "1,2,4,8", "--duration", "10")
    ids = trait_ids(report)
    assert "concurrency-capped" in ids
    assert not ids & {"event-loop-blocked", "cpu-bound", "io-bound"}
    capped = next(t for t in report["traits"] if t["id"] == "concurrency-capped")
    assert 1.4 <= capped["evidence"]["values"]["in_service"] <= 2.8  # asyncio.Semaphore(2)


def test_memory_growth_with_slope(tmp_path: Path) -> None:
    report = profile(tmp_path, "memory_leak", "--users", "4,8", "--duration", "10")
    mem = next(t for t in report["traits"] if t["id"] == "memory-growth")
    # 20 KB per request kept: ~19.5 MiB per 1k requests, plus allocator overhead
    assert 12 <= mem["evidence"]["values"]["mib_per_1k_requests"] <= 40
    assert any(r["id"] == "memory-limit" for r in report["recommendations"])


def test_io_bound_app_shows_no_memory_growth(tmp_path: Path) -> None:
    report = profile(tmp_path, "io_bound", "--users", "4,8", "--duration", "6")
    assert "memory-growth" not in trait_ids(report)


def test_stateful_sessions(tmp_path: Path) -> None:
    report = profile(tmp_path, "sessions", "--users", "2,4", "--duration", "4")
    assert "stateful-sessions" in trait_ids(report)


def test_streaming_responses(tmp_path: Path) -> None:
    report = profile(tmp_path, "streaming", "--users", "2,4", "--duration", "4")
    ids = trait_ids(report)
    assert "streaming-responses" in ids
    assert "tail-heavy" not in ids


def test_cold_start(tmp_path: Path) -> None:
    report = profile(tmp_path, "cold_start", "--users", "1,2,4", "--duration", "9")
    ids = trait_ids(report)
    assert "cold-start" in ids
    assert "tail-heavy" not in ids


def test_tail_heavy_is_not_a_cold_start(tmp_path: Path) -> None:
    report = profile(tmp_path, "tail_heavy", "--users", "1,2", "--duration", "8")
    ids = trait_ids(report)
    assert "tail-heavy" in ids
    assert "cold-start" not in ids


def test_errors_under_load(tmp_path: Path) -> None:
    report = profile(tmp_path, "errors_under_load", "--users", "2,4,8,16", "--duration", "8")
    errs = next(t for t in report["traits"] if t["id"] == "errors-under-load")
    assert errs["evidence"]["values"]["main_error"] == "HTTP 503"


def test_retrograde_scaling(tmp_path: Path) -> None:
    report = profile(tmp_path, "retrograde", "--users", "1,2,4,8,16", "--duration", "12", "--no-early-stop")
    ids = trait_ids(report)
    assert "retrograde-scaling" in ids
    assert "io-bound" not in ids


def test_demo_dominant_handoff_matches_handoffs(tmp_path: Path) -> None:
    report = profile(tmp_path, "demo_app", "--users", "1,2,4", "--duration", "6")
    dom = next(t for t in report["traits"] if t["id"] == "dominant-handoff")
    assert dom["subject"] == report["handoffs"]["dominant"] == "model"
