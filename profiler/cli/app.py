"""The command line's Typer app and the steps its commands share: run a session, show its report,
say a line on stderr. The commands live one module each beside this one; `profiler.cli.main`
registers them and is the one place a ProfilerError is caught."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import typer

from profiler.base.errors import ProfilerError, folder_write_error

if TYPE_CHECKING:
    from profiler.base.config import RunConfig
    from profiler.schema.report import Report

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="How your web app behaves under load, and what that means for scaling and hosting.",
)


def emit(outcome_report: object, as_json: bool, quiet: bool) -> None:
    from profiler.schema.report import Report

    assert isinstance(outcome_report, Report)
    if as_json:
        from profiler.report import json_file

        sys.stdout.write(json_file.render(outcome_report))
    elif not quiet:
        from profiler.run.console import print_report

        print_report(outcome_report)


def execute(config: RunConfig, quiet: bool, as_json: bool) -> tuple[int, Report]:
    """One run, end to end: the session, its report shown, its error said; the exit code."""
    from profiler.run.session import QuietView, Session, View

    view: View
    if quiet or as_json:
        view = QuietView()
    else:
        from profiler.run.console import LiveView

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
        emit(outcome.report, as_json, quiet)
    if outcome.error is not None:
        fail(outcome.error)
    if outcome.status == "interrupted":
        say(f"interrupted: partial report written to {outcome.folder / 'report.json'}")
    return outcome.exit_code, outcome.report


def say(text: str) -> None:
    sys.stderr.write(text + "\n")


def fail(err: ProfilerError) -> None:
    from profiler.run.console import error_line

    error_line(str(err))
