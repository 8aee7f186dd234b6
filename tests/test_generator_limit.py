"""The load generator as a leg of the run: when it is the limit (one of its processes near a core,
or the machine's cores full and mostly its), the stage says so in validity, its capacity is a
floor, no trait about the target's plateau is drawn from it, and the advice is about the
measurement. Pure functions on synthetic stages; tests/test_where_time_pipeline.py has nginx."""

from __future__ import annotations

import dataclasses

from profiler.analysis import traits as T
from profiler.analysis.advice.capacity import capacity_section
from profiler.analysis.advice.recommend import recommend
from profiler.analysis.figures.generator import generator_limit
from profiler.analysis.validity import validity
from profiler.schema.report import EnergySection, GpuSection, LatencyStats, ResourceSection, RunInfo, StageReport
from tests.test_traits import closed_stages, make_signals


def _lat(p50: float) -> LatencyStats:
    return LatencyStats(count=100, mean=p50, p50=p50, p90=p50 * 2, p95=p50 * 2, p99=p50 * 3, max=p50 * 4)


def report_stage(index: int, gen: float | None, busiest: float | None, target: float, machine: float) -> StageReport:
    return StageReport(
        index=index, users=2**index, measured_s=6.0, completed=True, requests=6000, rps=1000.0, ok_rps=1000.0,
        latency=_lat(1.0), ttfb=_lat(1.0), error_rate=0.0, bytes_per_request=100.0, target_cpu_pct=target,
        loadgen_cpu_pct=gen, loadgen_busiest_cpu_pct=busiest, machine_cpu_pct=machine, server_timing_coverage=0.0,
        profiled=False,
    )  # fmt: skip


def test_one_generator_process_near_a_core_is_the_limit() -> None:
    limit = generator_limit(report_stage(1, 98.0, 98.0, 12.0, 60.0), target_here=True)
    assert limit is not None and limit.what == "process" and "98% of a core" in limit.reason


def test_two_generator_processes_filling_the_machine_are_the_limit_though_each_is_under_a_core() -> None:
    # --workers 2 on 2 cores beside a C server at 20%: each process at 85%, the machine at 97%.
    limit = generator_limit(report_stage(1, 170.0, 85.0, 20.0, 97.0), target_here=True)
    assert limit is not None and limit.what == "machine"


def test_a_target_that_fills_the_machine_itself_is_not_the_generators_limit() -> None:
    assert generator_limit(report_stage(1, 60.0, 60.0, 130.0, 97.0), target_here=True) is None
    # A target elsewhere: this machine's cores say nothing of its share of them.
    assert generator_limit(report_stage(1, 170.0, 85.0, 20.0, 97.0), target_here=False) is None


def test_validity_names_the_stage_once_and_not_also_as_a_saturated_machine() -> None:
    stages = [report_stage(0, 50.0, 50.0, 10.0, 40.0), report_stage(1, 170.0, 85.0, 20.0, 97.0)]
    resources = ResourceSection(samples=10, target_source="processes", ncpu=2, gpu=GpuSection(available=False),
                                energy=EnergySection())  # fmt: skip
    section = validity(
        stages,
        resources,
        RunInfo(folder="run", started_at=0.0, status="completed", profiler_version="test", folder_format=3),
        None,
    )
    by_id = {(i.id, i.stage) for i in section.issues}
    assert ("generator-limited", 1) in by_id and ("generator-limited", 0) not in by_id
    assert ("machine-saturated", 1) not in by_id  # said once, as the generator's limit
    assert not section.valid


def plateau_at_the_generator() -> list:
    """A fast target behind a generator at its limit from stage 1: throughput flat, CPU idle,
    a probe waiting like the real requests (what read as a blocked event loop)."""
    stages = closed_stages((1, 4, 16, 64), [4400.0, 7400.0, 8400.0, 8600.0], [0.2, 0.5, 1.9, 7.4], cpu=12.0,
                           probe_p50=[0.4, 0.6, 1.9, 5.2])  # fmt: skip
    stages = [dataclasses.replace(s, slo_latency=s.p95, generator_limited=s.users != 1) for s in stages]
    return stages


def test_no_plateau_trait_is_drawn_from_stages_the_generator_limited() -> None:
    stages = plateau_at_the_generator()
    limited = make_signals(*stages)
    found = {f.id for f in T.find_traits(limited)}
    assert not found & {"event-loop-blocked", "concurrency-capped", "cpu-bound", "io-bound", "retrograde-scaling"}
    # The same numbers measured by a generator with room are a plateau the rules do read.
    free = make_signals(*(dataclasses.replace(s, generator_limited=False) for s in stages))
    assert {f.id for f in T.find_traits(free)} & {"event-loop-blocked", "concurrency-capped"}


def test_capacity_is_a_floor_limited_by_the_generator_and_the_advice_is_about_the_measurement() -> None:
    signals = make_signals(*plateau_at_the_generator())
    cap = capacity_section(signals, 100.0, "p95<=100ms", 20000.0, 0.3)
    assert cap is not None and cap.capacity_rps == 8600.0
    assert cap.capacity_is_lower_bound and cap.limited_by == "generator" and cap.limiting_stage == 3
    assert cap.knee_users is None and cap.usl is None  # one stage measured the target: no curve to fit
    limited = [s for s in signals.delivered if s.generator_limited]
    recs = recommend(T.find_traits(signals), cap, 2, 1, stages=signals.measured, generator_limited=limited)
    first = recs[0]
    assert first.id == "measure-with-more-load" and "--workers" in first.action
    assert first.evidence["stages"] == "1, 2, 3" and first.evidence["floor_rps"] == 8600.0
    peak = next(r for r in recs if r.id == "instances-for-peak")
    assert "load generator was the limit" in peak.action
    assert not {r.id for r in recs} & {"unblock-event-loop", "raise-worker-pool", "worker-processes"}


def test_a_stage_over_the_latency_limit_by_the_generators_queueing_ends_capacity_as_the_generator() -> None:
    stages = plateau_at_the_generator()
    cap = capacity_section(make_signals(*stages), 2.0, "p95<=2ms", None, 0.3)
    assert cap is not None and cap.capacity_stage == 1 and cap.limited_by == "generator"
    assert cap.capacity_is_lower_bound


def test_a_plateau_at_the_generator_is_not_called_the_targets_saturation() -> None:
    stages = [report_stage(i, 99.0, 99.0, 12.0, 70.0) for i in range(4)]
    stages = [s.model_copy(update={"rps": r, "ok_rps": r, "latency": _lat(p)})
              for s, r, p in zip(stages, [4400.0, 7400.0, 8400.0, 8500.0], [0.2, 0.5, 1.9, 7.4], strict=True)]  # fmt: skip
    resources = ResourceSection(samples=10, target_source="processes", ncpu=2, gpu=GpuSection(available=False),
                                energy=EnergySection())  # fmt: skip
    run = RunInfo(folder="run", started_at=0.0, status="completed", profiler_version="test", folder_format=3)
    assert "closed-model-latency" not in {i.id for i in validity(stages, resources, run, None).issues}
    freed = [s.model_copy(update={"loadgen_cpu_pct": 40.0, "loadgen_busiest_cpu_pct": 40.0}) for s in stages]
    assert "closed-model-latency" in {i.id for i in validity(freed, resources, run, None).issues}
