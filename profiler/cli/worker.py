"""`profiler worker --master HOST:PORT`: this machine's load processes join a distributed run."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from profiler.base.errors import ConfigError
from profiler.cli import options as opt


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
