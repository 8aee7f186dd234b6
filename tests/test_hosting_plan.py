"""The hosting plan: each number against a hand-computed value, the server lines against the real
servers' own option parsers, the Kubernetes objects against a YAML parser and the HPA v2 fields,
and the whole plan through a real run of gunicorn."""

from __future__ import annotations

import json
import math
import shlex
import sys
from pathlib import Path

import pytest
import yaml

from profiler.analysis.advice.plan import PlanOptions, cost, energy, fleet, fleet_size, plan_section, timeout_s
from profiler.analysis.advice.plan_config import app_spec, server_config
from profiler.base.errors import ConfigError
from profiler.base.pricing import HOURS_PER_MONTH, Shape, load_catalog, parse_price
from profiler.report.k8s import manifests
from profiler.schema.plan import Envelope
from profiler.schema.report import (
    CapacitySection,
    EnergySection,
    EnergyStage,
    GpuDeviceStage,
    GpuSection,
    LatencyStats,
    ResourceSection,
    ServerInfo,
    StageReport,
)
from tests.conftest import APPS, ROOT, assert_no_traceback, read_report, run_cli

SERVERS = APPS / "servers"
BIN = Path(sys.executable).parent


def _lat(p50: float, p95: float, p99: float) -> LatencyStats:
    return LatencyStats(count=100, mean=p50, p50=p50, p90=p95, p95=p95, p99=p99, max=p99)


def _stage(index: int = 1, users: int | None = 8, rps: float = 200.0, cpu: float | None = 95.0, rss: float | None = 512.0,
           p99: float = 80.0) -> StageReport:  # fmt: skip
    return StageReport(
        index=index, users=users, measured_s=10.0, completed=True, requests=2000, rps=rps, ok_rps=rps,
        latency=_lat(30.0, 60.0, p99), ttfb=_lat(29.0, 59.0, p99 - 1), error_rate=0.0, bytes_per_request=100.0,
        target_cpu_pct=cpu, target_rss_mb=rss, target_sockets=12, server_timing_coverage=0.0, profiled=False,
    )  # fmt: skip


def _resources(gpu_util: float | None = None, cpu_j: float | None = None) -> ResourceSection:
    per_stage = [GpuDeviceStage(stage=1, device=0, util_gpu_mean=gpu_util, mem_used_max_mb=4096.0)] if gpu_util else []
    energy_rows = [EnergyStage(stage=1, cpu_j_per_request=cpu_j)] if cpu_j is not None else []
    return ResourceSection(
        samples=100, gpu=GpuSection(available=bool(per_stage), per_stage=per_stage),
        energy=EnergySection(per_stage=energy_rows),
    )  # fmt: skip


def _capacity(rps: float = 200.0) -> CapacitySection:
    return CapacitySection(slo_basis="SLO p95<=100ms", capacity_rps=rps, capacity_stage=1, capacity_users=8)


def _server(name: str = "gunicorn", workers: int = 2, worker_class: str | None = "sync") -> ServerInfo:
    return ServerInfo(language="python", server=name, worker_class=worker_class, model="sync-pool", workers=workers,
                      cores_available=2.0)  # fmt: skip


def _env(cores: float | None = 2.0, rss: float | None = 512.0, capacity: float = 200.0) -> Envelope:
    return Envelope(capacity_rps=capacity, stage=1, users=8, latency_p95_ms=60.0, cores_used=cores, rss_mb=rss)


# -- numbers, by hand ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("peak", "capacity", "headroom", "expected"),
    [
        (1000.0, 300.0, 0.3, 5),
        (900.0, 300.0, 0.0, 3),
        (901.0, 300.0, 0.0, 4),
        (210.0, 300.0, 0.3, 1),
        (600, 300, 0.5, 4),
    ],
)
def test_a_fleet_keeps_its_headroom_spare_at_the_peak(
    peak: float, capacity: float, headroom: float, expected: int
) -> None:
    n = fleet_size(peak, capacity, headroom)
    assert n == expected
    # the definition: at the peak the fleet runs at most (1 - headroom) of its capacity, with one fewer it would not
    assert peak / (n * capacity) <= 1 - headroom + 1e-9
    assert n == 1 or peak / ((n - 1) * capacity) > 1 - headroom


def test_fleet_totals_and_cost_of_a_peak() -> None:
    env = _env(cores=0.984, rss=54.8, capacity=160.77)
    fl = fleet(env, 1000.0, 0.3)
    assert fl is not None and fl.instances == 9  # ceil(1000 / (160.77 x 0.7)) = ceil(8.886)
    assert fl.cores_total == pytest.approx(8.86) and fl.memory_gb_total == pytest.approx(0.48, abs=0.005)
    assert fl.utilisation_at_peak == pytest.approx(1000 / (9 * 160.77), abs=1e-4)
    c = cost(env, fl, PlanOptions(peak_rps=1000.0, price_per_hour=0.17))
    assert c is not None
    assert c.per_hour == pytest.approx(1.53)  # 9 x 0.17
    assert c.per_month == pytest.approx(1.53 * 730)
    assert c.per_million_requests == pytest.approx(1.53 / 3.6, abs=1e-4)  # 1000 rps = 3.6M requests an hour


def test_cost_per_million_without_a_peak_is_one_instance_at_its_planned_utilisation() -> None:
    c = cost(_env(capacity=100.0), None, PlanOptions(price_per_hour=0.36, headroom=0.5))
    assert c is not None and c.per_hour is None
    assert c.per_million_requests == pytest.approx(0.36 / (50.0 * 3600) * 1e6)  # 2.0 per 1M


def test_a_cpu_heavy_and_a_memory_heavy_app_pick_different_shapes() -> None:
    catalog = (Shape("compute-4x8", 4, 8, 0.17), Shape("memory-2x16", 2, 16, 0.13))
    cpu_heavy = cost(_env(cores=2.0, rss=1024.0), None, PlanOptions(catalog=catalog))
    mem_heavy = cost(_env(cores=0.5, rss=6144.0), None, PlanOptions(catalog=catalog))
    assert cpu_heavy is not None and mem_heavy is not None
    # cpu-heavy: compute holds min(4 // 2, 8192 // 1024) = 2 for 0.17, memory holds min(2 // 2, 16) = 1 for 0.13
    assert cpu_heavy.cheapest == "compute-4x8"
    by_name = {s.name: s for s in cpu_heavy.shapes}
    assert (by_name["compute-4x8"].per_shape, by_name["compute-4x8"].limited_by) == (2, "cores")
    assert by_name["compute-4x8"].cost_per_million == pytest.approx(0.17 / (2 * 200 * 0.7 * 3600) * 1e6, abs=1e-4)
    # memory-heavy: compute holds min(8, 8192 // 6144 = 1) = 1, memory min(4, 16384 // 6144 = 2) = 2 for less
    assert mem_heavy.cheapest == "memory-2x16"
    assert {s.name: s.limited_by for s in mem_heavy.shapes} == {"memory-2x16": "memory", "compute-4x8": "memory"}


def test_a_shape_too_small_for_one_instance_is_said_so_not_chosen() -> None:
    c = cost(_env(cores=2.0, rss=512.0), fleet(_env(), 1000.0, 0.3),
             PlanOptions(catalog=(Shape("tiny", 1, 1, 0.01), Shape("big", 4, 8, 0.2))))  # fmt: skip
    assert c is not None and c.cheapest == "big"
    tiny = next(s for s in c.shapes if s.name == "tiny")
    assert tiny.per_shape == 0 and tiny.count is None and tiny.cost_per_million is None
    big = next(s for s in c.shapes if s.name == "big")
    assert big.count == math.ceil(8 / 2)  # 8 instances for 1000 rps at 200 x 0.7, two per shape


def test_energy_is_measured_where_rapl_was_and_an_estimate_said_so_elsewhere() -> None:
    estimated = energy(_stage(cpu=95.0, rps=200.0), _resources(), watts_per_core=10.0)
    assert estimated is not None and estimated.cpu_source == "estimate"
    assert estimated.cpu_seconds_per_request == pytest.approx(0.95 / 200)
    assert estimated.joules_per_request == pytest.approx(0.95 / 200 * 10.0)
    assert estimated.joules_per_1k == pytest.approx(47.5)
    measured = energy(_stage(), _resources(cpu_j=0.031), watts_per_core=10.0)
    assert measured is not None and measured.cpu_source == "rapl" and measured.watts_per_core is None
    assert measured.joules_per_request == pytest.approx(0.031)
    assert energy(_stage(cpu=None), _resources(), 10.0) is None  # nothing measured, nothing to estimate from


def test_request_timeout_is_twice_the_p99_at_capacity_never_under_a_second() -> None:
    assert timeout_s(_stage(p99=800.0)) == pytest.approx(1.6)
    assert timeout_s(_stage(p99=1234.0)) == pytest.approx(2.5)  # 2.468 rounded up to 0.1 s
    assert timeout_s(_stage(p99=10.0)) == 1.0


def _plan(traits: set[str], resources: ResourceSection | None = None, server: ServerInfo | None = None,
          command: str | None = None, **options: object):  # type: ignore[no-untyped-def]  # fmt: skip
    return plan_section([_stage()], _capacity(), resources or _resources(), server or _server(), traits,
                        PlanOptions(**options), command)  # type: ignore[arg-type]  # fmt: skip


def test_the_autoscaling_signal_follows_what_set_the_capacity() -> None:
    cpu = _plan({"cpu-bound"}).autoscaling
    assert (cpu.signal, cpu.target) == ("cpu", 70.0)  # 70% of the CPU an instance used at capacity
    waiting = _plan({"io-bound"}).autoscaling
    assert (waiting.signal, waiting.target) == ("in-flight", pytest.approx(8 * 0.7))
    gpu = _plan({"cpu-bound"}, resources=_resources(gpu_util=80.0)).autoscaling
    assert (gpu.signal, gpu.target) == ("gpu", pytest.approx(56.0))


def test_the_open_models_concurrency_limit_is_littles_law() -> None:
    open_stage = _stage(users=None, rps=100.0).model_copy(update={"rate": 100.0})  # type: ignore[arg-type]
    open_stage.latency.mean = 50.0
    plan = plan_section([open_stage], _capacity(100.0), _resources(), _server(), {"io-bound"}, PlanOptions())
    assert plan is not None and plan.concurrency_limit == 5  # 100 arrivals a second x 0.05 s each
    assert plan.autoscaling is not None and plan.autoscaling.target == pytest.approx(3.5)


def test_no_capacity_no_plan() -> None:
    c = CapacitySection(slo_basis="SLO p95<=1ms", latency_limit_ms=1.0)
    assert plan_section([_stage()], c, _resources(), _server(), set(), PlanOptions()) is None


# -- paste-ready lines, checked by the servers' own parsers -------------------------------------


def test_the_gunicorn_line_parses_with_gunicorns_own_options() -> None:
    from gunicorn.config import Config

    assert app_spec("gunicorn -w 2 -b 127.0.0.1:8000 app.main:app") == "app.main:app"
    config = server_config(_server(worker_class="gthread"), _env(), 1.6, 8, "gunicorn -w 2 app.main:app")
    assert config is not None and config.command is not None
    argv = shlex.split(config.command)
    parsed = Config().parser().parse_args(argv[1:])
    assert parsed.workers == 2 and parsed.worker_class == "gthread" and parsed.timeout == 2
    assert parsed.args == ["app.main:app"]


def test_the_uvicorn_line_parses_with_uvicorns_own_options() -> None:
    from uvicorn.main import main as uvicorn_main

    config = server_config(_server("uvicorn", 4, None), _env(), 1.0, 32, "uvicorn svc:api --port 8000")
    assert config is not None and config.command is not None
    argv = shlex.split(config.command)
    ctx = uvicorn_main.make_context("uvicorn", argv[1:])
    assert ctx.params["workers"] == 4 and ctx.params["limit_concurrency"] == 32 and ctx.params["app"] == "svc:api"


def test_a_server_whose_flags_are_not_known_gets_no_python_flags() -> None:
    config = server_config(_server("node", 1, None), _env(), 1.0, 16)
    assert config is not None and config.command is None
    assert "--workers" not in " ".join(config.notes) and "16 in flight" in config.notes[0]


def test_kubernetes_objects_parse_and_carry_valid_hpa_v2_fields() -> None:
    plan = _plan({"cpu-bound"}, peak_rps=1000.0, command="gunicorn -w 2 app:app")
    text = manifests(plan, "runs/x", name="api")
    assert text.startswith("# profiler plan of runs/x")
    deployment, hpa = list(yaml.safe_load_all(text))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["requests"] == {"cpu": "950m", "memory": f"{math.ceil(512 * 1.2)}Mi"}
    assert container["resources"]["limits"] == {"memory": f"{math.ceil(512 * 1.5)}Mi"}  # no CPU limit
    assert container["command"][:2] == ["gunicorn", "app:app"]
    assert deployment["spec"]["replicas"] == fleet_size(1000.0, 200.0, 0.3) == 8
    assert (hpa["apiVersion"], hpa["kind"]) == ("autoscaling/v2", "HorizontalPodAutoscaler")
    spec = hpa["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"}
    assert 1 <= spec["minReplicas"] <= spec["maxReplicas"] == 8
    (metric,) = spec["metrics"]
    assert metric == {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization",
                                                                               "averageUtilization": 70}}}  # fmt: skip
    waiting = manifests(_plan({"io-bound"}), "runs/x")
    pods = list(yaml.safe_load_all(waiting))[1]["spec"]["metrics"][0]
    assert pods["type"] == "Pods" and pods["pods"]["target"] == {"type": "AverageValue", "averageValue": "5600m"}


# -- what the user says of money ------------------------------------------------------------------


def test_prices_and_catalogs_are_read_or_refused_in_one_line(tmp_path: Path) -> None:
    assert parse_price("0.17/h") == 0.17 and parse_price("0.17") == 0.17
    assert parse_price("124/month") == pytest.approx(124 / HOURS_PER_MONTH)
    with pytest.raises(ConfigError, match="not a price"):
        parse_price("cheap")
    shapes = load_catalog(ROOT / "examples" / "hosting" / "catalog.toml")
    assert [s.name for s in shapes][:2] == ["compute-2x4", "general-2x8"]
    bad = tmp_path / "bad.toml"
    bad.write_text('[[shape]]\nname = "x"\nvcpus = 2\nmemory_gb = -1\nprice_per_hour = 1\n')
    with pytest.raises(ConfigError, match="memory_gb"):
        load_catalog(bad)


# -- through a real run ------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_gunicorn_run_plans_its_fleet_cost_and_config(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    launch = f"{BIN / 'gunicorn'} -w 2 --chdir {SERVERS} -b 127.0.0.1:{{port}} wsgi_blocking:app"
    result = run_cli(
        "run", "http://127.0.0.1:{port}/predict", "--launch", launch, "--users", "1,2,4,8", "--duration", "8",
        "--no-pyspy", "--peak-rps", "200", "--price", "0.10/h", "--out", str(folder), timeout=180,
    )  # fmt: skip
    assert_no_traceback(result)
    assert result.code == 0, result.output
    assert "Hosting plan" in result.output and "Fleet for 200 rps" in result.output
    plan = read_report(folder)["plan"]
    env, fl = plan["envelope"], plan["fleet"]
    # two sync workers each sleeping 50 ms: about 40 rps an instance, the pool is the limit
    assert 20 <= env["capacity_rps"] <= 45 and env["workers"] == 2
    assert fl["instances"] == fleet_size(200.0, env["capacity_rps"], 0.3)
    assert plan["cost"]["per_hour"] == pytest.approx(0.10 * fl["instances"])
    assert plan["autoscaling"]["signal"] == "in-flight"  # the CPU is idle while the pool is full
    command = shlex.split(plan["server"]["command"])
    assert command[:4] == ["gunicorn", "wsgi_blocking:app", "--workers", "2"] and "--worker-class" in command
    assert 'id="hosting-plan"' in (folder / "report.html").read_text()
    k8s = run_cli("plan", str(folder), "--k8s", "--catalog", str(ROOT / "examples" / "hosting" / "catalog.toml"))
    assert k8s.code == 0, k8s.output
    deployment, hpa = list(yaml.safe_load_all(k8s.stdout))
    assert hpa["spec"]["metrics"][0]["type"] == "Pods" and deployment["kind"] == "Deployment"
    text = run_cli("plan", str(folder), "--catalog", str(ROOT / "examples" / "hosting" / "catalog.toml"))
    assert text.code == 0 and "Cheapest shape for this app:" in text.stdout, text.output
    none = run_cli("plan", str(folder), "--slo", "p95=1ms")  # nothing meets 1 ms: nothing to plan from
    assert none.code == 2 and none.stderr.count("\n") == 1 and "no capacity to plan from" in none.stderr
    # The rollout, from this run's own start: probes on its URL, a preStop, no instance down first.
    pod = deployment["spec"]["template"]["spec"]
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}
    assert pod["containers"][0]["readinessProbe"]["httpGet"]["path"] == "/predict"
    assert plan["rollout"]["server_flag"].startswith("--graceful-timeout ")
    assert plan["rollout"]["ready_after_s"] == read_report(folder)["target"]["ready_after_s"]
    # The burst playbook from a measured spike of the same server: 1 user, then 8, then 1.
    spike = tmp_path / "spike"
    result = run_cli("run", "http://127.0.0.1:{port}/predict", "--launch", launch, "--shape", "5s:1,4s:8,6s:1",
                     "--no-pyspy", "--out", str(spike), timeout=180)  # fmt: skip
    assert result.code == 0, result.output
    burst = run_cli("plan", str(folder), "--burst", str(spike), "--json")
    assert burst.code == 0, burst.output
    book = json.loads(burst.stdout)["playbook"]
    measured = book["spike"]
    assert measured["source"] == str(spike) and measured["load_before"] == 1 and measured["load_after"] == 8
    # 8 users at one user's rate (~19 rps, 50 ms each) ask ~150 rps of a pool that serves ~40.
    assert measured["demand_rps"] > 2 * measured["served_rps"], measured
    assert book["warm_spares"] == math.ceil(round((measured["demand_rps"] - measured["demand_rps"] / 8)
                                                  / env["capacity_rps"], 9))  # fmt: skip
    assert book["lead_time_s"] == plan["rollout"]["ready_after_s"] and "launch" in book["lead_time_source"]
    assert book["queue_bound"] >= 1 and [m["mode"] for m in book["modes"]] == ["normal", "surge", "emergency"]
    shown = run_cli("plan", str(folder), "--burst", str(spike))
    assert "Burst playbook from the spike" in shown.stdout and "warm spare" in shown.stdout, shown.output
    flat = run_cli("plan", str(folder), "--burst", str(folder))  # a ladder has no step up to read
    assert flat.code == 2 and flat.stderr.count("\n") == 1 and "no step up" in flat.stderr, flat.stderr
