"""`profiler plan RUN_DIR`: the hosting plan of a saved run (or of a sweep's picked configuration),
in words, as JSON or as Kubernetes YAML; and the pricing options `run`, `analyze` and `plan` share."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from profiler.base.config import check_option, parse_slo
from profiler.cli import options as opt

if TYPE_CHECKING:
    from profiler.run.analyze import Pricing


def pricing(price: str | None, catalog: Path | None, watts_per_core: float | None) -> Pricing:
    from profiler.base.pricing import load_catalog, parse_price
    from profiler.run.analyze import Pricing

    return Pricing(parse_price(price), load_catalog(catalog) if catalog is not None else None, watts_per_core)


def _run_folder(folder: Path) -> Path:
    """The run folder to plan: the folder itself, or, for a sweep's root, its most-capacity
    configuration's, said on stderr (stdout stays the plan: --json and --k8s are piped)."""
    from profiler.cli.sweep import picked_folder, read_sweep

    summary = read_sweep(folder)
    if summary is None:
        return folder
    picked, note = picked_folder(folder, summary)
    sys.stderr.write(note + "\n")
    return picked


def plan(
    folder: Annotated[
        Path,
        typer.Argument(
            help="A run folder written by `profiler run`, or a sweep's folder (`--sweep`): its most-capacity "
            "configuration is planned."
        ),
    ],
    peak_rps: opt.PeakRps = None,
    headroom: opt.HeadroomOverride = None,
    slo: opt.Slo = None,
    price: opt.Price = None,
    catalog: opt.Catalog = None,
    watts_per_core: opt.WattsPerCore = None,
    k8s: Annotated[
        bool, typer.Option("--k8s", help="Print a Deployment and a HorizontalPodAutoscaler as YAML.")
    ] = False,
    name: Annotated[str, typer.Option("--name", help="The Kubernetes objects' name.")] = "app",
    burst: Annotated[
        Path | None,
        typer.Option("--burst", help="A run made with --shape: the burst playbook reads its largest spike."),
    ] = None,
    as_json: opt.AsJson = False,
) -> None:
    """The hosting plan of a saved run (no load is sent): the instance envelope, the fleet for a peak, its cost and
    energy, autoscaling, burst modes and paste-ready server and Kubernetes configuration (docs/hosting-plan.md)."""
    from profiler.run.analyze import hosting_plan

    folder = _run_folder(folder)
    found = hosting_plan(folder, parse_slo(slo), check_option("--peak-rps", peak_rps), check_option("--headroom", headroom),
                         pricing(price, catalog, watts_per_core), burst)  # fmt: skip
    if as_json:
        sys.stdout.write(found.model_dump_json(indent=2) + "\n")
    elif k8s:
        from profiler.report.k8s import manifests

        sys.stdout.write(manifests(found, str(folder), name))
    else:
        from profiler.report.plan_text import plan_lines

        sys.stdout.write("".join(line + "\n" for line in plan_lines(found)))
