"""Command line: a thin layer over `profiler.session` and `profiler.report`.

Every ProfilerError is caught here, once, and printed as one line on stderr with a non-zero
exit code; nothing a user can cause ends in a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from profiler.gate import GatePlan
    from profiler.gate.settings import GateSettings
    from profiler.schema import Report

from profiler import __version__, plancli
from profiler import cliopts as opt
from profiler.config import (
    DEFAULT_DURATION_S,
    DEFAULT_HEADROOM,
    DEFAULT_MEMORY_LIMIT_MB,
    DEFAULT_PYSPY_RATE,
    PROBE_PATH,
    RunConfig,
    check_option,
    parse_slo,
    substitute_port,
)
from profiler.errors import EXIT_INTERRUPTED, EXIT_USAGE, ConfigError, ProfilerError, folder_write_error

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="How your web app behaves under load, and what that means for scaling and hosting.",
)


def _emit(outcome_report: object, as_json: bool, quiet: bool) -> None:
    from profiler.schema import Report

    assert isinstance(outcome_report, Report)
    if as_json:
        from profiler.report import json_file

        sys.stdout.write(json_file.render(outcome_report))
    elif not quiet:
        from profiler.console import print_report

        print_report(outcome_report)


def _run(config: RunConfig, quiet: bool, as_json: bool) -> tuple[int, Report]:
    from profiler.session import QuietView, Session, View

    view: View
    if quiet or as_json:
        view = QuietView()
    else:
        from profiler.console import LiveView

        view = LiveView()
    try:
        outcome = Session(config, view).run()
    except OSError as e:
        # Disk full or a folder taken away mid-run: the children are already stopped by then.
        view.close()
        raise folder_write_error(config.out, e) from None
    # A run that failed before any request has nothing to tabulate: the error line says it all
    # (report.json is still written, and --json still prints it).
    if as_json or outcome.error is None or outcome.report.load.requests > 0:
        _emit(outcome.report, as_json, quiet)
    if outcome.error is not None:
        _fail(outcome.error)
    if outcome.status == "interrupted":
        _say(f"interrupted: partial report written to {outcome.folder / 'report.json'}")
    return outcome.exit_code, outcome.report


def _say(text: str) -> None:
    sys.stderr.write(text + "\n")


def _fail(err: ProfilerError) -> None:
    from profiler.console import error_line

    error_line(str(err))


@app.command()
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
    headroom: opt.Headroom = DEFAULT_HEADROOM,
    no_pyspy: opt.NoPyspy = False,
    pyspy_rate: opt.PyspyRate = DEFAULT_PYSPY_RATE,
    pyspy_seconds: opt.PyspySeconds = opt.DEFAULT_PYSPY,
    pyspy_gil: opt.PyspyGil = False,
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
    from profiler.runargs import run_config

    cli_gate = _gate_settings(check, forbid_trait, baseline, fail_on, junit, markdown)
    gating = gate or cli_gate.judges or cli_gate.baseline is not None
    if sweep:
        raise typer.Exit(_sweep(locals(), gating, quiet, as_json))
    checked = run_config(locals())
    plan = _plan(cli_gate, config_file) if gating else None
    code, report = _run(checked, quiet, as_json)
    if plan is None:
        raise typer.Exit(code)
    from profiler.gating import conclude

    # With --json stdout holds report.json alone: the verdict is in gate.json and on stderr.
    verdict_code = conclude(plan[0], report, checked.out, plan[1], quiet or as_json, as_json=False)
    # The run's own failure (the target, the generator, an interrupt) is the verdict; else the gate's.
    raise typer.Exit(code or verdict_code)


def _sweep(args: dict[str, object], gating: bool, quiet: bool, as_json: bool) -> int:
    from profiler.runargs import sweep_runs
    from profiler.sweepcli import run_sweep

    if gating:
        raise ConfigError(
            "--sweep cannot be gated in the same command.", "gate a configuration's folder: profiler gate DIR"
        )
    axes, runs = sweep_runs(args)
    return run_sweep(axes, runs, str(args["launch"]), lambda c: _run(c, quiet or as_json, False), quiet, as_json)


def _gate_settings(
    check: list[str] | None,
    forbid_trait: list[str] | None,
    baseline: Path | None,
    fail_on: list[str] | None,
    junit: Path | None,
    markdown: Path | None,
) -> GateSettings:
    from profiler.gate.settings import GateSettings

    return GateSettings.given(check, forbid_trait, fail_on, baseline=baseline, junit=junit, markdown=markdown)


def _plan(cli: GateSettings, config_file: Path | None) -> tuple[GatePlan, GateSettings]:
    from profiler.gating import gate_plan

    return gate_plan(cli, config_file)


@app.command()
def gate(
    folder: Annotated[Path, typer.Argument(help="A run folder written by `profiler run`.")],
    check: opt.Check = None,
    forbid_trait: opt.ForbidTrait = None,
    baseline: opt.Baseline = None,
    fail_on: opt.FailOn = None,
    junit: opt.Junit = None,
    markdown: opt.Markdown = None,
    config_file: opt.ConfigFile = None,
    quiet: opt.Quiet = False,
    as_json: opt.AsJson = False,
) -> None:
    """Judge a saved run against checks (and a baseline): exit 0 passed, 1 failed, 5 not judgeable."""
    from profiler.analyze import load_report
    from profiler.gating import conclude

    plan, settings = _plan(_gate_settings(check, forbid_trait, baseline, fail_on, junit, markdown), config_file)
    report = load_report(folder)
    raise typer.Exit(conclude(plan, report, folder, settings, quiet, as_json))


@app.command()
def compare(
    base: Annotated[Path, typer.Argument(help="The base run folder (e.g. the stored baseline).")],
    new: Annotated[Path, typer.Argument(help="The new run folder.")],
    fail_on: opt.FailOn = None,
    junit: opt.Junit = None,
    markdown: opt.Markdown = None,
    quiet: opt.Quiet = False,
    as_json: opt.AsJson = False,
) -> None:
    """What changed between two runs, stage by stage, beyond the runs' own noise."""
    from profiler.gating import compare_folders

    raise typer.Exit(compare_folders(base, new, tuple(fail_on or ()), junit, markdown, quiet, as_json))


@app.command()
def report(
    folder: Annotated[Path, typer.Argument(help="A run folder written by `profiler run`.")],
    html: Annotated[bool, typer.Option("--html", help="Rebuild report.html in the folder.")] = False,
    markdown: opt.Markdown = None,
) -> None:
    """Rebuild the outputs of a saved run (report.html, a Markdown summary) without loading anything."""
    from profiler.analyze import rebuild_outputs

    if not html and markdown is None:
        raise ConfigError("nothing to rebuild.", "give --html, --markdown PATH, or both")
    for path in rebuild_outputs(folder, html=html, markdown=markdown):
        _say(f"wrote {path}")


@app.command()
def analyze(
    folder: Annotated[Path, typer.Argument(help="A run folder written by `profiler run`.")],
    slo: opt.Slo = None,
    peak_rps: opt.PeakRps = None,
    headroom: opt.HeadroomOverride = None,
    price: opt.Price = None,
    catalog: opt.Catalog = None,
    watts_per_core: opt.WattsPerCore = None,
    memory_limit: Annotated[
        float | None, typer.Option("--memory-limit", help="Memory limit in MiB (default: the run's).", min=1.0)
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Save the rebuilt report here (a what-if never replaces report.json)."),
    ] = None,
    quiet: opt.Quiet = False,
    as_json: opt.AsJson = False,
) -> None:
    """Rebuild the report from a saved run folder (no load is sent); options override the run's.

    Without options it replaces the folder's report.json; with them it is a what-if, saved only to --out."""
    from profiler.analyze import reanalyse

    report, not_saved = reanalyse(
        folder,
        slo=parse_slo(slo),
        peak_rps=check_option("--peak-rps", peak_rps),
        headroom=check_option("--headroom", headroom),
        memory_limit_mb=check_option("--memory-limit", memory_limit),
        pricing=plancli.pricing(price, catalog, watts_per_core),
        out=out,
    )
    _emit(report, as_json, quiet)
    if not_saved is not None:
        raise not_saved
    if out is None and any(
        v is not None for v in (slo, peak_rps, headroom, memory_limit, price, catalog, watts_per_core)
    ):
        _say("what-if not saved: report.json keeps what the run found; --out FILE saves this one")


app.command()(plancli.plan)


@app.command()
def demo(
    out: opt.Out = None,
    duration: opt.Duration = None,
    quiet: opt.Quiet = False,
    as_json: opt.AsJson = False,
) -> None:
    """Profile the bundled example app (a pilot AI endpoint) end to end."""
    launch_cmd = f"{sys.executable} -m profiler.demo_app --port {{port}}"
    from profiler.runargs import checked, default_out, seconds

    url, launch_cmd2 = substitute_port("http://127.0.0.1:{port}/predict", launch_cmd)
    config = RunConfig(
        url=url,
        out=out or default_out(),
        launch=launch_cmd2,
        duration_s=seconds(duration, "--duration") or DEFAULT_DURATION_S,
    )
    raise typer.Exit(_run(checked(config), quiet, as_json)[0])


@app.command()
def worker(
    master: Annotated[
        str, typer.Option("--master", help="The run's master, HOST:PORT (its --master-host/--master-port).")
    ],
    locustfile: opt.Locustfile = None,
) -> None:
    """Join a `profiler run --expect-workers N` from this machine and send its load (until it ends)."""
    import subprocess

    host, sep, port = master.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"--master '{master}' is not HOST:PORT.", "e.g. --master 10.0.0.5:5557")
    args = [sys.executable, "-m", "profiler.load.worker", "--worker-of", master]
    code = subprocess.call([*args, str(locustfile.resolve())] if locustfile else args)
    raise typer.Exit(code)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"profiler {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    pass


def _usage_line(e: Exception) -> ConfigError:
    """Click's usage error (a bad option value, a missing argument) as our one line."""
    message = getattr(e, "format_message", lambda: str(e))()
    ctx = getattr(e, "ctx", None)
    where = ctx.command_path if ctx is not None else "profiler"
    return ConfigError(str(message), f"see '{where} --help'")


def main() -> None:
    """The one place a ProfilerError is caught: one line on stderr, its exit code."""
    try:
        code = app(standalone_mode=False, prog_name="profiler")
    except ProfilerError as e:
        _fail(e)
        raise SystemExit(e.exit_code) from None
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        raise SystemExit(EXIT_INTERRUPTED) from None
    except Exception as e:
        if type(e).__name__ == "NoArgsIsHelpError":  # the help is already printed
            raise SystemExit(0) from None
        if type(e).__name__ == "Abort":
            sys.stderr.write("interrupted\n")
            raise SystemExit(EXIT_INTERRUPTED) from None
        if not hasattr(e, "format_message"):  # not a usage error: a bug, and its traceback
            raise
        _fail(_usage_line(e))
        raise SystemExit(EXIT_USAGE) from None
    raise SystemExit(code if isinstance(code, int) else 0)
