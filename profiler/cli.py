"""Command line: a thin layer over `profiler.session` and `profiler.report`.

Every ProfilerError is caught here, once, and printed as one line on stderr with a non-zero
exit code; nothing a user can cause ends in a traceback.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from profiler import __version__
from profiler.config import (
    DEFAULT_DURATION_S,
    DEFAULT_HEADROOM,
    DEFAULT_MAX_USERS,
    DEFAULT_MEMORY_LIMIT_MB,
    DEFAULT_PYSPY_RATE,
    DEFAULT_PYSPY_SECONDS,
    DEFAULT_REQUEST_TIMEOUT_S,
    PROBE_PATH,
    RunConfig,
    check_option,
    check_options,
    parse_body,
    parse_header,
    parse_rates,
    parse_slo,
    parse_users,
    substitute_port,
    validate_probe_path,
    validate_url,
)
from profiler.errors import ConfigError, ProfilerError, folder_write_error

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="How your web app behaves under load, and what that means for scaling and hosting.",
)


def _default_out() -> Path:
    return Path("runs") / time.strftime("%Y%m%d-%H%M%S")


def _emit(outcome_report: object, as_json: bool, quiet: bool) -> None:
    from profiler.schema import Report

    assert isinstance(outcome_report, Report)
    if as_json:
        from profiler.report import json_file

        sys.stdout.write(json_file.render(outcome_report))
    elif not quiet:
        from profiler.console import print_report

        print_report(outcome_report)


def _run(config: RunConfig, quiet: bool, as_json: bool) -> int:
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
    return outcome.exit_code


def _checked(config: RunConfig) -> RunConfig:
    """Options in range and stages long enough, checked before anything starts."""
    from profiler.load.plan import check_plan

    return check_plan(check_options(config))


def _say(text: str) -> None:
    sys.stderr.write(text + "\n")


def _fail(err: ProfilerError) -> None:
    from profiler.console import error_line

    error_line(str(err))


Duration = Annotated[
    float | None,
    typer.Option(
        "--duration",
        help=f"Seconds of load in all (default {DEFAULT_DURATION_S:g}), split equally over the stages.",
        min=1.0,
    ),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No live view and no tables; the report is still saved.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print report.json to stdout instead of tables.")]
Out = Annotated[Path | None, typer.Option("--out", "-o", help="Run folder to create (default runs/DATE-TIME).")]
Slo = Annotated[str | None, typer.Option("--slo", help="Latency objective for capacity, e.g. p95=300ms.")]
PeakRps = Annotated[
    float | None, typer.Option("--peak-rps", help="Peak traffic to size for: instances needed.", min=0.001)
]
MemoryLimit = Annotated[
    float, typer.Option("--memory-limit", help="Memory limit (MiB) to project a leak's time-to-limit against.", min=1.0)
]
Headroom = Annotated[
    float, typer.Option("--headroom", help="Spare capacity kept when sizing, as a fraction.", min=0.0, max=10.0)
]


@app.command()
def run(
    url: Annotated[
        str, typer.Argument(help="Endpoint to load, e.g. http://127.0.0.1:8000/predict ('{port}' = a free port).")
    ],
    launch: Annotated[
        str | None, typer.Option("--launch", help="Command that starts the target; it is stopped at the end.")
    ] = None,
    pid: Annotated[
        int | None, typer.Option("--pid", help="Attach to a running target (and its worker processes) instead.", min=1)
    ] = None,
    cwd: Annotated[Path | None, typer.Option("--cwd", help="Working folder for --launch.")] = None,
    out: Out = None,
    ready_timeout: Annotated[
        float, typer.Option("--ready-timeout", help="Seconds to wait for the target to answer.", min=0.1)
    ] = 30.0,
    duration: Duration = None,
    users: Annotated[
        str | None,
        typer.Option("--users", help="Top of the 1,2,4.. ladder (e.g. 32), or the exact stages (e.g. 1,4,16)."),
    ] = None,
    stages: Annotated[
        int | None, typer.Option("--stages", help="Number of stages from 1 user to the top.", min=1, max=50)
    ] = None,
    rate: Annotated[
        str | None,
        typer.Option("--rate", help="Open model: arrivals per second, one or a list of stages (e.g. 20,40,80)."),
    ] = None,
    method: Annotated[str, typer.Option("--method", "-X", help="HTTP method.")] = "GET",
    header: Annotated[list[str] | None, typer.Option("--header", "-H", help="'Name: value', repeatable.")] = None,
    body: Annotated[str | None, typer.Option("--body", "-d", help="Request body, or @file.json.")] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds before one request counts as failed.", min=0.1)
    ] = DEFAULT_REQUEST_TIMEOUT_S,
    interval: Annotated[
        float, typer.Option("--interval", help="Seconds between process samples.", min=0.01, max=10.0)
    ] = 0.1,
    no_probe: Annotated[
        bool, typer.Option("--no-probe", help=f"Do not send the light probe requests to {PROBE_PATH}.")
    ] = False,
    probe_path: Annotated[
        str, typer.Option("--probe-path", help="Cheap path for the probe (a 404 is fine).")
    ] = PROBE_PATH,
    no_early_stop: Annotated[
        bool, typer.Option("--no-early-stop", help="Run every stage even once saturated.")
    ] = False,
    max_requests: Annotated[
        int, typer.Option("--max-requests", help="Hard cap on requests in the run.", min=1)
    ] = 2_000_000,
    slo: Slo = None,
    peak_rps: PeakRps = None,
    headroom: Headroom = DEFAULT_HEADROOM,
    no_pyspy: Annotated[bool, typer.Option("--no-pyspy", help="Do not attach py-spy.")] = False,
    pyspy_rate: Annotated[
        int, typer.Option("--pyspy-rate", help="py-spy samples per second.", min=1, max=1000)
    ] = DEFAULT_PYSPY_RATE,
    pyspy_seconds: Annotated[
        float, typer.Option("--pyspy-seconds", help="Length of the extra stage profiled by py-spy.", min=2.0, max=600.0)
    ] = DEFAULT_PYSPY_SECONDS,
    pyspy_gil: Annotated[
        bool,
        typer.Option(
            "--pyspy-gil",
            help="Also measure the share of time the GIL is held (second half of the py-spy stage runs with --gil).",
        ),
    ] = False,
    memory_limit: MemoryLimit = DEFAULT_MEMORY_LIMIT_MB,
    no_gpu: Annotated[bool, typer.Option("--no-gpu", help="Do not sample GPUs.")] = False,
    allow_remote: Annotated[
        bool, typer.Option("--allow-remote", help="Allow a target that is not on this machine.")
    ] = False,
    quiet: Quiet = False,
    as_json: AsJson = False,
) -> None:
    """Load a target in stages, sample it, and save a run folder with report.json."""
    if (launch is None) == (pid is None):
        raise ConfigError(
            "give exactly one of --launch or --pid.",
            "--launch 'uvicorn app:app --port 8000' starts the app; --pid 4242 attaches to it",
        )
    url, launch = substitute_port(url, launch)
    if users is not None and rate is not None:
        raise ConfigError("--users and --rate cannot be combined.", "--users is the closed model, --rate the open one")
    user_list: tuple[int, ...] = ()
    max_users = DEFAULT_MAX_USERS
    if users is not None:
        parsed = parse_users(users)
        if len(parsed) == 1 and stages is None or len(parsed) == 1:
            max_users = parsed[0]
        else:
            user_list = parsed
    config = RunConfig(
        url=validate_url(url, allow_remote),
        out=out or _default_out(),
        launch=launch,
        pid=pid,
        cwd=cwd,
        ready_timeout_s=ready_timeout,
        duration_s=duration or DEFAULT_DURATION_S,
        users=user_list,
        max_users=max_users,
        stage_count=stages,
        rates=parse_rates(rate) if rate is not None else (),
        method=method.upper(),
        headers=tuple(parse_header(h) for h in header or ()),
        body=parse_body(body),
        request_timeout_s=timeout,
        sample_interval_s=interval,
        probe=not no_probe,
        probe_path=validate_probe_path(probe_path),
        early_stop=not no_early_stop,
        max_requests=max_requests,
        allow_remote=allow_remote,
        slo=parse_slo(slo),
        peak_rps=peak_rps,
        headroom=headroom,
        pyspy=not no_pyspy,
        pyspy_rate=pyspy_rate,
        pyspy_seconds=pyspy_seconds,
        pyspy_gil=pyspy_gil,
        memory_limit_mb=memory_limit,
        gpu=not no_gpu,
    )
    raise typer.Exit(_run(_checked(config), quiet, as_json))


@app.command()
def analyze(
    folder: Annotated[Path, typer.Argument(help="A run folder written by `profiler run`.")],
    slo: Slo = None,
    peak_rps: PeakRps = None,
    headroom: Annotated[
        float | None,
        typer.Option("--headroom", help="Spare capacity kept when sizing (default: the run's).", min=0.0, max=10.0),
    ] = None,
    memory_limit: Annotated[
        float | None, typer.Option("--memory-limit", help="Memory limit in MiB (default: the run's).", min=1.0)
    ] = None,
    quiet: Quiet = False,
    as_json: AsJson = False,
) -> None:
    """Rebuild report.json from a saved run folder (no load is sent); options override the run's."""
    from profiler.analyze import reanalyse

    report, not_saved = reanalyse(
        folder,
        slo=parse_slo(slo),
        peak_rps=check_option("--peak-rps", peak_rps),
        headroom=check_option("--headroom", headroom),
        memory_limit_mb=check_option("--memory-limit", memory_limit),
    )
    _emit(report, as_json, quiet)
    if not_saved is not None:
        raise not_saved


@app.command()
def demo(
    out: Out = None,
    duration: Duration = None,
    quiet: Quiet = False,
    as_json: AsJson = False,
) -> None:
    """Profile the bundled example app (a pilot AI endpoint) end to end."""
    launch_cmd = f"{sys.executable} -m profiler.demo_app --port {{port}}"
    url, launch_cmd2 = substitute_port("http://127.0.0.1:{port}/predict", launch_cmd)
    config = RunConfig(
        url=url, out=out or _default_out(), launch=launch_cmd2, duration_s=duration or DEFAULT_DURATION_S
    )
    raise typer.Exit(_run(_checked(config), quiet, as_json))


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


def main() -> None:
    """The one place a ProfilerError is caught: one line on stderr, its exit code."""
    try:
        app()
    except ProfilerError as e:
        _fail(e)
        raise SystemExit(e.exit_code) from None
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        raise SystemExit(130) from None
