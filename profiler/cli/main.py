"""`profiler`'s entry point: every command registered, in the order `--help` lists them, and the
one place a ProfilerError is caught: printed as one line on stderr with its exit code. Nothing a
user can cause ends in a traceback."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from profiler import __version__
from profiler.base.errors import EXIT_INTERRUPTED, EXIT_USAGE, ConfigError, ProfilerError
from profiler.cli import analyze, gate, plan, run, worker
from profiler.cli.app import app, fail

__all__ = ["app", "main"]  # app: with every command on it (profiler.cli.docs reads it)

for command in (run.run, gate.gate, gate.compare, analyze.report, analyze.analyze, plan.plan, run.demo, worker.worker):
    app.command()(command)


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
        fail(e)
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
        fail(_usage_line(e))
        raise SystemExit(EXIT_USAGE) from None
    raise SystemExit(code if isinstance(code, int) else 0)
