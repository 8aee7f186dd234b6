"""Verdicts that depend on the server found: the slot rule, CPU against the cores left, one coherent
verdict, the TCP latency floor, advice in the server's words, and py-spy per process.

Synthetic `Signals` with a `ServerInfo` as analysis/server.py builds it from real process trees
(tests/test_server.py); the same behaviours run for real in tests/test_servers_pipeline.py.
"""

from __future__ import annotations

import dataclasses

from profiler.analysis import traits as T
from profiler.analysis.advice.recommend import recommend
from profiler.analysis.attribution.profiled import by_process, labelled, working_process
from profiler.analysis.attribution.stacks import parse_collapsed
from profiler.analysis.figures.signals import Signals
from profiler.schema.report import ServerInfo
from tests.test_traits import closed_stages, cpu_all_cores_signals, make_signals

BLOCKING_P50 = [52.0, 52.0, 104.0, 208.0, 416.0]
USERS5 = (1, 2, 4, 8, 16)


def server(**kw: object) -> ServerInfo:
    base: dict[str, object] = {
        "language": "python",
        "server": "gunicorn",
        "worker_class": "sync",
        "model": "sync-pool",
        "workers": 2,
        "threads_per_worker": 1,
        "slots": 2,
        "cores_available": 2.0,
    }
    return ServerInfo.model_validate({**base, **kw})


def pool_plateau(srv: ServerInfo | None, rps: float = 38.0, probe: float | None = 300.0) -> Signals:
    """Two sync workers, 50 ms blocking handler: ~2 requests in service, CPU idle, probe queued."""
    rates = [19.0, rps, rps, rps, rps]
    stages = closed_stages(USERS5, rates, BLOCKING_P50, cpu=3.0, busiest_cpu=2.0, probe_p50=probe)
    return make_signals(*stages, server=srv, processes=3)


def ids(signals: Signals) -> set[str]:
    return {f.id for f in T.find_traits(signals)}


def actions(signals: Signals) -> str:
    findings = T.find_traits(signals)
    return " ".join(r.action + r.rationale for r in recommend(findings, None, signals.ncpu, 1, signals.server))


# -- the slot rule -------------------------------------------------------------------------------


def test_a_full_sync_pool_is_capped_by_its_workers_not_a_blocked_loop() -> None:
    signals = pool_plateau(server())
    assert T.event_loop_blocked(signals) is None  # the probe waits for a free worker: no loop to block
    capped = T.concurrency_capped(signals)
    assert capped is not None
    assert (capped.data.cause, capped.data.slots) == ("worker-pool", 2)
    assert capped.confidence >= 0.85  # ~2.0 in service against 2 slots
    text = actions(signals)
    assert "gunicorn -w 4" in text and "--threads" in text and "asyncio" not in text


def test_the_same_numbers_on_an_asyncio_server_are_a_blocked_loop() -> None:
    loop = server(
        server="uvicorn", worker_class=None, model="event-loop", workers=2, threads_per_worker=None, slots=None
    )
    signals = pool_plateau(loop)
    blocked = T.event_loop_blocked(signals)
    assert blocked is not None and blocked.data.loops == 2
    assert T.concurrency_capped(signals) is None
    assert "asyncio.to_thread" in actions(signals)


def test_a_cap_below_the_pool_with_a_fast_probe_is_inside_the_app() -> None:
    signals = pool_plateau(server(workers=8, slots=8), probe=1.0)  # 2 in service of 8 slots
    capped = T.concurrency_capped(signals)
    assert capped is not None and capped.data.cause == "inner-limit"
    assert "lock" in actions(signals)


def test_confidence_follows_how_closely_in_service_matches_the_slots() -> None:
    close = T.concurrency_capped(pool_plateau(server()))
    loose = T.concurrency_capped(pool_plateau(server(workers=3, slots=3)))  # 2 in service of 3
    assert close is not None and loose is not None and close.confidence > loose.confidence


# -- CPU on the tree, against the cores left -----------------------------------------------------


def test_a_multi_worker_tree_saturating_what_the_load_generator_left_is_cpu_bound() -> None:
    # Two workers at ~55% each: no process near a core, but the tree used 110% of the ~115% left
    # once Locust took 80% of a core on this 2-core machine.
    rps = [100.0, 180.0, 240.0, 245.0, 244.0, 246.0, 245.0]
    stages = closed_stages((1, 2, 4, 8, 16, 32, 64), rps, cpu=110.0, busiest_cpu=56.0)
    stages = [dataclasses.replace(s, loadgen_cpu=80.0, machine_cpu=97.0) for s in stages]
    uv = server(server="uvicorn", worker_class=None, model="event-loop", threads_per_worker=None, slots=None)
    signals = make_signals(*stages, server=uv, processes=3)
    cpu = T.cpu_bound(signals)
    assert cpu is not None and cpu.data.scope == "all-cores"
    assert cpu.data.cpu_budget_pct is not None and cpu.data.cpu_budget_pct < 130
    found = ids(signals)
    assert "concurrency-capped" not in found and "event-loop-blocked" not in found
    assert "worker-processes" not in {r.id for r in recommend(T.find_traits(signals), None, 2, 3, uv)}


def test_cores_come_from_the_quota_not_the_host() -> None:
    # A --cpus=2 container on a 32-core host: one Python process at a full core.
    signals = make_signals(*closed_stages(USERS5, [200.0, 240, 241, 240, 242], cpu=98.0), ncpu=32)
    single = server(server="uvicorn", model="event-loop", workers=1, slots=None, threads_per_worker=None)
    limited = dataclasses.replace(signals, server=single)
    text = actions(limited)
    assert "--workers 2" in text and "32" not in text


# -- one coherent verdict ------------------------------------------------------------------------


def test_cpu_bound_overrides_the_idle_cpu_readings() -> None:
    signals = cpu_all_cores_signals()
    both = dataclasses.replace(signals, stages=tuple(dataclasses.replace(s, busiest_cpu=40.0) for s in signals.stages))
    capped = T.concurrency_capped(both)
    assert capped is not None  # on its own the rule would fire ...
    assert "cpu-bound" in ids(both) and "concurrency-capped" not in ids(both)  # ... the table drops it
    recs = {r.id for r in recommend(T.find_traits(both), None, 2, 2)}
    assert "autoscale-on-cpu" in recs and "autoscale-on-concurrency" not in recs


def test_every_override_names_why() -> None:
    for winner, losers, why in T.OVERRIDES:
        assert losers and winner not in losers and len(why) > 20


# -- the TCP latency floor -----------------------------------------------------------------------


def floor_signals(ttfb: float, p50: float, body: float = 15.0) -> Signals:
    stages = closed_stages((1, 4, 16), [19.0, 77.0, 150.0], [p50, p50, p50 + 2], cpu=16.0)
    stages = [dataclasses.replace(s, ttfb_p50=ttfb, bytes_per_request=body) for s in stages]
    return make_signals(*stages, responses=500)


def test_a_small_body_forty_ms_after_its_headers_is_the_delayed_ack_floor() -> None:
    floor = T.latency_floor(floor_signals(ttfb=8.5, p50=51.8))
    assert floor is not None and 40 <= floor.data.gap_ms <= 45
    assert "io-bound" not in ids(floor_signals(ttfb=8.5, p50=51.8))
    assert T.latency_floor(floor_signals(ttfb=50.0, p50=51.8)) is None  # the app itself took 50 ms
    assert T.latency_floor(floor_signals(ttfb=8.5, p50=51.8, body=5e6)) is None  # a large body takes time


# -- no Python advice for a target that is not Python --------------------------------------------


def test_a_node_server_at_one_core_gets_no_gil_nor_uvicorn() -> None:
    node = server(
        language="other",
        server="node",
        worker_class=None,
        model="event-loop",
        threads_per_worker=None,
        slots=None,
        workers=1,
    )
    signals = make_signals(*closed_stages(USERS5, [200.0, 240, 241, 240, 242], cpu=98.0), server=node)
    text = actions(signals)
    assert "cluster" in text
    for word in ("GIL", "uvicorn", "gunicorn", "Python", "asyncio"):
        assert word not in text


# -- py-spy per process --------------------------------------------------------------------------

TREE_STACKS = "\n".join(
    [
        'process 10:"python tree_server.py";serve_forever (socketserver.py:235);select (selectors.py:415) 300',
        'process 11:"python -c from multiprocessing.resource_tracker import main";main (multiprocessing/resource_tracker.py:90) 300',
        'process 12:"python -c from multiprocessing.spawn import spawn_main";inference_worker (tree_server.py:30);infer (tree_server.py:25) 290',
        'process 12:"python -c from multiprocessing.spawn import spawn_main";inference_worker (tree_server.py:29);recv (multiprocessing/connection.py:250);_recv (multiprocessing/connection.py:430) 10',
    ]
)


def test_the_top_function_comes_from_the_process_that_burns_the_cpu() -> None:
    processes = by_process(parse_collapsed(TREE_STACKS))
    assert [p.pid for p in processes][0] == 12  # the helper's blocked read and the front's select wait
    working = working_process(processes, busiest_pid=12)
    assert working is not None and labelled(working, name_process=True) == (
        "infer (tree_server.py) in pid 12 (python -c from multiprocessing.spawn import spawn_main)"
    )
    assert working_process(processes, busiest_pid=None) is working


def test_cpu_full_while_throughput_creeps_up_is_still_cpu_bound() -> None:
    # uvicorn --workers 2 measured on the 2-core box: the CPU was full from 16 users on, yet
    # throughput still rose 1.7x over 4x the users (the loops batch their work): no strict plateau.
    rps, cpu = [20.0, 79.0, 226.0, 309.0, 384.0], [14.0, 53.0, 148.0, 173.0, 175.0]
    stages = closed_stages(
        (1, 4, 16, 32, 64), rps, [48.0, 51.0, 72.0, 91.0, 168.0], cpu=cpu, busiest_cpu=[14.0, 40.0, 95.0, 96.0, 95.0]
    )
    stages = [
        dataclasses.replace(s, loadgen_cpu=20.0, machine_cpu=m)
        for s, m in zip(stages, [9, 30, 85, 98, 100], strict=True)
    ]
    signals = make_signals(*stages)
    assert T.cpu_bound(signals) is not None
    idle = make_signals(*[dataclasses.replace(s, cpu=20.0, busiest_cpu=10.0, machine_cpu=15.0) for s in stages])
    assert T.cpu_bound(idle) is None  # the same curve with the CPU idle is not


def test_gpu_bound_drops_concurrency_capped_so_nobody_is_told_to_add_workers() -> None:
    from tests.test_traits import gpu_bound_signals

    gpu = gpu_bound_signals()
    idle_host = dataclasses.replace(
        gpu, stages=tuple(dataclasses.replace(s, cpu=20.0, busiest_cpu=20.0) for s in gpu.stages)
    )
    found = ids(idle_host)
    assert "gpu-bound" in found and not found & {"concurrency-capped", "event-loop-blocked", "cpu-bound"}
    recs = {r.id for r in recommend(T.find_traits(idle_host), None, 2, 1)}
    assert not recs & {"raise-concurrency-limit", "raise-worker-pool", "worker-processes"}


def test_a_stage_the_generator_could_not_deliver_is_never_capacity() -> None:
    from profiler.analysis.advice.capacity import capacity_section

    stages = closed_stages((1, 2, 4), [50.0, 100.0, 190.0], [20.0, 20.0, 21.0])
    stages = [dataclasses.replace(s, slo_latency=s.p95) for s in stages]
    stages[2] = dataclasses.replace(stages[2], unsent=40)
    cap = capacity_section(make_signals(*stages), 100.0, "p95<=100ms", None, 0.3)
    assert cap is not None and cap.capacity_stage == 1 and cap.limited_by == "generator"
