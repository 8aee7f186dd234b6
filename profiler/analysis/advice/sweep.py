"""A configuration sweep's points and picks (`profiler run --sweep`, sweep.json): each
configuration's capacity and what it cost in cores and memory, flagged where the machine could not
test it honestly, and the configuration the measurement supports per capacity, core and GB."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from profiler.schema.report import Report
from profiler.schema.sweep import SweepPick, SweepPoint

SATURATED_GENERATOR = ("generator-limited", "generator-unsent")


def _flags(report: Report) -> list[str]:
    flags = []
    if report.run.status not in ("completed", "saturated"):
        flags.append(f"the run ended {report.run.status}")
    ids = {i.id for i in report.validity.issues}
    if ids & set(SATURATED_GENERATOR):
        flags.append("the load generator was saturated: capacity is a floor, not a measure")
    elif not report.validity.valid:
        flags.append("the run is not valid (see its report)")
    server = report.target.server
    if server is not None and server.cores_available and server.workers > server.cores_available:
        flags.append(
            f"{server.workers} workers on {server.cores_available:g} cores: more than this machine can run at once"
        )
    if report.capacity is None or report.capacity.capacity_rps is None:
        flags.append("no stage met the latency limit")
    return flags


def sweep_point(values: dict[str, str], folder: str, report: Report) -> SweepPoint:
    env = report.plan.envelope if report.plan is not None else None
    capacity = env.capacity_rps if env is not None else None
    cores = env.cores_used if env is not None else None
    rss = env.rss_mb if env is not None else None
    server = report.target.server
    return SweepPoint(
        values=values,
        folder=folder,
        status=report.run.status,
        capacity_rps=capacity,
        latency_p95_ms=env.latency_p95_ms if env is not None else None,
        cores_used=cores,
        rss_mb=rss,
        workers=server.workers if server is not None else None,
        rps_per_core=round(capacity / cores, 2) if capacity is not None and cores else None,
        rps_per_gb=round(capacity / (rss / 1024.0), 1) if capacity is not None and rss else None,
        flags=_flags(report),
    )


def label(values: dict[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in values.items())


# What each pick maximises, its unit in words.
PICKS: tuple[tuple[str, Callable[[SweepPoint], float | None], str], ...] = (
    ("capacity", lambda p: p.capacity_rps, "rps at the latency limit"),
    ("per-core", lambda p: p.rps_per_core, "rps per core used"),
    ("per-gb", lambda p: p.rps_per_gb, "rps per GB of memory"),
)


def sweep_picks(points: Sequence[SweepPoint]) -> list[SweepPick]:
    """The best per capacity, core and GB, among the points nothing flagged (among all, said so,
    when every point is flagged)."""
    clean = [p for p in points if not p.flags]
    pool, caveat = (clean, "") if clean else (list(points), " (every configuration is flagged: read with care)")
    picks = []
    for by, measure, unit in PICKS:
        ranked = sorted((p for p in pool if measure(p) is not None), key=lambda p: measure(p) or 0.0, reverse=True)
        if not ranked:
            continue
        best = ranked[0]
        others = ", ".join(f"{label(p.values)} {measure(p):.4g}" for p in ranked[1:3])
        reason = f"{label(best.values)}: {measure(best):.4g} {unit}" + (f", against {others}" if others else "")
        skipped = len(points) - len(pool)
        reason += caveat + (f"; {skipped} flagged configuration(s) left out" if skipped else "")
        picks.append(SweepPick(by=by, values=best.values, reason=reason))
    return picks
