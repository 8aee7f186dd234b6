"""`profiler analyze` (the report rebuilt from a saved run, or a what-if) and `profiler report`
(its outputs rebuilt: report.html, a Markdown summary)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from profiler.base.config import check_option, parse_slo
from profiler.base.errors import ConfigError
from profiler.cli import options as opt
from profiler.cli.app import emit, say
from profiler.cli.plan import pricing


def report(
    folder: Annotated[Path, typer.Argument(help="A run folder written by `profiler run`.")],
    html: Annotated[bool, typer.Option("--html", help="Rebuild report.html in the folder.")] = False,
    markdown: opt.Markdown = None,
) -> None:
    """Rebuild the outputs of a saved run (report.html, a Markdown summary) without loading anything."""
    from profiler.run.analyze import rebuild_outputs

    if not html and markdown is None:
        raise ConfigError("nothing to rebuild.", "give --html, --markdown PATH, or both")
    for path in rebuild_outputs(folder, html=html, markdown=markdown):
        say(f"wrote {path}")


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
    from profiler.run.analyze import reanalyse

    built, not_saved = reanalyse(
        folder,
        slo=parse_slo(slo),
        peak_rps=check_option("--peak-rps", peak_rps),
        headroom=check_option("--headroom", headroom),
        memory_limit_mb=check_option("--memory-limit", memory_limit),
        pricing=pricing(price, catalog, watts_per_core),
        out=out,
    )
    emit(built, as_json, quiet)
    if not_saved is not None:
        raise not_saved
    if out is None and any(
        v is not None for v in (slo, peak_rps, headroom, memory_limit, price, catalog, watts_per_core)
    ):
        say("what-if not saved: report.json keeps what the run found; --out FILE saves this one")
