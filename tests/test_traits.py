"""Trait rules on synthetic `Signals`, shaped like what the example apps measured on the 2-core dev box.

Pure and fast: no run folder, no load. The scenario builders (`cpu_bound_signals()`, ...) are also
used by tests/test_recommend.py.
"""

from __future__ import annotations

import dataclasses

import pytest

from profiler.analysis import traits as T
from profiler.analysis.figures.signals import Signals, StageSignal
from profiler.base.config import MIB as MiB
from profiler.schema.report import GpuDeviceStage, Trait

SCALING = {
    "cpu-bound",
    "io-bound",
    "event-loop-blocked",
    "concurrency-capped",
    "retrograde-scaling",
    "gpu-bound",
    "gpu-underutilized",
}
USERS = (1, 2, 4, 8, 16, 32, 64)


# -- helpers -------------------------------------------------------------------------------------


def stage(
    users: int | None,
    rps: float,
    p50: float,
    *,
    rate: float | None = None,
    p95: float | None = None,
    p99: float | None = None,
    ttfb: float | None = None,
    cpu: float | None = None,
    busiest_cpu: float | None = None,
    probe_p50: float | None = None,
    error_rate: float = 0.0,
    errors: dict[str, int] | None = None,
    requests: int | None = None,
    duration_s: float = 10.0,
    handler_p50: float | None = None,
    slo_latency: float | None = None,
    profiled: bool = False,
    index: int = -1,
) -> StageSignal:
    """One stage; ok_rps = rps * (1 - error_rate); busiest_cpu defaults to cpu (one process)."""
    return StageSignal(
        index=index,
        users=users,
        rate=rate,
        requests=round(rps * duration_s) if requests is None else requests,
        duration_s=duration_s,
        rps=rps,
        ok_rps=rps * (1 - error_rate),
        p50=p50,
        p95=p50 * 1.2 if p95 is None else p95,
        p99=p50 * 1.5 if p99 is None else p99,
        ttfb_p50=p50 if ttfb is None else ttfb,
        error_rate=error_rate,
        probe_p50=probe_p50,
        cpu=cpu,
        busiest_cpu=cpu if busiest_cpu is None else busiest_cpu,
        handler_p50=handler_p50,
        slo_latency=slo_latency,
        profiled=profiled,
        errors=dict(errors or {}),
    )


def make_signals(*stages: StageSignal, **kw: object) -> Signals:
    """Signals of these stages, numbered 0.. in order unless given an index; ncpu defaults to 2."""
    numbered = tuple(dataclasses.replace(s, index=i) if s.index < 0 else s for i, s in enumerate(stages))
    kw.setdefault("ncpu", 2)
    kw.setdefault("open_model", any(s.rate for s in stages))
    return Signals(stages=numbered, **kw)  # type: ignore[arg-type]


def closed_stages(
    users: tuple[int, ...],
    rps: list[float],
    p50: list[float] | None = None,
    cpu: list[float] | float | None = None,
    busiest_cpu: list[float] | float | None = None,
    probe_p50: list[float] | float | None = None,
) -> list[StageSignal]:
    """Closed-model stages; p50 defaults to Little's law (users / rps)."""

    def pick(v: list[float] | float | None, i: int) -> float | None:
        return v[i] if isinstance(v, list) else v

    return [
        stage(
            u,
            x,
            p50[i] if p50 is not None else u / x * 1000.0,
            cpu=pick(cpu, i),
            busiest_cpu=pick(busiest_cpu, i),
            probe_p50=pick(probe_p50, i),
        )
        for i, (u, x) in enumerate(zip(users, rps, strict=True))
    ]


def ids(traits: list[Trait]) -> set[str]:
    return {t.id for t in traits}


def get(traits: list[Trait], id_: str) -> Trait:
    found = [t for t in traits if t.id == id_]
    assert len(found) == 1, (id_, [t.id for t in traits])
    return found[0]


def assert_valid(traits: list[Trait]) -> None:
    assert len(ids(traits)) == len(traits), "a trait id appears twice"
    for t in traits:
        assert 0 < t.confidence <= 1, t
        assert t.evidence.summary.strip(), t
    assert [t.confidence for t in traits] == sorted((t.confidence for t in traits), reverse=True)


# -- scenarios (the example apps, as measured) ---------------------------------------------------

CPU_RPS = [232.0, 238.0, 241.0, 240.0, 239.0, 240.0, 238.0]


def cpu_bound_signals(**kw: object) -> Signals:
    """cpu_bound.py: ~240 rps from 1 user on, the one Python process at ~97% of a core."""
    stages = closed_stages(USERS, CPU_RPS, cpu=98.0, busiest_cpu=97.0, probe_p50=[1.0, 4, 8, 16, 30, 60, 120])
    kw.setdefault("processes", 1)
    return make_signals(*stages, **kw)


def cpu_all_cores_signals() -> Signals:
    """Two worker processes on 2 cores: the tree at 190% of 200%."""
    rps = [x * 2 for x in CPU_RPS]
    return make_signals(*closed_stages(USERS, rps, cpu=190.0, busiest_cpu=95.0), processes=2)


def idle_plateau_signals(probe_p50: float | None = None) -> Signals:
    """The same plateau as cpu-bound, but the target at 30% CPU."""
    return make_signals(*closed_stages(USERS, CPU_RPS, cpu=30.0, probe_p50=probe_p50))


IO_RPS = [19.0, 38.0, 76.0, 152.0, 300.0, 600.0, 1200.0]
IO_P50 = [52.0, 52.0, 52.0, 52.5, 53.0, 53.0, 53.5]
IO_CPU = [2.0, 3.0, 5.0, 9.0, 16.0, 27.0, 36.0]


def io_bound_signals() -> Signals:
    """io_bound.py: 50 ms awaited, latency flat, throughput ~ users / 0.052 s, CPU low."""
    return make_signals(*closed_stages(USERS, IO_RPS, IO_P50, cpu=IO_CPU, probe_p50=1.0))


def event_loop_signals(share: float | None = None, function: str | None = None) -> Signals:
    """blocked_loop.py: time.sleep(0.02) in async def; ~47 rps, the probe waits like /predict."""
    stages = closed_stages((1, 2, 4), [47.0, 47.0, 47.0], [21.0, 42.0, 83.0], cpu=3.0, probe_p50=[10.0, 40.0, 73.0])
    return make_signals(*stages, blocking_on_loop_share=share, blocking_function=function)


def capped_signals(probe: bool = True) -> Signals:
    """concurrency_capped.py: Semaphore(2) around a 50 ms await; the probe answers in ~1 ms."""
    stages = closed_stages(
        (1, 2, 4, 8), [19.0, 39.0, 39.0, 39.0], [52.0, 52.0, 103.0, 205.0], cpu=3.0, probe_p50=1.2 if probe else None
    )
    return make_signals(*stages)


def rss_linear(per_request_bytes: float, total: int = 20_000, samples: int = 41, base_mib: float = 60.0):
    xs = [total * i / (samples - 1) for i in range(samples)]
    return tuple((x, base_mib * MiB + per_request_bytes * x) for x in xs)


def leak_signals(per_request_bytes: float = 20 * 1024, times: bool = True) -> Signals:
    """memory_leak.py: ~20 KiB kept per request; 20k requests at 100 rps."""
    series = rss_linear(per_request_bytes)
    rss_times = tuple(1000.0 + x / 100.0 for x, _ in series) if times else ()
    stages = closed_stages((1, 2), [45.0, 90.0], [21.0, 21.0], cpu=[5.0, 9.0])  # two stages: no scaling trait
    return make_signals(*stages, rss_series=series, rss_times=rss_times)


def gpu_rows(util: list[float], proc_mem: float | None = 900.0) -> tuple[GpuDeviceStage, ...]:
    return tuple(
        GpuDeviceStage(stage=i, device=0, util_gpu_mean=u, util_gpu_max=min(100.0, u + 3), proc_mem_max_mb=proc_mem)
        for i, u in enumerate(util)
    )


def gpu_bound_signals() -> Signals:
    stages = closed_stages((1, 2, 4, 8), [30.0, 55.0, 58.0, 58.0], cpu=35.0, probe_p50=1.0)
    return make_signals(*stages, gpu=gpu_rows([55.0, 92.0, 96.0, 97.0]), gpu_available=True)


def gpu_idle_signals() -> Signals:
    """One request at a time reaches the GPU: requests queue while it idles."""
    stages = closed_stages((1, 2, 4, 8), [20.0, 20.5, 20.5, 20.5], [50.0, 98.0, 195.0, 390.0], cpu=10.0, probe_p50=1.0)
    return make_signals(*stages, gpu=gpu_rows([25.0, 26.0, 26.0, 26.0]), gpu_available=True)


def sessions_signals(cookies: int = 64) -> Signals:
    """sessions.py: a cookie set once per client (64 users), 77k responses."""
    stages = closed_stages(USERS, [180.0, 360.0, 700.0, 1100.0, 1300.0, 1350.0, 1360.0], cpu=[3, 6, 12, 25, 45, 70, 80])
    return make_signals(*stages, responses=77_000, cookie_responses=cookies)


def streaming_signals(ttfb: float = 2.0, event_stream: bool = True) -> Signals:
    """streaming.py: 10 events 20 ms apart; first byte at ~2 ms, last at ~190 ms."""
    stages = [stage(u, u / 0.19, 190.0, ttfb=ttfb, cpu=2.0 * u, probe_p50=1.0) for u in (1, 2, 4, 8)]
    responses = sum(s.requests for s in stages)
    return make_signals(*stages, responses=responses, event_stream_responses=responses if event_stream else 0)


def cold_signals(first: list[float] | None = None) -> Signals:
    """cold_start.py: request 1 ~1 s, 2-30 ~200 ms, then 5 ms."""
    first = [1000.0] + [200.0] * 29 + [5.0] * 170 if first is None else first
    stages = [
        stage(1, 150.0, 5.0, p95=6.0, p99=210.0, cpu=3.0),
        stage(2, 300.0, 5.2, p95=6.0, p99=7.5, cpu=6.0),
        stage(4, 590.0, 5.5, p95=6.5, p99=8.0, cpu=12.0),
    ]
    return make_signals(*stages, first_latencies=tuple(first))


def tail_signals() -> Signals:
    """tail_heavy.py: 3% of requests wait 250 ms, the rest ~5 ms."""
    stages = [
        stage(1, 130.0, 6.0, p95=8.0, p99=250.0, cpu=3.0),
        stage(2, 260.0, 6.5, p95=9.0, p99=252.0, cpu=6.0),
        stage(4, 500.0, 7.5, p95=12.0, p99=255.0, cpu=12.0),
    ]
    return make_signals(*stages)


ERR_USERS = (1, 2, 4, 6, 8, 12)


def errors_signals(light_error: float = 0.0) -> Signals:
    """errors_under_load.py: > 6 in flight gets an immediate 503."""
    rps = [24.0, 48.0, 96.0, 140.0, 200.0, 1500.0]
    err = [light_error, 0.0, 0.0, 0.0, 0.3, 0.91]
    stages = [
        stage(
            u,
            x,
            40.0,
            cpu=2.0,
            probe_p50=1.0,
            error_rate=e,
            errors={"HTTP 503": round(x * 10 * e)} if e else {},
        )
        for u, x, e in zip(ERR_USERS, rps, err, strict=True)
    ]
    return make_signals(*stages)


def retrograde_signals(rps: list[float] | None = None) -> Signals:
    """retrograde.py: N ms of CPU per request with N in flight: peak at 4 users, then falls."""
    rps = [76.0, 118.0, 133.0, 115.0, 65.0, 49.0] if rps is None else rps
    return make_signals(*closed_stages((1, 2, 4, 8, 16, 32), rps, cpu=[20.0, 45.0, 80.0, 95.0, 97.0, 98.0]))


def dominant_signals(shares: dict[str, float] | None = None) -> Signals:
    shares = {"model": 0.9, "features": 0.06, "serialize": 0.02} if shares is None else shares
    name = max(shares, key=lambda k: shares[k])
    stages = closed_stages((1, 2), [100.0, 190.0], cpu=[30.0, 55.0])
    return make_signals(*stages, dominant_handoff=name, dominant_share=shares[name], handoff_shares=shares)


# -- cpu-bound -----------------------------------------------------------------------------------


def test_cpu_bound_one_core() -> None:
    t = T.cpu_bound(cpu_bound_signals())
    assert t is not None and t.id == "cpu-bound"
    v = t.evidence.values
    assert v["scope"] == "one-core"
    assert v["plateau_users"] == 1
    assert v["plateau_rps"] == pytest.approx(241.0)
    assert v["busiest_process_cpu_pct"] == pytest.approx(97.0)
    assert v["ncpu"] == 2
    assert t.confidence >= 0.8
    assert "one core" in t.evidence.summary


def test_cpu_bound_all_cores() -> None:
    t = T.cpu_bound(cpu_all_cores_signals())
    assert t is not None
    assert t.evidence.values["scope"] == "all-cores"
    assert t.evidence.values["tree_cpu_pct"] == pytest.approx(190.0)
    assert "all 2 cores" in t.evidence.summary


def test_cpu_bound_one_core_counts_what_the_hypervisor_left() -> None:
    # At 15% steal a process that never stops computing reads ~85% of a core, and one that got 72%
    # had no more to get; without steal, 72% is a process that waited on something.
    stages = closed_stages(USERS, CPU_RPS, cpu=72.0, busiest_cpu=72.0)
    assert T.cpu_bound(make_signals(*stages)) is None
    stolen = T.cpu_bound(make_signals(*(dataclasses.replace(s, steal=15.0) for s in stages)))
    assert stolen is not None and stolen.evidence.values["scope"] == "one-core"
    # Steal is counted up to half the machine: at 70% steal a process at 35% is not a full core.
    half = [dataclasses.replace(s, cpu=35.0, busiest_cpu=35.0, steal=70.0) for s in stages]
    assert T.cpu_bound(make_signals(*half)) is None


def test_cpu_bound_absent_at_low_cpu() -> None:
    s = idle_plateau_signals(probe_p50=1.0)
    assert T.cpu_bound(s) is None
    assert "cpu-bound" not in ids(T.classify(s))


def test_cpu_bound_edges() -> None:
    # No CPU samples: absent, not guessed.
    assert T.cpu_bound(make_signals(*closed_stages(USERS, CPU_RPS))) is None
    # No plateau (throughput still doubling): absent whatever the CPU.
    assert T.cpu_bound(make_signals(*closed_stages(USERS, IO_RPS, cpu=97.0))) is None
    # Threshold: busiest process at CPU_SATURATED exactly counts, just below does not.
    at = make_signals(*closed_stages(USERS, CPU_RPS, cpu=T.CPU_SATURATED))
    below = make_signals(*closed_stages(USERS, CPU_RPS, cpu=T.CPU_SATURATED - 1))
    assert T.cpu_bound(at) is not None
    assert T.cpu_bound(below) is None


# -- io-bound ------------------------------------------------------------------------------------


def test_io_bound() -> None:
    s = io_bound_signals()
    t = T.io_bound(s)
    assert t is not None
    v = t.evidence.values
    assert v["users_low"] == 1 and v["users_high"] == 64
    assert v["cpu_ms_per_request"] == pytest.approx(0.02 / 19 * 1000, rel=1e-2)
    assert v["cpu_share_of_latency"] < 0.05
    assert v["scaling_efficiency"] == pytest.approx(1200 / 19 / 64, rel=1e-2)
    assert t.confidence >= 0.9
    got = ids(T.classify(s))
    assert "io-bound" in got
    assert not got & {"cpu-bound", "event-loop-blocked", "concurrency-capped", "retrograde-scaling"}


def test_io_bound_absent_when_cpu_is_a_big_share_of_latency() -> None:
    # 19 rps at 1 user with 50% CPU: 26 ms of CPU per 52 ms request (share 0.5 > IO_CPU_SHARE).
    cpu = [50.0, 55.0, 60.0, 65.0, 70.0, 75.0, 80.0]
    assert T.io_bound(make_signals(*closed_stages(USERS, IO_RPS, IO_P50, cpu=cpu))) is None


def test_io_bound_absent_when_throughput_does_not_follow_users() -> None:
    # 1 -> 64 users but only 8x the throughput (efficiency 0.125 < IO_EFFICIENCY), no plateau either.
    rps = [19.0, 25.0, 34.0, 46.0, 62.0, 84.0, 152.0]
    assert T.io_bound(make_signals(*closed_stages(USERS, rps, cpu=2.0))) is None


def test_io_bound_needs_three_stages_and_cpu() -> None:
    two = closed_stages((1, 64), [19.0, 1200.0], [52.0, 53.0], cpu=[2.0, 36.0])
    assert T.io_bound(make_signals(*two)) is None
    assert T.io_bound(make_signals(*closed_stages(USERS, IO_RPS, IO_P50))) is None  # no CPU samples
    # Concurrency must have grown at least 4x.
    narrow = closed_stages((1, 2, 3), [19.0, 38.0, 57.0], [52.0, 52.0, 52.0], cpu=2.0)
    assert T.io_bound(make_signals(*narrow)) is None


# -- event-loop-blocked --------------------------------------------------------------------------


def test_event_loop_blocked() -> None:
    s = event_loop_signals()
    t = T.event_loop_blocked(s)
    assert t is not None
    v = t.evidence.values
    assert v["plateau_rps"] == pytest.approx(47.0)
    assert v["in_service"] == pytest.approx(47 * 21 / 1000, rel=1e-2)
    assert v["probe_to_request"] >= T.PROBE_WAITS
    got = ids(T.classify(s))
    assert "event-loop-blocked" in got
    assert not got & {"cpu-bound", "io-bound", "concurrency-capped"}


def test_event_loop_blocked_confidence_rises_with_pyspy() -> None:
    plain = T.event_loop_blocked(event_loop_signals())
    spied = T.event_loop_blocked(event_loop_signals(share=0.9, function="time.sleep (blocked_loop.py)"))
    assert plain is not None and spied is not None
    assert spied.confidence > plain.confidence
    assert "py-spy: 90%" in spied.evidence.summary
    assert "time.sleep (blocked_loop.py)" in spied.evidence.summary
    assert spied.evidence.values["blocking_function"] == "time.sleep (blocked_loop.py)"
    # A low share adds nothing and is not mentioned.
    low = T.event_loop_blocked(event_loop_signals(share=0.1))
    assert low is not None and low.confidence == plain.confidence and "py-spy" not in low.evidence.summary


def test_event_loop_blocked_absent() -> None:
    # Probe fast: a capped pool, not a blocked loop.
    assert T.event_loop_blocked(capped_signals()) is None
    # No probe data: cannot tell, so absent.
    assert T.event_loop_blocked(capped_signals(probe=False)) is None
    # CPU busy: cpu-bound's business even though the probe is slow.
    assert T.event_loop_blocked(cpu_bound_signals()) is None


# -- concurrency-capped --------------------------------------------------------------------------


def test_concurrency_capped() -> None:
    s = capped_signals()
    t = T.concurrency_capped(s)
    assert t is not None
    assert t.evidence.values["in_service"] == pytest.approx(2.0, abs=0.1)
    assert t.evidence.values["plateau_rps"] == pytest.approx(39.0)
    assert t.confidence >= 0.7
    got = ids(T.classify(s))
    assert "concurrency-capped" in got
    assert not got & {"event-loop-blocked", "cpu-bound", "io-bound"}


def test_concurrency_capped_without_probe_is_low_confidence() -> None:
    t = T.concurrency_capped(capped_signals(probe=False))
    assert t is not None
    assert t.confidence < 0.5
    assert "(no probe)" in t.evidence.summary
    assert t.evidence.values["probe_p50_ms"] is None


def test_concurrency_capped_handler_time_sentence() -> None:
    stages = [
        dataclasses.replace(s, handler_p50=50.0)
        for s in closed_stages(
            (1, 2, 4, 8), [19.0, 39.0, 39.0, 39.0], [52.0, 52.0, 103.0, 205.0], cpu=3.0, probe_p50=1.2
        )
    ]
    t = T.concurrency_capped(make_signals(*stages))
    assert t is not None
    assert "queue before the handler" in t.evidence.summary


def test_concurrency_capped_absent() -> None:
    assert T.concurrency_capped(event_loop_signals()) is None  # probe waits
    assert T.concurrency_capped(cpu_bound_signals()) is None  # CPU busy
    assert T.concurrency_capped(io_bound_signals()) is None  # no plateau


# -- memory-growth -------------------------------------------------------------------------------


def test_memory_growth_linear_leak() -> None:
    t = T.memory_growth(leak_signals())
    assert t is not None
    v = t.evidence.values
    assert v["mib_per_1k_requests"] == pytest.approx(19.53, abs=0.01)
    assert v["growth_mib"] == pytest.approx(20_000 * 20 * 1024 / MiB, rel=1e-3)
    assert v["r_squared"] == pytest.approx(1.0)
    # 100 requests/s: 1.95 MiB/s; from ~451 MiB to 2048 MiB in ~13.6 minutes.
    assert v["mib_per_minute"] == pytest.approx(117.2, rel=1e-2)
    assert v["minutes_to_limit"] == pytest.approx((2048 - v["rss_end_mib"]) / 117.1875, rel=1e-2)
    assert t.confidence >= 0.9
    assert "memory-growth" in ids(T.classify(leak_signals()))


def test_memory_growth_without_times_has_no_eta() -> None:
    t = T.memory_growth(leak_signals(times=False))
    assert t is not None
    assert t.evidence.values["minutes_to_limit"] is None
    assert "reaches" not in t.evidence.summary


def test_memory_growth_limit_is_honoured() -> None:
    t = T.memory_growth(leak_signals(), limit_mb=4096.0)
    assert t is not None and t.evidence.values["limit_mib"] == 4096.0
    # Already past the limit: no time-to-limit.
    past = T.memory_growth(leak_signals(), limit_mb=100.0)
    assert past is not None and past.evidence.values["minutes_to_limit"] is None


def test_memory_growth_warm_up_that_levels_off_is_not_a_leak() -> None:
    xs = [500.0 * i for i in range(41)]
    ys = [(60 + min(i, 5) * 25) * MiB for i in range(41)]  # +125 MiB over 5 samples, then flat
    s = make_signals(*leak_signals().stages, rss_series=tuple(zip(xs, ys, strict=True)))
    assert T.memory_growth(s) is None


def test_memory_growth_absent_when_small_or_short() -> None:
    small = leak_signals(per_request_bytes=10 * MiB / 20_000)  # 10 MiB over the run
    assert T.memory_growth(small) is None
    few = make_signals(rss_series=rss_linear(20 * 1024, samples=9))
    assert T.memory_growth(few) is None
    short = make_signals(rss_series=rss_linear(200 * 1024, total=150))  # < 200 requests
    assert T.memory_growth(short) is None
    # Large absolute growth but < 10% of a big baseline.
    big = make_signals(rss_series=rss_linear(30 * MiB / 20_000, base_mib=1024.0))
    assert T.memory_growth(big) is None
    # Shrinking memory.
    down = tuple((x, 500 * MiB - 20 * 1024 * x) for x, _ in rss_linear(0))
    assert T.memory_growth(make_signals(rss_series=down)) is None


# -- gpu -----------------------------------------------------------------------------------------


def test_gpu_bound() -> None:
    s = gpu_bound_signals()
    t = T.gpu_bound(s)
    assert t is not None
    assert t.evidence.values["gpu_util_pct"] == pytest.approx((92 + 96 + 97) / 3, abs=0.01)
    assert t.evidence.values["plateau_rps"] == pytest.approx(58.0)
    assert T.gpu_underutilized(s) is None


def test_gpu_underutilized() -> None:
    s = gpu_idle_signals()
    t = T.gpu_underutilized(s)
    assert t is not None
    assert t.evidence.values["gpu_util_pct"] == pytest.approx(26.0)
    assert t.evidence.values["users"] == 8
    assert T.gpu_bound(s) is None


def test_gpu_traits_absent_without_gpu_rows() -> None:
    for s in (dataclasses.replace(gpu_bound_signals(), gpu=()), dataclasses.replace(gpu_idle_signals(), gpu=())):
        assert T.gpu_bound(s) is None
        assert T.gpu_underutilized(s) is None
        assert not ids(T.classify(s)) & {"gpu-bound", "gpu-underutilized"}


def test_gpu_underutilized_needs_the_target_on_the_gpu() -> None:
    # An idle GPU that the target holds no memory on is someone else's GPU.
    s = dataclasses.replace(gpu_idle_signals(), gpu=gpu_rows([25.0, 26.0, 26.0, 26.0], proc_mem=None))
    assert T.gpu_underutilized(s) is None
    # Rows without utilisation: nothing to say.
    s = dataclasses.replace(gpu_idle_signals(), gpu=(GpuDeviceStage(stage=0, device=0, proc_mem_max_mb=100.0),))
    assert T.gpu_underutilized(s) is None and T.gpu_bound(s) is None


# -- stateful-sessions ---------------------------------------------------------------------------


def test_stateful_sessions_once_per_client() -> None:
    t = T.stateful_sessions(sessions_signals(cookies=64))
    assert t is not None
    assert t.evidence.values["once_per_client"] is True
    assert t.evidence.values["cookie_responses"] == 64
    assert t.confidence == pytest.approx(0.5)  # a cookie alone does not show server state


def test_stateful_sessions_cookie_on_every_response() -> None:
    t = T.stateful_sessions(sessions_signals(cookies=77_000))
    assert t is not None
    assert t.evidence.values["once_per_client"] is False
    assert t.confidence < 0.5


def test_stateful_sessions_absent_without_cookies() -> None:
    assert T.stateful_sessions(sessions_signals(cookies=0)) is None
    assert "stateful-sessions" not in ids(T.classify(sessions_signals(cookies=0)))


# -- streaming-responses -------------------------------------------------------------------------


def test_streaming_responses() -> None:
    t = T.streaming_responses(streaming_signals())
    assert t is not None
    assert t.evidence.values["ttfb_p50_ms"] == pytest.approx(2.0)
    assert t.evidence.values["latency_p50_ms"] == pytest.approx(190.0)
    assert "text/event-stream" in t.evidence.summary
    assert t.confidence >= 0.85
    # Early first byte without the content type still counts, at lower confidence.
    bare = T.streaming_responses(streaming_signals(event_stream=False))
    assert bare is not None and bare.confidence < t.confidence


def test_streaming_absent_when_ttfb_is_latency() -> None:
    assert T.streaming_responses(streaming_signals(ttfb=188.0, event_stream=False)) is None
    assert T.streaming_responses(io_bound_signals()) is None  # no responses counted at all


# -- cold-start ----------------------------------------------------------------------------------


def test_cold_start() -> None:
    t = T.cold_start(cold_signals())
    assert t is not None
    v = t.evidence.values
    assert v["requests_to_settle"] == 30
    assert v["first_request_ms"] == 1000.0
    assert v["steady_p50_ms"] == 5.0
    assert t.confidence >= 0.8


def test_cold_start_absent_when_flat() -> None:
    assert T.cold_start(cold_signals(first=[5.0 + (i % 3) * 0.5 for i in range(200)])) is None
    # Slow head but under COLD_MIN_MS above steady: not worth a trait.
    assert T.cold_start(cold_signals(first=[40.0] * 3 + [5.0] * 197)) is None
    # Too few first requests.
    assert T.cold_start(cold_signals(first=[1000.0, 5.0, 5.0])) is None
    # A slow first request that is one of a tail (3% of requests take 250 ms) is not a cold start.
    tail = [250.0 if i % 33 == 0 else 5.0 for i in range(200)]
    assert T.cold_start(cold_signals(first=tail)) is None


def test_cold_start_on_a_lazily_loaded_model() -> None:
    # The case: the first request loads the model (2 s), every later one takes 3 ms.
    t = T.cold_start(cold_signals(first=[2000.0] + [3.0] * 199))
    assert t is not None
    assert t.evidence.values["first_request_ms"] == 2000.0
    assert t.evidence.values["median_first_five_ms"] == 3.0
    assert t.evidence.values["requests_to_settle"] == 1


# -- tail-heavy ----------------------------------------------------------------------------------


def test_tail_heavy() -> None:
    t = T.tail_heavy(tail_signals())
    assert t is not None
    v = t.evidence.values
    assert v["p99_ms"] == 250.0 and v["p50_ms"] == 6.0
    assert v["users"] in (1, 2)
    assert "tail-heavy" in ids(T.classify(tail_signals()))


def test_tail_heavy_ignores_stage_zero_after_a_cold_start() -> None:
    only_first = make_signals(stage(1, 130.0, 6.0, p99=250.0), stage(2, 260.0, 6.0, p99=9.0), stage(4, 500.0, 7.0))
    assert T.tail_heavy(only_first) is not None
    assert T.tail_heavy(only_first, settle=1) is None  # stage 0 still held cold requests
    t = T.tail_heavy(tail_signals(), settle=1)
    assert t is not None and t.evidence.values["stage"] != 0
    # Through classify: the cold start's slow first requests do not make a tail-heavy trait.
    got = ids(T.classify(cold_signals()))
    assert "cold-start" in got and "tail-heavy" not in got


def test_tail_heavy_absent() -> None:
    assert T.tail_heavy(io_bound_signals()) is None
    # Fewer than 100 requests per stage: too few for a p99.
    few = make_signals(stage(1, 9.0, 6.0, p99=250.0), stage(2, 9.0, 6.0, p99=250.0))
    assert T.tail_heavy(few) is None
    # A queueing tail at heavy load is not a light-load tail.
    heavy = make_signals(stage(1, 100.0, 10.0), stage(2, 190.0, 11.0), stage(16, 200.0, 80.0, p99=600.0))
    assert T.tail_heavy(heavy) is None


def test_tail_heavy_open_model_judges_only_the_lightest_rate() -> None:
    # Open model: the 190/s stage queues (p99 15x p50) near saturation; the light rates are clean.
    s = make_signals(
        stage(None, 10.0, 10.0, rate=10.0, requests=300),
        stage(None, 100.0, 11.0, rate=100.0),
        stage(None, 190.0, 30.0, rate=190.0, p99=450.0),
    )
    assert T.tail_heavy(s) is None


# -- errors-under-load ---------------------------------------------------------------------------


def test_errors_under_load() -> None:
    t = T.errors_under_load(errors_signals())
    assert t is not None
    v = t.evidence.values
    assert v["main_error"] == "HTTP 503"
    assert v["error_rate_light"] == 0.0
    assert v["error_rate_max"] == pytest.approx(0.91)
    assert v["onset_users"] == 8
    assert "load shedding" in t.evidence.summary
    assert t.confidence >= 0.9


def test_errors_under_load_absent() -> None:
    assert T.errors_under_load(errors_signals(light_error=0.2)) is None  # errors already at light load
    assert T.errors_under_load(io_bound_signals()) is None
    one = make_signals(stage(12, 1500.0, 40.0, error_rate=0.91))
    assert T.errors_under_load(one) is None


def test_errors_kinds() -> None:
    s = errors_signals()
    timeouts = dataclasses.replace(s.stages[-1], errors={"ReadTimeout": 100})
    t = T.errors_under_load(dataclasses.replace(s, stages=(*s.stages[:-1], timeouts)))
    assert t is not None and t.evidence.values["main_error"] == "ReadTimeout" and "timeouts" in t.evidence.summary
    unknown = dataclasses.replace(s.stages[-1], errors={})
    t = T.errors_under_load(dataclasses.replace(s, stages=(*s.stages[:-1], unknown)))
    assert t is not None and t.evidence.values["main_error"] == "errors"


# -- retrograde-scaling --------------------------------------------------------------------------


def test_retrograde_scaling() -> None:
    t = T.retrograde_scaling(retrograde_signals())
    assert t is not None
    v = t.evidence.values
    assert v["peak_users"] == 4 and v["peak_rps"] == 133.0
    assert v["low_users"] == 32 and v["low_rps"] == 49.0
    assert v["ratio"] == pytest.approx(49 / 133, abs=1e-3)
    assert "retrograde-scaling" in ids(T.classify(retrograde_signals()))


def test_retrograde_absent_on_a_flat_plateau() -> None:
    assert T.retrograde_scaling(cpu_bound_signals()) is None
    assert T.retrograde_scaling(retrograde_signals([76.0, 118.0, 133.0, 130.0, 125.0, 120.0])) is None
    # Too few stages.
    assert T.retrograde_scaling(make_signals(*closed_stages((1, 4), [133.0, 49.0]))) is None


# -- dominant-handoff ------------------------------------------------------------------------------


def test_dominant_handoff() -> None:
    t = T.dominant_handoff(dominant_signals())
    assert t is not None
    assert t.subject == "model"
    assert t.evidence.values["share"] == pytest.approx(0.9)
    assert t.evidence.values["next_share"] == pytest.approx(0.06)


def test_dominant_handoff_absent() -> None:
    assert T.dominant_handoff(dominant_signals({"model": 0.45, "features": 0.40})) is None
    assert T.dominant_handoff(dominant_signals({"model": 0.35, "features": 0.05})) is None
    assert T.dominant_handoff(make_signals()) is None


# -- classify: validity and edges ----------------------------------------------------------------

SCENARIOS = {
    "cpu-bound": cpu_bound_signals,
    "cpu-all-cores": cpu_all_cores_signals,
    "io-bound": io_bound_signals,
    "event-loop-blocked": lambda: event_loop_signals(0.9, "time.sleep"),
    "concurrency-capped": capped_signals,
    "memory-growth": leak_signals,
    "gpu-bound": gpu_bound_signals,
    "gpu-underutilized": gpu_idle_signals,
    "stateful-sessions": sessions_signals,
    "streaming-responses": streaming_signals,
    "cold-start": cold_signals,
    "tail-heavy": tail_signals,
    "errors-under-load": errors_signals,
    "retrograde-scaling": retrograde_signals,
    "dominant-handoff": dominant_signals,
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_classify_traits_are_valid(name: str) -> None:
    traits = T.classify(SCENARIOS[name]())
    assert traits
    assert_valid(traits)
    expected = "cpu-bound" if name == "cpu-all-cores" else name
    assert expected in ids(traits)


def test_classify_empty_signals() -> None:
    assert T.classify(Signals(stages=())) == []
    assert T.classify(make_signals()) == []


def test_classify_zero_request_stages() -> None:
    zero = [stage(u, 0.0, 0.0, requests=0, cpu=0.0, probe_p50=None) for u in USERS]
    s = make_signals(*zero, responses=0)
    assert T.classify(s) == []
    assert s.measured == ()


def test_classify_single_stage() -> None:
    s = make_signals(stage(1, 240.0, 4.2, cpu=97.0, probe_p50=3.0))
    traits = T.classify(s)
    assert_valid(traits)
    assert not ids(traits) & SCALING


def test_classify_open_model_has_no_scaling_traits() -> None:
    stages = [
        stage(None, r, 4.2 if r < 200 else 400.0, rate=r, cpu=min(97.0, r / 2.4), probe_p50=3.0)
        for r in (10.0, 20.0, 40.0, 80.0, 160.0, 240.0)
    ]
    s = make_signals(*stages)
    assert s.open_model
    traits = T.classify(s)
    assert_valid(traits)
    assert not ids(traits) & SCALING


def test_classify_mixed_zero_and_profiled_stages() -> None:
    # A stage with no traffic and a py-spy stage in the middle of a cpu-bound run never break a rule.
    base = list(closed_stages(USERS, CPU_RPS, cpu=98.0, busiest_cpu=97.0, probe_p50=20.0))
    base.insert(3, stage(6, 0.0, 0.0, requests=0))
    base.append(stage(64, 120.0, 530.0, cpu=99.0, profiled=True))
    s = make_signals(*base)
    assert all(not st.profiled and st.requests > 0 for st in s.measured)
    traits = T.classify(s)
    assert_valid(traits)
    assert "cpu-bound" in ids(traits)
    assert "retrograde-scaling" not in ids(traits)  # the profiled stage's halved throughput is not used


def test_classify_all_profiled_falls_back_to_them() -> None:
    s = make_signals(*(dataclasses.replace(st, profiled=True) for st in cpu_bound_signals().stages))
    assert len(s.measured) == len(USERS)
    assert "cpu-bound" in ids(T.classify(s))


def test_classify_missing_cpu_and_probe_is_quiet() -> None:
    # Throughput only, no samplers: no rule may guess a cause.
    traits = T.classify(make_signals(*closed_stages(USERS, CPU_RPS)))
    assert not ids(traits) & {"cpu-bound", "io-bound", "event-loop-blocked", "concurrency-capped"}


def test_gpu_rules_read_only_the_targets_gpu() -> None:
    # Two GPUs: the target holds memory on device 0, which idles at ~26% while requests queue;
    # device 1 runs someone else's job at 97% (the target holds nothing there).
    rows = gpu_rows([25.0, 26.0, 26.0, 26.0]) + tuple(
        GpuDeviceStage(stage=i, device=1, util_gpu_mean=97.0, util_gpu_max=99.0, proc_mem_max_mb=0.0) for i in range(4)
    )
    s = dataclasses.replace(gpu_idle_signals(), gpu=rows)
    assert T.gpu_bound(s) is None
    assert T.gpu_underutilized(s) is not None


def test_gpu_bound_outranks_cpu_busy_waiting_on_the_gpu() -> None:
    # Seen on an H100: the one serving process at 180-370% CPU (CUDA synchronize spin-waits on
    # several threads) while the GPU was ~90-98% busy. The GPU is the bottleneck, not the CPU.
    stages = closed_stages((1, 2, 4, 8), [71.0, 73.0, 79.0, 78.0], cpu=[93.0, 184.0, 366.0, 330.0], probe_p50=1.0)
    got = ids(T.classify(make_signals(*stages, ncpu=16, gpu=gpu_rows([78.0, 88.0, 98.0, 97.0]), gpu_available=True)))
    assert "gpu-bound" in got
    assert "cpu-bound" not in got
    # Without the GPU signal the same CPU figures read as one process using several cores, not the GIL.
    cpu = T.cpu_bound(make_signals(*stages, ncpu=16))
    assert cpu is not None and cpu.evidence.values["scope"] == "multi-core-process"
