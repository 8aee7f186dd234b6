"""`profiler run --sweep`: the same load plan on each configuration of the target, each kept as a
run folder, and the configuration the measurement supports per capacity, core and GB."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from benchmarks.analyze_large import write_run
from profiler.analysis.advice.sweep import sweep_picks, sweep_point
from profiler.base.errors import ConfigError
from profiler.cli.run_options import parse_sweep
from profiler.report.saved import load_report
from profiler.schema.sweep import SweepPoint, SweepSummary
from tests.conftest import APPS, assert_no_traceback, read_report, run_cli

SERVERS = APPS / "servers"
BIN = Path(sys.executable).parent


def test_sweep_options_are_read_or_refused() -> None:
    assert parse_sweep(["workers=1,2,4"]) == {"workers": ["1", "2", "4"]}
    assert parse_sweep(["workers=1,2", "threads=2,2,4"]) == {"workers": ["1", "2"], "threads": ["2", "4"]}
    for bad, says in [("workers", "NAME=V1,V2"), ("workers=1;rm", "mangle"), ("1w=2", "NAME=V1,V2")]:
        with pytest.raises(ConfigError, match=says):
            parse_sweep([bad])
    with pytest.raises(ConfigError, match="more than 12"):
        parse_sweep(["a=1,2,3,4", "b=1,2,3,4"])


def _point(values: str, capacity: float | None, cores: float | None, rss: float | None, *flags: str) -> SweepPoint:
    return SweepPoint(
        values={"workers": values}, folder=f"runs/workers-{values}", status="completed", capacity_rps=capacity,
        cores_used=cores, rss_mb=rss, rps_per_core=capacity / cores if capacity and cores else None,
        rps_per_gb=capacity / (rss / 1024) if capacity and rss else None, flags=list(flags),
    )  # fmt: skip


def test_picks_come_from_the_measurement_and_leave_flagged_points_out() -> None:
    points = [
        _point("1", 160.0, 1.0, 60.0),  # 160 rps/core, 2731 rps/GB
        _point("2", 300.0, 2.0, 110.0),  # 150 rps/core, 2793 rps/GB, the most capacity
        _point("4", 320.0, 2.0, 220.0, "4 workers on 2 cores: more than this machine can run at once"),
    ]
    picks = {p.by: p for p in sweep_picks(points)}
    assert picks["capacity"].values == {"workers": "2"}  # 4 had more, but it is flagged
    assert picks["per-core"].values == {"workers": "1"} and "160 rps per core used" in picks["per-core"].reason
    assert picks["per-gb"].values == {"workers": "2"}
    assert "1 flagged configuration(s) left out" in picks["capacity"].reason
    everything_flagged = sweep_picks([_point("8", 100.0, 2.0, 100.0, "the load generator was saturated")])
    assert "every configuration is flagged" in everything_flagged[0].reason


def test_a_placeholder_missing_from_launch_is_one_usage_line(tmp_path: Path) -> None:
    result = run_cli("run", "http://127.0.0.1:{port}/", "--launch", "python app.py --port {port}",
                     "--sweep", "workers=1,2", "--out", str(tmp_path / "s"))  # fmt: skip
    assert_no_traceback(result)
    assert result.code == 2 and "no {workers} placeholder" in result.stderr, result.output
    no_launch = run_cli("run", "http://127.0.0.1:8000/", "--pid", "1", "--sweep", "workers=1,2")
    assert no_launch.code == 2 and "needs --launch" in no_launch.stderr
    assert not (tmp_path / "s").exists()  # nothing started


@pytest.mark.slow
def test_a_sweep_over_uvicorn_workers_keeps_each_run_and_picks_what_it_measured(tmp_path: Path) -> None:
    root = tmp_path / "sweep"
    launch = (
        f"{BIN / 'uvicorn'} asgi_cpu:app --app-dir {SERVERS} --port {{port}} --workers {{workers}} --log-level warning"
    )
    result = run_cli(
        "run", "http://127.0.0.1:{port}/predict", "--launch", launch, "--sweep", "workers=1,2",
        "--users", "1,4,16", "--duration", "9", "--no-pyspy", "--peak-rps", "500", "--out", str(root), timeout=300,
    )  # fmt: skip
    assert_no_traceback(result)
    assert result.code == 0, result.output
    summary = SweepSummary.model_validate_json((root / "sweep.json").read_text())
    assert [p.values for p in summary.points] == [{"workers": "1"}, {"workers": "2"}]
    one, two = summary.points
    for point in summary.points:  # each configuration is a whole run folder of its own
        report = read_report(Path(point.folder))
        assert report["target"]["command"].endswith("--log-level warning") and report["plan"] is not None
    assert (one.workers, two.workers) == (1, 2)
    # Each point is measured on its own server: two workers are two interpreters, so more memory. (Not more
    # cores: on a 2-core machine the load generator shares them, and both points can top out near one.)
    assert two.rss_mb is not None and one.rss_mb is not None and two.rss_mb > one.rss_mb * 1.3
    assert two.cores_used is not None and one.cores_used is not None
    clean = [p for p in summary.points if not p.flags] or summary.points
    picks = {p.by: p.values for p in summary.picks}
    assert picks["capacity"] == max(clean, key=lambda p: p.capacity_rps or 0).values  # what was measured
    assert picks["per-core"] == max(clean, key=lambda p: p.rps_per_core or 0).values
    assert "Sweep over workers=1,2" in result.stdout and "Most capacity:" in result.stdout
    again = run_cli("analyze", one.folder, "--json")
    assert again.code == 0 and json.loads(again.stdout)["plan"]["envelope"]["capacity_rps"] == one.capacity_rps
    planned = run_cli("plan", str(root))  # the sweep's root plans its most-capacity configuration
    assert planned.code == 0 and "Hosting plan" in planned.stdout, planned.output


def _synthetic_sweep(root: Path, picked: bool = True) -> SweepSummary:
    """A sweep's root as `profiler run --sweep` leaves it, with no load: two synthetic run folders
    (benchmarks/analyze_large.py) and sweep.json, its points read from their reports."""
    points = []
    for seed, workers in enumerate(("1", "2"), 1):
        write_run(root / f"workers-{workers}", 2000, seed, "desc")
        # Recorded as run from another folder: plan finds each one by name under the root it is given.
        points.append(
            sweep_point({"workers": workers}, f"elsewhere/workers-{workers}", load_report(root / f"workers-{workers}"))
        )
    summary = SweepSummary(launch="app -w {workers}", axes={"workers": ["1", "2"]}, points=points,
                           picks=sweep_picks(points) if picked else [])  # fmt: skip
    (root / "sweep.json").write_text(summary.model_dump_json())
    return summary


def test_plan_on_a_sweeps_root_plans_its_most_capacity_pick(tmp_path: Path) -> None:
    summary = _synthetic_sweep(tmp_path)
    pick = next(p for p in summary.picks if p.by == "capacity")
    chosen = tmp_path / f"workers-{pick.values['workers']}"
    other = tmp_path / f"workers-{'1' if pick.values['workers'] == '2' else '2'}"
    for extra in ([], ["--json"], ["--k8s"]):
        from_root, direct = run_cli("plan", str(tmp_path), *extra), run_cli("plan", str(chosen), *extra)
        assert_no_traceback(from_root)
        assert from_root.code == direct.code == 0, from_root.output
        assert from_root.stdout == direct.stdout  # stdout is the plan alone: --json and --k8s stay pipeable
        note = from_root.stderr
        assert f"planning {chosen}" in note and "most capacity" in note and str(other) in note, note


def test_plan_on_a_sweep_that_picked_nothing_lists_its_folders(tmp_path: Path) -> None:
    _synthetic_sweep(tmp_path, picked=False)
    result = run_cli("plan", str(tmp_path))
    assert_no_traceback(result)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.code == 2 and len(lines) == 1 and not result.stdout, result.output
    assert "picked no configuration" in lines[0]
    assert str(tmp_path / "workers-1") in lines[0] and str(tmp_path / "workers-2") in lines[0]
