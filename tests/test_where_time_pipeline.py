"""Where the time goes, through the real pipeline, on apps that send no Server-Timing and start
their server themselves (`waitress.serve`): real waitress, real Locust load, real py-spy with
thread ids, each thread's CPU time from /proc. The category, the function doing the work and the
trait come from the stacks alone.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conftest import assert_no_traceback, read_report, run_cli

pytestmark = pytest.mark.slow
SERVERS = Path(__file__).resolve().parent / "apps" / "servers"


def profile(tmp_path: Path, app: str) -> dict:
    out = tmp_path / "run"
    launch = f"{sys.executable} {SERVERS / app} --port {{port}}"
    result = run_cli("run", "http://127.0.0.1:{port}/predict", "--launch", launch, "--users", "1,2,4",
                     "--duration", "9", "--out", str(out), timeout=240)  # fmt: skip
    assert_no_traceback(result)
    assert result.code == 0, result.output
    report = read_report(out)
    report["_stdout"] = result.stdout
    return report


def top(report: dict) -> dict:
    where = report["where_time_goes"]
    assert where["available"], where
    return where["overall"]["categories"][0]


def traits(report: dict) -> dict[str, dict]:
    return {t["id"]: t for t in report["traits"]}


def test_a_sqlite_scan_reads_as_storage_in_the_query_function_on_a_cpu(tmp_path: Path) -> None:
    report = profile(tmp_path, "sqlite_waitress.py")
    assert report["target"]["server"]["server"] == "waitress"  # from its modules on the stacks
    first = top(report)
    assert first["category"] == "storage" and first["share"] >= 0.5, report["where_time_goes"]
    assert first["top_function"].startswith("scan_items (sqlite_waitress.py)")
    assert first["how"] == "call"  # sqlite3 runs in C: the line that calls execute says it
    # Its thread's CPU time says the scan runs (it was "waiting" to the stacks alone).
    assert "/proc" in report["where_time_goes"]["overall"]["method"]
    assert first["on_cpu_share"] is not None and first["on_cpu_share"] >= 0.3
    found = traits(report)
    assert found["storage-bound"]["subject"].startswith("scan_items")
    advice = " ".join(r["action"] for r in report["recommendations"])
    assert "scan_items" in advice and "wasyncore" not in advice  # never the server's dispatcher
    assert "Where the time goes" in report["_stdout"]
    html = (tmp_path / "run" / "report.html").read_text()
    assert 'data-category="storage"' in html  # its bar in the HTML report


def test_a_large_json_response_reads_as_serialization_with_its_bytes(tmp_path: Path) -> None:
    report = profile(tmp_path, "json_waitress.py")
    first = top(report)
    assert first["category"] == "serialization", report["where_time_goes"]
    assert "json/" in first["top_function"] and first["called_from"].startswith("app (json_waitress.py)")
    assert "serialization-bound" in traits(report)
    rec = next(r for r in report["recommendations"] if r["id"] == "cheaper-serialization")
    assert rec["evidence"]["bytes_per_response"] > 100_000  # ~420 KB of JSON a response
    assert "orjson" in rec["action"]


def test_a_call_to_another_service_reads_as_waiting_downstream(tmp_path: Path) -> None:
    report = profile(tmp_path, "downstream_app.py")
    categories = {c["category"]: c for c in report["where_time_goes"]["overall"]["categories"]}
    downstream = categories["downstream"]
    assert downstream["share"] >= 0.3, categories
    assert downstream["called_from"].startswith("fetch_quote (downstream_app.py)")
    assert downstream["on_cpu_share"] is not None and downstream["on_cpu_share"] < 0.2  # it waits
    assert traits(report)["downstream-bound"]["subject"].startswith("urlopen")
    assert any(r["id"] == "bound-downstream" for r in report["recommendations"])
