"""`profiler run` (one URL, a locustfile or a scenario; gated or not; a sweep) and `profiler demo`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from profiler.base.config import (
    DEFAULT_DURATION_S,
    DEFAULT_HEADROOM,
    DEFAULT_MEMORY_LIMIT_MB,
    DEFAULT_PYSPY_RATE,
    PROBE_PATH,
    RunConfig,
    substitute_port,
)
from profiler.base.errors import ConfigError
from profiler.cli import options as opt
from profiler.cli.app import execute
from profiler.cli.run_options import RunOptions

if TYPE_CHECKING:
    from profiler.gate.settings import GateSettings


def run(
    url: Annotated[
        str, typer.Argument(help="Endpoint to load, e.g. http://127.0.0.1:8000/predict ('{port}' = a free port).")
    ],
    launch: opt.Launch = None,
    pid: opt.Pid = None,
    cwd: opt.Cwd = None,
    out: opt.Out = None,
    ready_timeout: opt.ReadyTimeout = "30s",
    duration: opt.Duration = None,
    users: opt.Users = None,
    stages: opt.Stages = None,
    rate: opt.Rate = None,
    connections: opt.Connections = None,
    message: opt.Message = None,
    message_rate: opt.MessageRate = None,
    connect_rate: opt.ConnectRate = None,
    shape: opt.Shape = None,
    fault: opt.Faults = None,
    method: opt.Method = "GET",
    header: opt.Header = None,
    body: opt.Body = None,
    timeout: opt.Timeout = opt.DEFAULT_TIMEOUT,
    interval: opt.Interval = "100ms",
    no_probe: opt.Probe = False,
    probe_path: opt.ProbePath = PROBE_PATH,
    no_early_stop: opt.NoEarlyStop = False,
    max_requests: opt.MaxRequests = 2_000_000,
    slo: opt.Slo = None,
    peak_rps: opt.PeakRps = None,
    peak_connections: opt.PeakConnections = None,
    headroom: opt.Headroom = DEFAULT_HEADROOM,
    no_pyspy: opt.NoPyspy = False,
    pyspy_rate: opt.PyspyRate = DEFAULT_PYSPY_RATE,
    pyspy_seconds: opt.PyspySeconds = opt.DEFAULT_PYSPY,
    pyspy_gil: opt.PyspyGil = False,
    pyspy_native: opt.PyspyNative = False,
    memory_limit: opt.MemoryLimit = DEFAULT_MEMORY_LIMIT_MB,
    no_gpu: opt.NoGpu = False,
    allow_remote: opt.AllowRemote = False,
    locustfile: opt.Locustfile = None,
    scenario: opt.Scenario = None,
    workers: opt.Workers = None,
    expect_workers: opt.ExpectWorkers = 0,
    master_host: opt.MasterHost = "127.0.0.1",
    master_port: opt.MasterPort = 0,
    metrics_url: opt.MetricsUrl = None,
    sweep: opt.Sweep = None,
    price: opt.Price = None,
    catalog: opt.Catalog = None,
    watts_per_core: opt.WattsPerCore = None,
    quiet: opt.Quiet = False,
    gate: opt.Gate = False,
    check: opt.Check = None,
    forbid_trait: opt.ForbidTrait = None,
    baseline: opt.Baseline = None,
    fail_on: opt.FailOn = None,
    config_file: opt.ConfigFile = None,
    junit: opt.Junit = None,
    markdown: opt.Markdown = None,
    as_json: opt.AsJson = False,
) -> None:
    """Load a target in stages, sample it, and save a run folder with report.json and report.html."""
    from profiler.cli.gating import gate_settings

    options = RunOptions(
        url=url, launch=launch, pid=pid, cwd=cwd, out=out, ready_timeout=ready_timeout, duration=duration,
        users=users, stages=stages, rate=rate, connections=connections, message=message,
        message_rate=message_rate, connect_rate=connect_rate, shape=shape, fault=tuple(fault or ()), method=method, header=tuple(header or ()), body=body,
        timeout=timeout, interval=interval, no_probe=no_probe, probe_path=probe_path, no_early_stop=no_early_stop,
        max_requests=max_requests, slo=slo, peak_rps=peak_rps, peak_connections=peak_connections,
        headroom=headroom, no_pyspy=no_pyspy,
        pyspy_rate=pyspy_rate, pyspy_seconds=pyspy_seconds, pyspy_gil=pyspy_gil, pyspy_native=pyspy_native, memory_limit=memory_limit,
        no_gpu=no_gpu, allow_remote=allow_remote, locustfile=locustfile, scenario=scenario, workers=workers,
        expect_workers=expect_workers, master_host=master_host, master_port=master_port,
        metrics_url=tuple(metrics_url or ()), sweep=tuple(sweep or ()), price=price, catalog=catalog,
        watts_per_core=watts_per_core,
    )  # fmt: skip
    cli_gate = gate_settings(check, forbid_trait, baseline, fail_on, junit, markdown)
    raise typer.Exit(_run_and_judge(options, cli_gate, gate, config_file, quiet, as_json))


def _run_and_judge(
    options: RunOptions, cli_gate: GateSettings, gate: bool, config_file: Path | None, quiet: bool, as_json: bool
) -> int:
    from profiler.cli.gating import gate_plan
    from profiler.cli.run_options import run_config

    gating = gate or cli_gate.judges or cli_gate.baseline is not None
    if options.sweep:
        return _sweep(options, gating, quiet, as_json)
    checked = run_config(options)
    plan = gate_plan(cli_gate, config_file) if gating else None
    code, report = execute(checked, quiet, as_json)
    if plan is None:
        return code
    from profiler.cli.gating import conclude

    # With --json stdout holds report.json alone: the verdict is in gate.json and on stderr.
    verdict_code = conclude(plan[0], report, checked.out, plan[1], quiet or as_json, as_json=False)
    # The run's own failure (the target, the generator, an interrupt) is the verdict; else the gate's.
    return code or verdict_code


def _sweep(options: RunOptions, gating: bool, quiet: bool, as_json: bool) -> int:
    from profiler.cli.run_options import sweep_runs
    from profiler.cli.sweep import run_sweep

    if gating:
        raise ConfigError(
            "--sweep cannot be gated in the same command.", "gate a configuration's folder: profiler gate DIR"
        )
    axes, runs = sweep_runs(options)
    return run_sweep(axes, runs, str(options.launch), lambda c: execute(c, quiet or as_json, False), quiet, as_json)


def demo(
    out: opt.Out = None,
    duration: opt.Duration = None,
    quiet: opt.Quiet = False,
    as_json: opt.AsJson = False,
) -> None:
    """Profile the bundled example app (a pilot AI endpoint) end to end."""
    launch_cmd = f"{sys.executable} -m profiler.demo_app --port {{port}}"
    from profiler.cli.run_options import checked, default_out, seconds

    url, launch_cmd2 = substitute_port("http://127.0.0.1:{port}/predict", launch_cmd)
    config = RunConfig(
        url=url,
        out=out or default_out(),
        launch=launch_cmd2,
        duration_s=seconds(duration, "--duration") or DEFAULT_DURATION_S,
    )
    raise typer.Exit(execute(checked(config), quiet, as_json)[0])
