"""Plateau, knee, USL fit and capacity on synthetic stages: pure and fast."""

from __future__ import annotations

import math
import random

import pytest

from profiler.analysis.advice.capacity import LIGHT_MULTIPLE, MAX_ERROR_RATE, capacity_section
from profiler.analysis.figures import scaling
from profiler.analysis.figures.scaling import Usl, closed_points, find_plateau, fit_usl, knee
from profiler.analysis.figures.signals import Signals
from tests.test_traits import (
    CPU_RPS,
    IO_P50,
    IO_RPS,
    USERS,
    capped_signals,
    closed_stages,
    cpu_bound_signals,
    io_bound_signals,
    make_signals,
    stage,
)

NS = (1, 2, 4, 8, 16, 32, 64)


def usl_x(n: float, sigma: float = 0.05, kappa: float = 0.001, lam: float = 100.0) -> float:
    return lam * n / (1 + sigma * (n - 1) + kappa * n * (n - 1))


# -- fit_usl -------------------------------------------------------------------------------------


def test_fit_usl_recovers_exact_parameters() -> None:
    u = fit_usl([(n, usl_x(n)) for n in NS])
    assert u is not None
    assert u.sigma == pytest.approx(0.05, rel=0.02)
    assert u.kappa == pytest.approx(0.001, rel=0.02)
    assert u.lam == pytest.approx(100.0, rel=0.02)
    assert u.n_star == pytest.approx(math.sqrt(0.95 / 0.001), rel=0.02)
    assert u.r_squared > 0.99
    assert u.quality == "good"
    assert u.points == len(NS)
    # N* is the model's maximum.
    assert u.n_star is not None
    assert u.throughput(u.n_star) >= max(u.throughput(u.n_star - 1), u.throughput(u.n_star + 1))


@pytest.mark.parametrize("seed", range(20))
def test_fit_usl_with_three_percent_noise(seed: int) -> None:
    rnd = random.Random(seed)
    u = fit_usl([(n, usl_x(n) * (1 + rnd.uniform(-0.03, 0.03))) for n in NS])
    assert u is not None
    assert u.sigma == pytest.approx(0.05, rel=0.2)
    assert u.kappa == pytest.approx(0.001, rel=0.2)
    assert u.lam == pytest.approx(100.0, rel=0.05)
    assert u.n_star == pytest.approx(math.sqrt(0.95 / 0.001), rel=0.2)
    assert u.r_squared > 0.99


def test_fit_usl_needs_six_distinct_concurrencies() -> None:
    five = [(n, usl_x(n)) for n in (1, 2, 4, 8, 16)]
    assert fit_usl(five) is None
    assert fit_usl(five + five) is None  # repeats add no information
    assert fit_usl([]) is None
    # Points with no throughput (or N < 1) do not count.
    assert fit_usl(five + [(32.0, 0.0)]) is None
    assert fit_usl(five + [(0.5, 10.0)]) is None
    assert fit_usl(five + [(32.0, usl_x(32))]) is not None
    assert scaling.USL_MIN_POINTS == 6


def test_fit_usl_linear_data_has_no_kappa() -> None:
    u = fit_usl([(n, 100.0 * n) for n in NS])
    assert u is not None
    assert u.kappa == 0.0
    assert u.n_star is None
    assert u.sigma == pytest.approx(0.0, abs=1e-9)
    assert u.lam == pytest.approx(100.0)


def test_fit_usl_amdahl_data() -> None:
    u = fit_usl([(n, usl_x(n, sigma=0.1, kappa=0.0)) for n in NS])
    assert u is not None
    assert u.kappa == pytest.approx(0.0, abs=1e-9)
    assert u.sigma == pytest.approx(0.1, rel=0.02)
    assert u.n_star is None or u.n_star > 1e3


def test_fit_usl_on_the_retrograde_example_curve() -> None:
    # retrograde.py as measured: peak at 4 users, then falling. The fitted model must be physical
    # (0 <= sigma <= 1) and put N* near the measured peak, not at 0.
    pts = [(1, 76.0), (2, 118.0), (4, 133.0), (8, 115.0), (16, 65.0), (32, 49.0)]
    u = fit_usl(pts)
    assert u is not None
    assert 0 <= u.sigma <= 1, u
    assert u.kappa > 0
    assert u.n_star is not None and 2 <= u.n_star <= 8, u
    assert u.quality != "poor", u


def test_fit_usl_never_returns_negative_coefficients() -> None:
    # Super-linear noise (a negative free-fit sigma/kappa) is refit with kappa = 0.
    pts = [(1, 100.0), (2, 215.0), (4, 430.0), (8, 830.0), (16, 1700.0), (32, 3300.0), (64, 6500.0)]
    u = fit_usl(pts)
    assert u is not None
    assert u.sigma >= 0 and u.kappa >= 0


def test_usl_quality_thresholds() -> None:
    assert Usl(0.1, 0.0, 1.0, 0.9, 6).quality == "good"
    assert Usl(0.1, 0.0, 1.0, 0.89, 6).quality == "fair"
    assert Usl(0.1, 0.0, 1.0, 0.7, 6).quality == "fair"
    assert Usl(0.1, 0.0, 1.0, 0.69, 6).quality == "poor"
    assert Usl(0.1, 0.0, 1.0, 1.0, 6).n_star is None
    assert Usl(0.19, 0.01, 1.0, 1.0, 6).n_star == pytest.approx(9.0)


# -- find_plateau / knee / closed_points --------------------------------------------------------


def test_find_plateau_cpu_bound() -> None:
    p = find_plateau(cpu_bound_signals().stages)
    assert p is not None
    assert p.stage == 0 and p.users == 1
    assert p.rps == pytest.approx(max(CPU_RPS))
    assert p.last_users == 64
    assert p.growth == pytest.approx(CPU_RPS[-1] / CPU_RPS[0])


def test_find_plateau_after_growth() -> None:
    p = find_plateau(capped_signals().stages)
    assert p is not None
    assert (p.stage, p.users, p.rps, p.last_users) == (1, 2, 39.0, 8)


def test_find_plateau_absent() -> None:
    assert find_plateau(io_bound_signals().stages) is None  # still growing
    assert find_plateau([]) is None
    assert find_plateau(make_signals(stage(1, 240.0, 4.0)).stages) is None
    # Flat, but concurrency never (nearly) doubled past the first flat stage.
    assert find_plateau(make_signals(*closed_stages((8, 10, 12), [240.0, 241.0, 240.0])).stages) is None
    # Open model: no users, no plateau.
    opened = make_signals(*(stage(None, r, 5.0, rate=r) for r in (10.0, 20.0, 40.0)))
    assert find_plateau(opened.stages) is None


def test_find_plateau_thresholds() -> None:
    # Later stages add exactly PLATEAU_GROWTH: still growing. Just under: a plateau.
    grow = scaling.PLATEAU_GROWTH
    at = make_signals(*closed_stages((1, 2, 4), [100.0, 100.0 * grow, 100.0 * grow]))
    assert find_plateau(at.stages) is not None and find_plateau(at.stages).stage == 1  # type: ignore[union-attr]
    under = make_signals(*closed_stages((1, 2, 4), [100.0, 100.0 * grow - 0.01, 100.0]))
    p = find_plateau(under.stages)
    assert p is not None and p.stage == 0 and p.last_users == 4
    # 1 -> 2 users is enough concurrency (>= PLATEAU_USERS x); 10 -> 18 is not.
    assert find_plateau(make_signals(*closed_stages((1, 2), [100.0, 101.0])).stages) is not None
    assert find_plateau(make_signals(*closed_stages((10, 18), [100.0, 101.0])).stages) is None


def test_find_plateau_skips_empty_and_failing_stages() -> None:
    stages = make_signals(
        stage(1, 0.0, 0.0, requests=0),  # no traffic
        stage(2, 80.0, 25.0, error_rate=1.0),  # all failed: ok_rps 0
        stage(4, 160.0, 25.0),
        stage(8, 165.0, 48.0),
        stage(16, 166.0, 96.0),
    ).stages
    p = find_plateau(stages)
    assert p is not None
    assert p.stage == 2 and p.users == 4 and p.rps == 166.0


def test_knee_is_the_peak_of_power() -> None:
    s = make_signals(
        stage(1, 100.0, 10.0),  # power 10
        stage(2, 200.0, 10.0),  # 20
        stage(4, 300.0, 13.0),  # 23.1
        stage(8, 310.0, 26.0),  # 11.9
        stage(16, 310.0, 52.0),
    )
    k = knee(s.stages)
    assert k is not None and k.users == 4


def test_knee_excludes_failing_and_empty_stages() -> None:
    s = make_signals(
        stage(1, 100.0, 10.0),
        stage(2, 200.0, 10.0),
        stage(4, 3000.0, 1.0, error_rate=0.05),  # fast errors look powerful: excluded
        stage(8, 0.0, 0.0, requests=0),
    )
    k = knee(s.stages)
    assert k is not None and k.users == 2
    assert knee(s.stages[:1]) is None
    assert knee([]) is None


def test_closed_points() -> None:
    s = make_signals(
        stage(1, 100.0, 10.0),
        stage(2, 0.0, 0.0, requests=0),
        stage(None, 50.0, 10.0, rate=50.0),
        stage(4, 300.0, 13.0, error_rate=0.5),
    )
    assert closed_points(s.stages) == [(1.0, 100.0), (4.0, 150.0)]
    assert all(isinstance(n, float) for n, _ in closed_points(s.stages))


# -- capacity_section ----------------------------------------------------------------------------


def slo_signals(errors: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0), **kw: object) -> Signals:
    rows = ((1, 100.0, 50.0), (2, 200.0, 100.0), (4, 300.0, 250.0), (8, 310.0, 400.0))
    return make_signals(
        *(
            stage(u, x / (1 - e), lat / 2, p95=lat, slo_latency=lat, error_rate=e)
            for (u, x, lat), e in zip(rows, errors, strict=True)
        ),
        **kw,
    )


def test_capacity_with_slo() -> None:
    c = capacity_section(slo_signals(), 300.0, "p95<=300ms", None, 0.3)
    assert c is not None
    assert c.capacity_rps == pytest.approx(300.0)
    assert c.capacity_stage == 2 and c.capacity_users == 4
    assert c.latency_limit_ms == 300.0
    assert c.slo == "p95<=300ms" and c.slo_basis == "SLO p95<=300ms"
    assert c.max_rps == pytest.approx(310.0)
    assert c.instances_needed is None  # no peak asked for
    assert c.from_unprofiled_stages is True


def test_capacity_excludes_failing_stages() -> None:
    c = capacity_section(slo_signals(errors=(0.0, 0.0, 0.02, 0.0)), 300.0, "p95<=300ms", None, 0.3)
    assert c is not None and c.capacity_rps == pytest.approx(200.0) and c.capacity_stage == 1
    # Exactly MAX_ERROR_RATE still counts.
    c = capacity_section(slo_signals(errors=(0.0, 0.0, MAX_ERROR_RATE, 0.0)), 300.0, "p95<=300ms", None, 0.3)
    assert c is not None and c.capacity_stage == 2


def test_capacity_none_meets_the_slo() -> None:
    c = capacity_section(slo_signals(), 20.0, "p95<=20ms", 1000.0, 0.3)
    assert c is not None
    assert c.capacity_rps is None and c.capacity_stage is None
    assert c.instances_needed is None
    assert c.max_rps == pytest.approx(310.0)


def test_capacity_without_slo_uses_three_times_light_load() -> None:
    rows = ((1, 100.0, 10.0), (2, 200.0, 12.0), (4, 300.0, 25.0), (8, 310.0, 40.0))
    s = make_signals(*(stage(u, x, p95 / 1.5, p95=p95, slo_latency=p95) for u, x, p95 in rows))
    c = capacity_section(s, None, None, None, 0.3)
    assert c is not None
    assert LIGHT_MULTIPLE == 3.0
    assert c.latency_limit_ms == pytest.approx(30.0)
    assert c.capacity_stage == 2 and c.capacity_rps == pytest.approx(300.0)
    assert c.slo is None and "3x light-load p95" in c.slo_basis


def test_capacity_light_load_skips_a_cold_first_stage() -> None:
    # The first stage's p95 is inflated by a cold start; the better of the two lightest is used.
    rows = ((1, 100.0, 60.0), (2, 200.0, 10.0), (4, 300.0, 25.0), (8, 310.0, 40.0))
    s = make_signals(*(stage(u, x, 5.0, p95=p95, slo_latency=p95) for u, x, p95 in rows))
    c = capacity_section(s, None, None, None, 0.3)
    assert c is not None and c.latency_limit_ms == pytest.approx(30.0) and c.capacity_stage == 2


@pytest.mark.parametrize(
    ("peak", "headroom", "expected"),
    [(1000.0, 0.3, 5), (900.0, 0.0, 3), (901.0, 0.0, 4), (100.0, 0.3, 1), (3000.0, 0.5, 20), (3000.0, 0.9, 100)],
)
def test_instances_needed(peak: float, headroom: float, expected: int) -> None:
    """Headroom is the spare capacity kept at the peak: the fleet runs at most (1 - headroom) busy."""
    c = capacity_section(slo_signals(), 300.0, "p95<=300ms", peak, headroom)
    assert c is not None
    assert c.instances_needed == expected == max(1, math.ceil(round(peak / (300.0 * (1 - headroom)), 9)))
    assert c.peak_rps == peak and c.headroom == headroom


def test_capacity_excludes_profiled_stages() -> None:
    base = slo_signals()
    spied = stage(16, 500.0, 50.0, p95=100.0, slo_latency=100.0, profiled=True, index=4)
    s = make_signals(*base.stages, spied)
    c = capacity_section(s, 300.0, "p95<=300ms", 1000.0, 0.3)
    assert c is not None
    assert c.capacity_stage == 2 and c.capacity_rps == pytest.approx(300.0)
    assert c.max_rps == pytest.approx(310.0)
    assert c.from_unprofiled_stages is True


def test_capacity_all_profiled_says_so() -> None:
    import dataclasses

    s = make_signals(*(dataclasses.replace(st, profiled=True) for st in slo_signals().stages))
    c = capacity_section(s, 300.0, "p95<=300ms", None, 0.3)
    assert c is not None
    assert c.capacity_stage == 2
    assert c.from_unprofiled_stages is False


def test_capacity_none_without_stages() -> None:
    assert capacity_section(Signals(stages=()), 300.0, "p95<=300ms", 1000.0, 0.3) is None
    zero = make_signals(stage(1, 0.0, 0.0, requests=0), stage(2, 0.0, 0.0, requests=0))
    assert capacity_section(zero, None, None, 1000.0, 0.3) is None


def test_capacity_knee_and_usl() -> None:
    rows = ((1, 100.0, 10.0), (2, 200.0, 10.0), (4, 300.0, 13.0), (8, 310.0, 26.0), (16, 310.0, 52.0))
    s = make_signals(*(stage(u, x, p50, slo_latency=p50 * 1.2) for u, x, p50 in rows))
    c = capacity_section(s, None, None, None, 0.3)
    assert c is not None
    assert c.knee_users == 4
    assert c.usl is None  # 5 stages < USL_MIN_POINTS
    # Power still rising at the last stage: the knee lies beyond the test.
    io = capacity_section(io_bound_signals(), None, None, None, 0.3)
    assert io is not None and io.knee_users is None


def test_capacity_usl_from_six_stages() -> None:
    s = make_signals(*(stage(n, usl_x(n), n / usl_x(n) * 1000, slo_latency=n / usl_x(n) * 1000) for n in NS))
    c = capacity_section(s, None, None, None, 0.3)
    assert c is not None and c.usl is not None
    assert c.usl.quality == "good" and c.usl.points == 7
    assert c.usl.kappa == pytest.approx(0.001, rel=0.02)
    assert c.usl.lambda_ == pytest.approx(100.0, rel=0.02)
    assert c.usl.n_star == pytest.approx(math.sqrt(0.95 / 0.001), rel=0.02)
    assert c.usl.peak_rps == pytest.approx(usl_x(math.sqrt(0.95 / 0.001)), rel=0.02)
    # Linear scaling: no N*, no predicted peak.
    lin = make_signals(*closed_stages(USERS, IO_RPS, IO_P50))
    c = capacity_section(lin, None, None, None, 0.3)
    assert c is not None and c.usl is not None and c.usl.n_star is None and c.usl.peak_rps is None


def test_capacity_open_model_has_no_usl() -> None:
    s = make_signals(*(stage(None, r, 5.0, rate=r, slo_latency=6.0) for r in (10.0, 20.0, 40.0, 80.0, 160.0, 320.0)))
    c = capacity_section(s, None, None, None, 0.3)
    assert c is not None
    assert c.usl is None
    assert c.capacity_rps == pytest.approx(320.0)
