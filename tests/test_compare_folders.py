"""`profiler compare` on synthetic run folders (no load: benchmarks/analyze_large writes them):
its speed on 50 000 requests a run, the notes that say what limits a comparison, and how rules
read a comparison that lacks what they ask for."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from benchmarks.analyze_large import write_run
from profiler.base.errors import ConfigError, RunFolderError
from profiler.compare import compare_runs
from profiler.compare.bootstrap import MEAN, change_interval
from profiler.compare.failon import judge_fail_on, parse_fail_on
from profiler.compare.metrics import STAGE_BY_NAME
from profiler.compare.runs import _floor
from profiler.compare.verdict import judged
from profiler.report import json_file
from profiler.report.saved import load_report


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("synthetic")
    write_run(root / "a", 3000, 1, "desc")
    write_run(root / "b", 3000, 2, "desc")  # another seed: two runs of one app
    return root / "a", root / "b"


def test_two_runs_of_50k_requests_compare_in_well_under_a_few_seconds(tmp_path: Path) -> None:
    write_run(tmp_path / "a", 50_000, 1, "desc")
    write_run(tmp_path / "b", 50_000, 2, "desc")
    for folder in (tmp_path / "a", tmp_path / "b"):
        json_file.save(load_report(folder), folder)  # as a run leaves it: report.json in place
    t0 = time.perf_counter()
    c = compare_runs(tmp_path / "a", tmp_path / "b")
    took = time.perf_counter() - t0
    assert took < 3.0, f"compare of 2 x 50k requests took {took:.2f} s"  # ~0.4 s on 2 shared cores
    assert [sd.load for sd in c.stages][-1] == "64 users" and not c.unmatched
    verdicts = {m.verdict for sd in c.stages for m in sd.metrics}
    assert verdicts == {"no change"}, [(sd.load, m.metric, m.verdict) for sd in c.stages for m in sd.metrics]
    assert all(m.ci_low_pct is not None for sd in c.stages for m in sd.metrics if m.metric != "rss")


def test_a_run_that_ended_early_and_a_stage_cut_short_are_said(pair: tuple[Path, Path], tmp_path: Path) -> None:
    a, b = pair
    report = load_report(b)
    stages = list(report.load.stages)
    stages[2] = stages[2].model_copy(update={"completed": False, "cut_short": "interrupted"})
    run = report.run.model_copy(update={"status": "interrupted", "stop_reason": "Ctrl-C"})
    cut = report.model_copy(update={"run": run, "load": report.load.model_copy(update={"stages": stages})})
    folder = tmp_path / "cut"
    write_run(folder, 3000, 2, "desc")
    json_file.save(cut, folder)
    c = compare_runs(a, folder)
    assert "4 users (base only)" in c.unmatched and "4 users" not in [sd.load for sd in c.stages]
    assert any("new run ended early: interrupted (Ctrl-C)" in n for n in c.notes), c.notes
    assert any("4 users (interrupted)" in n and "left out" in n for n in c.notes), c.notes
    result = judge_fail_on([parse_fail_on("p95@4users:+10%")], c)[0]
    assert result.outcome == "unknown" and "no stage at 4 users was measured whole in both runs" in result.detail


def test_rules_on_missing_figures_are_unknown_and_a_rule_against_the_direction_is_said(
    pair: tuple[Path, Path],
) -> None:
    c = compare_runs(*pair)
    unknown, improves, fine = judge_fail_on(
        [parse_fail_on("handoff:absent:+10%"), parse_fail_on("p95:-10%"), parse_fail_on("handoff:model:+10%")], c
    )
    assert unknown.outcome == "unknown" and "handoff:absent was not measured in both runs" in unknown.detail
    assert improves.outcome == "pass" and "fails on an improvement (lower is better)" in improves.detail
    assert fine.outcome == "pass" and "improvement" not in fine.detail


def test_a_folder_that_is_not_a_run_is_one_line(pair: tuple[Path, Path], tmp_path: Path) -> None:
    with pytest.raises(RunFolderError) as e:
        compare_runs(pair[0], tmp_path / "nothing")
    assert "\n" not in str(e.value) and "nothing" in str(e.value)


def test_the_noise_floor_is_a_parameter(pair: tuple[Path, Path]) -> None:
    with pytest.raises(ConfigError, match="noise floor"):
        compare_runs(*pair, noise_floor_pct=-1)
    p95 = [m for sd in compare_runs(*pair, noise_floor_pct=0.0).stages for m in sd.metrics if m.metric == "p95"]
    assert all(m.significant == (m.ci_low_pct is not None and (m.ci_low_pct > 0 or m.ci_high_pct < 0)) for m in p95)


def test_a_percentile_resting_on_a_few_requests_has_twice_the_floor(pair: tuple[Path, Path]) -> None:
    stage = load_report(pair[0]).load.stages[0]
    small, large = stage.model_copy(update={"requests": 999}), stage.model_copy(update={"requests": 1000})
    assert _floor(STAGE_BY_NAME["p99"], small, large, 10.0) == 20.0
    assert _floor(STAGE_BY_NAME["p99"], large, large, 10.0) == 10.0
    assert _floor(STAGE_BY_NAME["p50"], small, small, 10.0) == 10.0
    assert _floor(STAGE_BY_NAME["rps"], small, small, 10.0) == 10.0


def test_cpu_sampled_in_ticks_at_light_load_is_no_change() -> None:
    """At 3-5% of a core each 100 ms sample reads 0 or 10 (CPU time is charged in 10 ms ticks):
    9 ticks against 13 in a 2.7 s stage is that counting's noise, not a 45% regression."""
    base = np.array([10.0] * 9 + [0.0] * 18)
    new = np.array([10.0] * 13 + [0.0] * 14)
    i = change_interval(base * 10 / 46.5, new * 10 / 45.7, MEAN)
    assert i is not None and i.change > 40 and i.low < 0 < i.high
    assert judged("cpu_ms_per_request", "ms/request", "lower-is-better", 0.72, 1.05, i, True, 25.0).verdict == (
        "no change"
    )


def _more_cpu(folder: Path, out: Path, factor: float, steal: float) -> Path:
    """A copy of the run in `folder` at `out` whose target used `factor` times the CPU, in every
    sample and every stage, and whose first stage lost `steal` % of the machine to its hypervisor."""
    write_run(out, 3000, 2, "desc")
    lines = []
    for line in (folder / "samples.jsonl").read_text().splitlines():
        sample = json.loads(line)
        sample["target"]["cpu"] *= factor
        lines.append(json.dumps(sample))
    (out / "samples.jsonl").write_text("\n".join(lines) + "\n")
    report = load_report(folder)
    stages = [s.model_copy(update={"target_cpu_pct": (s.target_cpu_pct or 0.0) * factor}) for s in report.load.stages]
    stages[0] = stages[0].model_copy(update={"machine_steal_pct": steal})
    json_file.save(report.model_copy(update={"load": report.load.model_copy(update={"stages": stages})}), out)
    return out


def test_steal_explains_a_timing_change_up_to_its_multiple_and_no_further(
    pair: tuple[Path, Path], tmp_path: Path
) -> None:
    a, b = pair

    def cpu_verdict(steal: float, name: str) -> tuple[str, float | None]:
        folder = _more_cpu(b, tmp_path / name, 1.3, steal)
        m = next(m for m in compare_runs(a, folder).stages[0].metrics if m.metric == "cpu_ms_per_request")
        return m.verdict, m.change_pct

    # About +30% CPU per request: 5% steal (10x = 50%) could account for it, 2.5% (25%) could not.
    verdict, change = cpu_verdict(5.0, "stolen")
    assert verdict == "unknown" and change is not None and 25 < change < 50, change
    assert cpu_verdict(2.5, "little")[0] == "worse"
    assert cpu_verdict(0.0, "none")[0] == "worse"
