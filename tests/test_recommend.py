"""Recommendations from traits the rules produce on synthetic signals: ids, numbers, and restraint."""

from __future__ import annotations

import random

import pytest

from profiler.analysis.advice.capacity import capacity_section
from profiler.analysis.advice.recommend import recommend
from profiler.analysis.figures.signals import Signals
from profiler.analysis.traits import classify, find_traits
from profiler.schema.report import CapacitySection, Recommendation, UslFit
from tests.test_traits import (
    SCENARIOS,
    USERS,
    capped_signals,
    closed_stages,
    cold_signals,
    cpu_bound_signals,
    errors_signals,
    event_loop_signals,
    gpu_bound_signals,
    gpu_idle_signals,
    io_bound_signals,
    leak_signals,
    make_signals,
    retrograde_signals,
    sessions_signals,
    stage,
    streaming_signals,
    tail_signals,
)


def recs_for(signals: Signals, capacity: CapacitySection | None = None, ncpu: int = 2, processes: int = 1):
    return recommend(find_traits(signals), capacity, ncpu, processes)


def by_id(recs: list[Recommendation], id_: str) -> Recommendation:
    found = [r for r in recs if r.id == id_]
    assert len(found) == 1, (id_, [r.id for r in recs])
    return found[0]


def rec_ids(recs: list[Recommendation]) -> list[str]:
    return [r.id for r in recs]


def test_cpu_bound_one_core_worker_processes() -> None:
    recs = recs_for(cpu_bound_signals(), ncpu=2, processes=1)
    r = by_id(recs, "worker-processes")
    assert r.evidence["ncpu"] == 2
    assert "Run 2 worker processes" in r.action and "--workers 2" in r.action
    assert r.evidence["traits"] == "cpu-bound"
    assert r.evidence["busiest_process_cpu_pct"] == pytest.approx(97.0)
    assert "autoscale-on-cpu" in rec_ids(recs)
    assert "compute-optimised" in by_id(recs, "instance-family").action
    r8 = by_id(recs_for(cpu_bound_signals(ncpu=8), ncpu=8, processes=1), "worker-processes")
    assert "Run 8 worker processes" in r8.action and r8.evidence["ncpu"] == 8


def test_cpu_bound_already_multi_process_gets_no_worker_advice() -> None:
    assert "worker-processes" not in rec_ids(recs_for(cpu_bound_signals(), ncpu=2, processes=2))
    from tests.test_traits import cpu_all_cores_signals

    recs = recs_for(cpu_all_cores_signals(), ncpu=2, processes=2)
    assert "worker-processes" not in rec_ids(recs)
    assert "autoscale-on-cpu" in rec_ids(recs)


def test_io_bound_autoscale_on_concurrency() -> None:
    recs = recs_for(io_bound_signals())
    r = by_id(recs, "autoscale-on-concurrency")
    assert r.evidence["traits"] == "io-bound"
    assert r.evidence["cpu_share_of_latency"] is not None and r.evidence["cpu_share_of_latency"] < 0.05
    assert "general-purpose" in by_id(recs, "instance-family").action
    assert "worker-processes" not in rec_ids(recs) and "autoscale-on-cpu" not in rec_ids(recs)
    # With a measured knee the target concurrency is named.
    cap = CapacitySection(slo_basis="test", knee_users=16)
    r = by_id(recommend(find_traits(io_bound_signals()), cap, 2, 1), "autoscale-on-concurrency")
    assert "about 16 per instance" in r.action and r.evidence["knee_users"] == 16


def test_event_loop_blocked_unblock() -> None:
    r = by_id(recs_for(event_loop_signals(0.9, "time.sleep (blocked_loop.py)")), "unblock-event-loop")
    assert "(time.sleep (blocked_loop.py))" in r.action
    assert "asyncio.to_thread" in r.action
    assert r.evidence["plateau_rps"] == pytest.approx(47.0)
    assert "47 rps" in r.rationale
    plain = by_id(recs_for(event_loop_signals()), "unblock-event-loop")
    assert "time.sleep" not in plain.action
    assert "raise-concurrency-limit" not in rec_ids(recs_for(event_loop_signals()))


def test_concurrency_capped_raise_limit() -> None:
    recs = recs_for(capped_signals())
    r = by_id(recs, "raise-concurrency-limit")
    assert "~2 requests" in r.action
    assert r.evidence["in_service"] == pytest.approx(2.0, abs=0.1)
    assert r.evidence["plateau_rps"] == pytest.approx(39.0)
    assert "autoscale-on-concurrency" in rec_ids(recs)
    assert "unblock-event-loop" not in rec_ids(recs)


def test_memory_growth_memory_limit() -> None:
    recs = recs_for(leak_signals())
    r = by_id(recs, "memory-limit")
    assert "19.53 MiB per 1k requests" in r.action
    assert r.evidence["mib_per_1k_requests"] == pytest.approx(19.53, abs=0.01)
    assert r.evidence["minutes_to_limit"] == pytest.approx(13.6, abs=0.2)
    assert "2048.0 MiB reached in ~14 min" in r.action
    assert "memory-optimised" in by_id(recs, "instance-family").action
    no_eta = by_id(recs_for(leak_signals(times=False)), "memory-limit")
    assert no_eta.evidence["minutes_to_limit"] is None and "reached in" not in no_eta.action


def test_sessions_session_state() -> None:
    r = by_id(recs_for(sessions_signals()), "session-state")
    assert "sticky sessions" in r.action and r.evidence["traits"] == "stateful-sessions"
    assert "session-state" not in rec_ids(recs_for(sessions_signals(cookies=0)))


def test_streaming_least_connections() -> None:
    r = by_id(recs_for(streaming_signals()), "lb-least-connections")
    assert "least connections" in r.action and r.evidence["traits"] == "streaming-responses"


def test_cold_start_warm_up() -> None:
    r = by_id(recs_for(cold_signals()), "warm-up")
    assert r.evidence["requests_to_settle"] == 30
    assert "1000 ms against 5.0 ms" in r.rationale


def test_tail_heavy_tail_latency() -> None:
    r = by_id(recs_for(tail_signals()), "tail-latency")
    assert r.evidence["p99_ms"] == pytest.approx(250.0) or r.evidence["p99_ms"] == pytest.approx(252.0)
    assert f"near {2 * r.evidence['p99_ms']:.0f} ms" in r.action  # type: ignore[operator]
    assert f"after ~{r.evidence['p95_ms']:.0f} ms" in r.action


def test_errors_backpressure() -> None:
    r = by_id(recs_for(errors_signals()), "backpressure")
    assert r.evidence["error_rate_max"] == pytest.approx(0.91)
    assert r.evidence["onset_users"] == 8
    assert "91%" in r.rationale and "HTTP 503" in r.rationale


def test_retrograde_concurrency_limit() -> None:
    r = by_id(recs_for(retrograde_signals()), "concurrency-limit")
    assert "near 4 (" in r.action
    assert r.evidence["peak_users"] == 4
    assert r.evidence["traits"] == "retrograde-scaling"


def test_gpu_underutilized_dynamic_batching() -> None:
    r = by_id(recs_for(gpu_idle_signals()), "dynamic-batching")
    assert "26% busy" in r.rationale


def test_gpu_bound_autoscale_on_gpu() -> None:
    recs = recs_for(gpu_bound_signals())
    assert "autoscale-on-gpu" in rec_ids(recs)
    assert "dynamic-batching" not in rec_ids(recs)


def test_dominant_handoff_optimise_handoff() -> None:
    from tests.test_traits import dominant_signals

    r = by_id(recs_for(dominant_signals()), "optimise-dominant-handoff")
    assert "'model'" in r.action and "90%" in r.action


def slo_capacity(peak: float | None, headroom: float = 0.3, slo_ms: float = 300.0) -> CapacitySection | None:
    rows = ((1, 100.0, 50.0), (2, 200.0, 100.0), (4, 300.0, 250.0), (8, 310.0, 400.0))
    s = make_signals(*(stage(u, x, lat / 2, p95=lat, slo_latency=lat) for u, x, lat in rows))
    return capacity_section(s, slo_ms, f"p95<={slo_ms:g}ms", peak, headroom)


def test_instances_for_peak() -> None:
    recs = recommend([], slo_capacity(1000.0), 2, 1)
    r = by_id(recs, "instances-for-peak")
    assert r.evidence["instances"] == 5  # ceil(1000 * 1.3 / 300)
    assert r.evidence["capacity_rps"] == pytest.approx(300.0)
    assert "Run 5 instances for 1000 rps" in r.action
    assert "300.0 rps each at p95<=300ms" in r.action and "30% headroom" in r.action
    assert rec_ids(recs) == ["instances-for-peak"]


def test_instances_for_peak_when_nothing_meets_the_limit() -> None:
    r = by_id(recommend([], slo_capacity(1000.0, slo_ms=20.0), 2, 1), "instances-for-peak")
    assert "No stage met the latency limit" in r.action
    assert r.evidence["latency_limit_ms"] == 20.0 and "instances" not in r.evidence


def test_no_evidence_no_recommendation() -> None:
    assert recommend([], None, 2, 1) == []
    assert recommend([], slo_capacity(None), 2, 1) == []  # capacity but no peak and no USL
    quiet = make_signals(*closed_stages(USERS, [240.0] * 7))  # no CPU, no probe: nothing to say
    assert classify(quiet) == []
    assert recommend(find_traits(quiet), None, 2, 1) == []


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_recommendation_cites_present_traits(name: str) -> None:
    traits = find_traits(SCENARIOS[name]())
    present = {t.id for t in traits}
    for r in recommend(traits, None, 2, 1):
        cited = str(r.evidence.get("traits", ""))
        assert cited, r  # no capacity given: every recommendation rests on a trait
        assert set(cited.split(",")) <= present, (r.id, cited, present)
        assert r.action.strip() and r.rationale.strip()


def test_instance_family_at_most_once() -> None:
    traits = find_traits(cpu_bound_signals()) + find_traits(leak_signals()) + find_traits(gpu_bound_signals())
    recs = recommend(traits, None, 2, 1)
    fam = [r for r in recs if r.id == "instance-family"]
    assert len(fam) == 1
    assert "GPU-optimised" in fam[0].action  # the scarcest resource wins: GPU, then memory, then CPU
    both = recommend(find_traits(io_bound_signals()) + find_traits(capped_signals()), None, 2, 1)
    assert rec_ids(both).count("autoscale-on-concurrency") == 1
    assert len(rec_ids(both)) == len(set(rec_ids(both)))


def test_usl_concurrency_limit_inside_the_tested_range() -> None:
    def x(n: float) -> float:
        return 100.0 * n / (1 + 0.05 * (n - 1) + 0.001 * n * (n - 1))

    s = make_signals(*(stage(n, x(n), n / x(n) * 1000, slo_latency=n / x(n) * 1000) for n in USERS))
    cap = capacity_section(s, None, None, None, 0.3)
    assert cap is not None and cap.usl is not None and cap.usl.n_star is not None
    r = by_id(recommend([], cap, 2, 1, stages=s.measured), "concurrency-limit")  # 13% below the peak at 64 users
    assert "near 30 (" in r.action
    assert "traits" not in r.evidence and r.evidence["n_star"] == pytest.approx(30.82, abs=0.01)


def test_no_concurrency_limit_from_a_peak_beyond_the_tested_range() -> None:
    # Linear scaling to 64 users with 3% noise: the free USL fit finds a tiny kappa > 0 and puts
    # N* near 490 users, far past anything tested. Nothing measured supports a cap there.
    rnd = random.Random(3)
    rps = [100.0 * n * (1 + rnd.uniform(-0.03, 0.03)) for n in USERS]
    s = make_signals(*(stage(n, x, 10.0, slo_latency=12.0, cpu=1.0 * n) for n, x in zip(USERS, rps, strict=True)))
    cap = capacity_section(s, None, None, None, 0.3)
    assert cap is not None and cap.usl is not None
    assert cap.usl.n_star is not None and cap.usl.n_star > 4 * max(USERS)  # the extrapolated peak
    assert "retrograde-scaling" not in {t.id for t in classify(s)}
    assert "concurrency-limit" not in rec_ids(recommend(find_traits(s), cap, 2, 1))


def test_measured_peak_beats_a_poor_usl_fit() -> None:
    # Retrograde scaling was measured (peak at 4 users); a USL fit too poor to fire on its own
    # (quality 'poor') must not replace that number.
    poor = UslFit(
        sigma=0.2,
        kappa=0.0005,
        **{"lambda": 80.0},
        n_star=40.0,
        peak_rps=300.0,
        r_squared=0.3,
        points=6,
        quality="poor",
    )
    cap = CapacitySection(slo_basis="test", usl=poor)
    assert "concurrency-limit" not in rec_ids(recommend([], cap, 2, 1))
    r = by_id(recommend(find_traits(retrograde_signals()), cap, 2, 1), "concurrency-limit")
    assert "near 4 (" in r.action, r.action
