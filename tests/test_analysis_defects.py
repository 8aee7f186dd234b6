"""Defects of the analysis, each pinned on the exact inputs that showed it: a USL fit that ended in a
division by zero, a report lost to one failing section, capacity that claimed too much, advice
quoted on a flat plateau, memory per connection taken for a leak, a cookie taken for server state."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from profiler.analysis import traits as T
from profiler.analysis.advice.capacity import capacity_section
from profiler.analysis.advice.recommend import recommend
from profiler.analysis.attribution.handoffs import handoff_section
from profiler.analysis.digest import build_signals
from profiler.analysis.figures.load import stage_reports
from profiler.analysis.figures.scaling import Usl, fit_usl
from profiler.analysis.figures.signals import Signals, StageSignal
from profiler.analysis.traits import find_traits
from profiler.base.config import MIB
from profiler.report import build
from profiler.runfolder.read import RunData, read_run
from profiler.schema.report import CapacitySection, Recommendation, Report
from tests.test_record import T0, _end, _make_run, _row, _start
from tests.test_traits import USERS, closed_stages, make_signals, sessions_signals, stage

FLAT_RPS = [240.0, 235.0, 236.0, 234.0, 233.0, 230.0, 228.0]  # sigma capped at 1: N* was 0


def rec(recs: list[Recommendation], id_: str) -> Recommendation | None:
    found = [r for r in recs if r.id == id_]
    assert len(found) <= 1, found
    return found[0] if found else None


def peak_advice(signals: Signals, capacity: CapacitySection | None) -> Recommendation | None:
    recs = recommend(find_traits(signals), capacity, 2, 1, stages=signals.measured)
    return rec(recs, "instances-for-peak")


# -- 1. the USL fit that ended in N* = 0 ---------------------------------------------------------


def test_usl_with_sigma_capped_at_one_has_no_n_star() -> None:
    u = fit_usl(list(zip(map(float, USERS), FLAT_RPS, strict=True)))
    assert u is not None
    assert u.sigma == 1.0 and u.kappa > 0  # the fit this input gives: no concurrency adds throughput
    assert u.n_star is None
    # The peak of the model below one user is no peak to cap at either.
    assert Usl(sigma=0.5, kappa=0.6, lam=100.0, r_squared=1.0, points=6).n_star is None
    assert Usl(sigma=0.19, kappa=0.01, lam=1.0, r_squared=1.0, points=6).n_star == pytest.approx(9.0)


def test_capacity_of_the_flat_curve_does_not_divide_by_zero() -> None:
    stages = [
        StageSignal(
            index=i,
            users=u,
            rate=None,
            requests=round(x * 10),
            duration_s=10.0,
            rps=x,
            ok_rps=x,
            p50=u / x * 1000,
            p95=u / x * 1200,
            p99=u / x * 1500,
            ttfb_p50=u / x * 1000,
            error_rate=0.0,
            slo_latency=u / x * 1200,
        )
        for i, (u, x) in enumerate(zip(USERS, FLAT_RPS, strict=True))
    ]
    c = capacity_section(Signals(stages=tuple(stages)), None, None, 1000.0, 0.3)
    assert c is not None and c.usl is not None
    assert c.usl.n_star is None and c.usl.peak_rps is None
    assert c.capacity_rps == pytest.approx(240.0)


# -- 2. a section that raises costs only itself --------------------------------------------------


def small_run(folder: Path) -> RunData:
    rows = [_row(T0 + 0.1 * i, 10.0) for i in range(1, 40)]
    rows += [_row(T0 + 5 + 0.1 * i, 20.0, stage=1) for i in range(1, 40)]
    stages = [_start(0, T0, 1), _end(0, T0 + 5, 39), _start(1, T0 + 5, 2), _end(1, T0 + 10, 39)]
    samples = [{"t": T0 + t, "target": {"cpu": 50.0, "rss": 1e8, "procs": 1}} for t in (1.0, 6.0, 11.0)]
    meta = {"started_at": T0, "config": {"url": "http://127.0.0.1:8000/"}, "notices": ["py-spy: not installed"]}
    return read_run(_make_run(folder, rows, stages, samples, meta=meta))


def fail(*args: object, **kw: object) -> object:
    raise ZeroDivisionError("float division by zero")


# (the name build.py imports, the section the notice names)
SECTIONS = [
    ("capacity_section", "capacity"),
    ("find_traits", "traits"),
    ("recommend", "recommendations"),
    ("validity", "validity"),
    ("handoff_section", "handoffs"),
    ("code_section", "code"),
    ("build_signals", "signals"),
    ("stage_reports", "load"),
    ("device_sections", "devices"),
    ("resource_section", "resources"),
    ("server_of", "server"),
]


@pytest.mark.parametrize(("function", "section"), SECTIONS)
def test_a_failing_section_becomes_a_notice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, function: str, section: str
) -> None:
    run = small_run(tmp_path / "run")
    monkeypatch.setattr(build, function, fail)
    report = build.build_report(run)
    notice = (
        f"analysis of '{section}' failed: ZeroDivisionError: float division by zero; the rest of the report is kept"
    )
    assert report.notices == ["py-spy: not installed", notice]
    Report.model_validate_json(report.model_dump_json(by_alias=True))  # still a valid report.json
    if section != "load":
        assert len(report.load.stages) == 2  # the rest is kept


def test_the_rest_of_the_report_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = small_run(tmp_path / "run")
    whole = build.build_report(run)
    monkeypatch.setattr(build, "capacity_section", fail)
    report = build.build_report(run)
    assert whole.capacity is not None and report.capacity is None
    assert report.load == whole.load and report.traits == whole.traits and report.validity == whole.validity
    monkeypatch.setattr(build, "validity", fail)
    unchecked = build.build_report(run).validity
    assert not unchecked.valid and [i.id for i in unchecked.issues] == ["validity-not-checked"]


# -- 3. capacity: a lower bound, its cause, a real light stage, errors ---------------------------


def rising_signals() -> Signals:
    """Throughput still doubling with users at the last stage, latency flat: no plateau."""
    return make_signals(*(stage(u, 20.0 * u, 50.0, p95=60.0, slo_latency=60.0) for u in USERS))


def test_capacity_still_rising_is_a_lower_bound() -> None:
    c = capacity_section(rising_signals(), 300.0, "p95<=300ms", 3000.0, 0.3)
    assert c is not None
    assert c.capacity_users == 64 and c.capacity_rps == pytest.approx(1280.0)
    assert c.capacity_is_lower_bound is True and c.limited_by is None
    r = peak_advice(rising_signals(), c)
    assert r is not None and "At most" in r.action and r.evidence["capacity_is_lower_bound"] is True
    # The same run stopped by the limit at 64 users: the limit, not the test, ended capacity.
    stopped = make_signals(*rising_signals().stages[:-1], stage(64, 1280.0, 50.0, p95=400.0, slo_latency=400.0))
    c = capacity_section(stopped, 300.0, "p95<=300ms", None, 0.3)
    assert c is not None and c.capacity_users == 32 and c.capacity_is_lower_bound is False
    # A plateau within the limit: the capacity is the measured peak, not a lower bound.
    flat = make_signals(*(stage(u, x, 5.0, slo_latency=6.0) for u, x in zip(USERS, FLAT_RPS, strict=True)))
    c = capacity_section(flat, 300.0, "p95<=300ms", None, 0.3)
    assert c is not None and c.capacity_is_lower_bound is False and c.limited_by is None


def limited(error_rate: float) -> Signals:
    rows = ((1, 100.0, 50.0), (2, 200.0, 100.0), (4, 300.0, 250.0), (8, 310.0, 400.0))
    return make_signals(
        *(stage(u, x, lat / 2, p95=lat, slo_latency=lat) for u, x, lat in rows[:3]),
        stage(8, 310.0, 100.0, p95=200.0, slo_latency=200.0, error_rate=error_rate),
        stage(16, 310.0, 400.0, p95=800.0, slo_latency=800.0),
    )


def test_capacity_names_what_ended_it() -> None:
    by_errors = capacity_section(limited(0.02), 300.0, "p95<=300ms", None, 0.3)
    assert by_errors is not None and by_errors.capacity_users == 4
    assert (by_errors.limited_by, by_errors.limiting_stage) == ("errors", 3)
    by_latency = capacity_section(limited(0.0), 300.0, "p95<=300ms", None, 0.3)
    assert by_latency is not None and by_latency.capacity_users == 8
    assert (by_latency.limited_by, by_latency.limiting_stage) == ("latency", 4)


def test_one_saturated_stage_sets_no_limit_against_itself() -> None:
    saturated = stage(64, 240.0, 260.0, p95=300.0, slo_latency=300.0)
    for s in (make_signals(saturated), make_signals(saturated, dataclasses.replace(saturated, index=1))):
        c = capacity_section(s, None, None, 1000.0, 0.3)
        assert c is not None
        assert c.latency_limit_ms is None and c.capacity_rps is None and c.instances_needed is None
        assert "not known without an SLO or a lighter stage" in c.slo_basis
        assert c.limited_by is None
        r = peak_advice(s, c)
        assert r is not None and "Capacity is not known" in r.action and "--slo" in r.action
    # With an SLO the one stage is judged against it.
    c = capacity_section(make_signals(saturated), 400.0, "p95<=400ms", None, 0.3)
    assert c is not None and c.capacity_rps == pytest.approx(240.0)
    # A light stage the saturated one can be compared with: 3x its p95.
    c = capacity_section(
        make_signals(stage(1, 100.0, 8.0, p95=10.0, slo_latency=10.0), saturated), None, None, None, 0.3
    )
    assert c is not None and c.latency_limit_ms == pytest.approx(30.0) and c.capacity_users == 1


def test_errors_at_every_stage_say_fix_the_errors() -> None:
    s = make_signals(*(stage(u, 50.0 * u, 20.0, p95=25.0, slo_latency=25.0, error_rate=0.12) for u in (1, 2, 4)))
    c = capacity_section(s, 300.0, "p95<=300ms", 1000.0, 0.3)
    assert c is not None and c.capacity_rps is None
    assert (c.limited_by, c.limiting_stage) == ("errors", 0)
    r = peak_advice(s, c)
    assert r is not None
    assert "Fix the errors" in r.action and "12% of requests failed at 1 user" in r.action
    assert "latency" not in r.action
    assert r.evidence["error_rate"] == pytest.approx(0.12)


# -- 4. concurrency-limit only where throughput measurably fell ----------------------------------


def usl_run(rps: list[float]) -> tuple[Signals, CapacitySection]:
    s = make_signals(*closed_stages(USERS, rps))
    c = capacity_section(s, None, None, None, 0.3)
    assert c is not None and c.usl is not None and c.usl.n_star is not None
    assert c.usl.quality != "poor" and c.usl.n_star <= 64  # a fit the old rule quoted
    return s, c


def test_no_concurrency_limit_on_a_flat_plateau() -> None:
    s, c = usl_run([100.0, 190.0, 240.0, 242.0, 241.0, 240.0, 239.0])
    assert rec(recommend(find_traits(s), c, 2, 1, stages=s.measured), "concurrency-limit") is None


def test_concurrency_limit_where_throughput_fell_past_n_star() -> None:
    s, c = usl_run([100.0, 190.0, 240.0, 242.0, 235.0, 225.0, 212.0])  # 12% below the peak at 64 users
    assert "retrograde-scaling" not in {f.id for f in find_traits(s)}  # a fall too small for the trait
    r = rec(recommend(find_traits(s), c, 2, 1, stages=s.measured), "concurrency-limit")
    assert r is not None and "near 13 (" in r.action
    assert r.evidence["measured_fall"] == pytest.approx(1 - 212 / 242, abs=1e-3)
    # Without the measured stages, nothing shows the fall: no N* is quoted.
    assert rec(recommend([], c, 2, 1), "concurrency-limit") is None


# -- 5. memory-growth: a leak grows at constant concurrency --------------------------------------

PER_USER = 0.5 * MIB
SAMPLES_PER_STAGE = 12


def ladder(rss: Callable[[int, float], float], users: tuple[int, ...] = USERS, with_stages: bool = True) -> Signals:
    """Stages of 6 s at 20 requests/s per user, sampled every 0.5 s; `rss(users, requests)` in bytes."""
    series, times, members = [], [], []
    done, t = 0.0, 1000.0
    for i, u in enumerate(users):
        for _ in range(SAMPLES_PER_STAGE):
            done, t = done + 20.0 * u * 0.5, t + 0.5
            series.append((done, rss(u, done)))
            times.append(t)
            members.append(i)
    stages = closed_stages(users, [20.0 * u for u in users], [50.0] * len(users))
    return make_signals(
        *stages,
        rss_series=tuple(series),
        rss_times=tuple(times),
        rss_stages=tuple(members) if with_stages else (),
    )


def test_memory_per_connection_is_not_a_leak() -> None:
    s = ladder(lambda u, n: 60 * MIB + PER_USER * u)  # steps up with users, flat within each stage
    assert T.memory_growth(s) is None
    assert "memory-growth" not in {f.id for f in find_traits(s)}
    # Read as one load (stage membership not known), the same series looks like a leak: the defect.
    assert T.memory_growth(ladder(lambda u, n: 60 * MIB + PER_USER * u, with_stages=False)) is not None


def test_memory_that_grows_at_constant_users_is_a_leak() -> None:
    leak = T.memory_growth(ladder(lambda u, n: 60 * MIB + 20 * 1024 * n))
    assert leak is not None and leak.evidence.values["mib_per_1k_requests"] == pytest.approx(19.53, abs=0.01)
    # A leak on top of memory per connection: the leak's own rate, not the steps.
    both = T.memory_growth(ladder(lambda u, n: 60 * MIB + PER_USER * u + 20 * 1024 * n))
    assert both is not None and both.evidence.values["mib_per_1k_requests"] == pytest.approx(19.53, abs=0.01)
    assert "constant concurrency" in both.evidence.summary
    # Stages of the same load, memory flat within each but higher each time: growth at constant load.
    same = ladder(lambda u, n: 60 * MIB + 10 * MIB * ((n - 1) // 1440), users=(12,) * 6)  # 1440 requests a stage
    assert T.memory_growth(same) is not None


def test_build_signals_places_each_rss_sample_in_its_stage(tmp_path: Path) -> None:
    run = small_run(tmp_path / "run")
    signals = build_signals(run, stage_reports(run), handoff_section(run), 95.0)
    assert signals.rss_times == (T0 + 1.0, T0 + 6.0, T0 + 11.0)
    assert signals.rss_stages == (0, 1, None)  # the last sample came after the last stage ended


# -- 6. stateful-sessions: a cookie, not proof of server state -----------------------------------


@pytest.mark.parametrize(("cookies", "confidence"), [(64, 0.5), (77_000, 0.4)])
def test_a_cookie_alone_is_low_confidence_state(cookies: int, confidence: float) -> None:
    t = T.stateful_sessions(sessions_signals(cookies=cookies))
    assert t is not None and t.confidence == pytest.approx(confidence) and t.confidence <= 0.5
    assert "sets a per-client cookie; whether the server keeps state behind it is not known" in t.evidence.summary
    assert "signed-cookie sessions keep none" in t.evidence.summary
    assert "it keeps per-client state" not in t.evidence.summary


def test_session_advice_says_to_check() -> None:
    r = rec(recommend(find_traits(sessions_signals()), None, 2, 1), "session-state")
    assert r is not None and r.evidence["traits"] == "stateful-sessions"
    assert r.action.startswith("Check whether the server keeps state behind its per-client cookie")
    assert "If it does" in r.action and "sticky sessions" in r.action
    assert "signed-cookie sessions" in r.rationale and "keep no server state" in r.rationale
