"""Per-route results: each route's stages, its CPU per request, and the traits its own evidence shows.

A process sampler sees the target's CPU as a whole, not per route. At the lightest stage (one
user: one request at a time) the target's CPU in each sampling interval is fitted (least squares,
an intercept for what it spends on nothing in particular, the probe included) against the time
each route's requests were in flight in that interval. The fit's coefficient for a route is the
share of a core the target spends while that route is being served: near 1, its time is
computing (cpu-bound); near 0, waiting (io-bound). docs/traits.md, "Per route".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from profiler.analysis.attribution.handoffs import handoff_section
from profiler.analysis.digest import build_signals, measurable
from profiler.analysis.figures.load import stage_reports
from profiler.analysis.figures.payload import payload_figures
from profiler.analysis.traits import (
    dominant_handoff,
    errors_under_load,
    streaming_responses,
    tail_heavy,
)
from profiler.analysis.traits.evidence import (
    Finding,
    RouteCpuBound,
    RouteIoBound,
    StarvedByRoute,
    TraitEvidence,
    finding,
)
from profiler.runfolder.engine import RequestTable
from profiler.runfolder.read import RunData
from profiler.schema.report import CapacitySection, RouteReport, RouteStage, StageReport, Trait

MAX_ROUTES = 20  # routes analysed one by one, most requests first; the rest are counted in the mix
IDLE_S = 2.0  # how long before the first stage the target's idle CPU is read
MIN_SAMPLES = 15  # below this many samples (beyond the fit's unknowns) the fit says nothing
CPU_SHARE_BOUND = 0.5  # CPU per request at least half its light latency: cpu-bound
CPU_SHARE_WAITING = 0.2  # at most a fifth: the route waits
WAITING_MIN_MS = 2.0  # a wait shorter than this is the network stack's, not the app's
MIN_REQUESTS = 30  # a route with fewer requests (a login) gets its figures, never a trait
STARVE_RISE = 2.0  # a route's median latency at the heaviest stage over its lightest stage's
STARVE_OWN = 0.2  # ... while its own share of the fitted CPU stays below this, or (a frequent cheap
STARVE_OWN_LATENCY = 0.25  # route) its CPU per request is at most this share of its light-load latency
STARVE_OTHER = 0.5  # ... and another route holds at least this share


@dataclass(frozen=True, slots=True)
class CpuFit:
    share: float  # the target's CPU while a request of the route is in flight, as a share of one core
    error: float  # its standard error
    ms: float = 0.0  # CPU per request: share x the route's mean latency at the light stage
    ms_error: float = 0.0


def occupancy(starts: np.ndarray, ends: np.ndarray, times: np.ndarray) -> np.ndarray:
    """The time (ms) these requests were in flight within each interval between consecutive
    `times`: the difference of F(t) = sum over started requests of (min(t, end) - start)."""
    s, e = np.sort(starts), np.sort(ends)
    cs, ce = np.concatenate([[0.0], np.cumsum(s)]), np.concatenate([[0.0], np.cumsum(e)])
    i, j = np.searchsorted(s, times, side="right"), np.searchsorted(e, times, side="right")
    inflight: np.ndarray = (i * times - cs[i]) - (j * times - ce[j])
    return np.diff(inflight) * 1000.0


def _idle_cpu(run: RunData, first: float) -> float:
    """The target's CPU (% of one core) in the seconds before the load began: what it spends on
    nothing in particular. The median: one sample of its start-up does not count."""
    times, cpu = run.samples.cpu_series(first - IDLE_S, first)
    return float(np.median(cpu[1:])) if cpu.size > 1 else 0.0


def fit_cpu(run: RunData, stages: Sequence[StageReport], tables: dict[str, RequestTable]) -> dict[str, CpuFit]:
    """Each route's share of the CPU while in flight, at the lightest whole unprofiled stage."""
    usable = [s for s in stages if measurable(s) and not s.profiled and s.requests]
    window = None
    if usable:
        light = min(usable, key=lambda s: (s.users or s.rate or 0, s.index))
        window = next((w for w in run.stages if w.index == light.index), None)
    if window is None:
        return {}
    times, cpu = run.samples.cpu_series(window.start, window.end)
    names = [r for r in tables if tables[r].values(window.index, "start")]
    if len(times) < len(names) + 1 + MIN_SAMPLES:
        return {}
    seconds = np.diff(times)
    # At one user a request is always in flight: the routes' in-flight times add up to the interval,
    # so a free intercept could not be told from them. The target's own idle CPU is measured before
    # the load starts instead, and taken off.
    busy = (
        (cpu[1:] - _idle_cpu(run, min(w.start for w in run.stages))) / 100.0 * seconds * 1000.0
    )  # ms of CPU in each interval
    columns, mean_ms = [], {}
    for r in names:
        start = np.array(tables[r].values(window.index, "start"), dtype=np.float64)
        latency = np.array(tables[r].values(window.index, "latency_ms"), dtype=np.float64)
        columns.append(occupancy(start, start + latency / 1000.0, times))
        mean_ms[r] = float(latency.mean())
    fits = _least_squares(names, np.column_stack(columns), busy, None)
    return {r: CpuFit(f.share, f.error, f.share * mean_ms[r], f.error * mean_ms[r]) for r, f in fits.items()}


def _least_squares(
    names: list[str], counts: np.ndarray, cpu: np.ndarray, seconds: np.ndarray | None
) -> dict[str, CpuFit]:
    """`cpu` against each route's column of `counts` (its in-flight time, or requests), and an
    intercept per unit of `seconds` when given. Non-negative costs: a route fitted below zero costs nothing measurable; it is dropped and
    the rest refitted (the active-set idea of NNLS, enough for a handful of routes)."""
    keep = [i for i in range(len(names)) if counts[:, i].any()]
    dropped: dict[int, float] = {}  # a route fitted below zero: its standard error when it was dropped
    while keep:
        x = counts[:, keep] if seconds is None else np.column_stack([counts[:, keep], seconds])
        coef, _res, rank, _sv = np.linalg.lstsq(x, cpu, rcond=None)
        if rank < x.shape[1]:
            return {}  # two routes always together: their costs cannot be told apart
        dof = max(1, x.shape[0] - x.shape[1])
        sigma2 = float(np.sum((cpu - x @ coef) ** 2)) / dof
        errors = np.sqrt(np.clip(np.diag(np.linalg.pinv(x.T @ x)) * sigma2, 0.0, None))
        negative = {keep[j]: float(errors[j]) for j in range(len(keep)) if coef[j] < 0}
        if not negative:
            fitted = {names[i]: CpuFit(float(coef[j]), float(errors[j])) for j, i in enumerate(keep)}
            return fitted | {names[i]: CpuFit(0.0, error) for i, error in dropped.items()}
        dropped |= negative
        keep = [i for i in keep if i not in negative]
    return {}


def _route_stages(reports: Sequence[StageReport]) -> list[RouteStage]:
    return [
        RouteStage(
            stage=s.index,
            users=s.users,
            requests=s.requests,
            rps=s.rps,
            p50_ms=s.latency.p50,
            p95_ms=s.latency.p95,
            p99_ms=s.latency.p99,
            error_rate=s.error_rate,
            completed=s.completed,
        )  # fmt: skip
        for s in reports
    ]


def _cpu_trait(route: str, fit: CpuFit | None, light_p50: float | None) -> Finding[TraitEvidence] | None:
    if fit is None or not light_p50 or light_p50 <= 0:
        return None
    share = fit.share
    if share >= CPU_SHARE_BOUND and share - 2 * fit.error > 0:
        precise = 1.0 if fit.error <= 0.25 * share else 0.8
        return finding(
            RouteCpuBound(fit.ms, fit.ms_error, light_p50, share),
            (0.45 + 0.45 * min(1.0, share)) * precise,
            f"{route} spends {fit.ms:.1f} ms of the target's CPU per request, {min(share, 1):.0%} of its "
            f"{light_p50:.1f} ms at light load: its time is computing.",
        )
    upper = share + 2 * fit.error
    if share <= CPU_SHARE_WAITING and upper <= 1.5 * CPU_SHARE_WAITING and light_p50 >= WAITING_MIN_MS:
        return finding(
            RouteIoBound(fit.ms, fit.ms_error, light_p50, share),
            0.5 + 0.4 * (1 - share / CPU_SHARE_WAITING),
            f"{route} spends {fit.ms:.1f} ms of the target's CPU per request of its {light_p50:.1f} ms at light "
            "load: the rest is waiting (I/O, a remote call, a lock or a sleep).",
        )
    return None


def _little_cpu(route: str, share: dict[str, float], fit: CpuFit | None) -> bool:
    """The route computes little: a small share of the target's busy time, or (frequent and cheap,
    so its share adds up) CPU per request a small part of its light-load latency."""
    return share[route] < STARVE_OWN or (fit is not None and fit.share + fit.error <= STARVE_OWN_LATENCY)


def _starved(
    route: str, stages: list[RouteStage], share: dict[str, float], fit: CpuFit | None
) -> Finding[TraitEvidence] | None:
    whole = [s for s in stages if s.completed and s.requests >= 10]
    if len(whole) < 2 or route not in share:
        return None
    light, heavy = min(whole, key=lambda s: (s.users or 0, s.stage)), max(whole, key=lambda s: (s.users or 0, s.stage))
    others = {r: v for r, v in share.items() if r != route}
    if not others or light.p50_ms <= 0 or heavy.users is None:
        return None
    hog = max(others, key=lambda r: others[r])
    rise = heavy.p50_ms / light.p50_ms
    if rise < STARVE_RISE or not _little_cpu(route, share, fit) or others[hog] < STARVE_OTHER:
        return None
    return finding(
        StarvedByRoute(hog, rise, light.p50_ms, heavy.p50_ms, heavy.users, share[route], others[hog]),
        min(0.85, 0.4 + 0.1 * rise),
        f"{route} uses little CPU ({share[route]:.0%} of the target's busy time) yet its median rose {rise:.1f}x "
        f"to {heavy.p50_ms:.0f} ms at {heavy.users} users, while {hog} holds {others[hog]:.0%} of it: "
        f"{hog} starves it.",
    )


def _cpu_shares(fits: dict[str, CpuFit], requests: dict[str, int]) -> dict[str, float]:
    busy = {r: f.ms * requests.get(r, 0) for r, f in fits.items()}
    total = sum(busy.values())
    return {r: v / total for r, v in busy.items()} if total > 0 else {}


def _signal_traits(
    run: RunData, reports: list[StageReport], slo_pct: float
) -> tuple[list[Finding[TraitEvidence]], str | None]:
    handoffs = handoff_section(run)
    signals = build_signals(run, reports, handoffs, slo_pct)
    rules = (
        errors_under_load(signals),
        tail_heavy(signals, 0),
        dominant_handoff(signals),
        streaming_responses(signals),
    )
    return [f for f in rules if f is not None], handoffs.dominant


def route_reports(
    run: RunData, stages: Sequence[StageReport], capacity: CapacitySection | None, slo_pct: float
) -> list[RouteReport]:
    """Each route on its own, most requests first (at most MAX_ROUTES)."""
    counts = run.requests.routes()
    total = sum(counts.values())
    if not total:
        return []
    top = dict(list(counts.items())[:MAX_ROUTES])
    tables = {r: run.requests.for_route(r) for r in top}
    fits = fit_cpu(run, stages, tables)
    shares = _cpu_shares(fits, top)
    out: list[RouteReport] = []
    for route, n in top.items():
        table = tables[route]
        sub = replace(run, requests=table, tallies=table.stages())
        reports = stage_reports(sub)
        rstages = _route_stages(reports)
        whole = [s for s in rstages if s.completed and s.requests]
        light = min(whole, key=lambda s: (s.users or 0, s.stage)) if whole else None
        light_p50 = light.p50_ms if light else None
        found, dominant = _signal_traits(sub, reports, slo_pct)
        cpu = _cpu_trait(route or "the URL", fits.get(route), light_p50)
        starved = _starved(route, rstages, shares, fits.get(route)) if len(top) > 1 else None
        traits: list[Trait] = [f.trait for f in (cpu, starved, *found) if f is not None and n >= MIN_REQUESTS]
        at_capacity = next((s.rps for s in rstages if capacity and s.stage == capacity.capacity_stage), None)
        fit = fits.get(route)
        out.append(
            RouteReport(
                route=route,
                requests=n,
                share=n / total,
                stages=rstages,
                light_p50_ms=round(light_p50, 3) if light_p50 is not None else None,
                cpu_share=round(fit.share, 3) if fit else None,
                cpu_ms=round(fit.ms, 3) if fit else None,
                cpu_ms_error=round(fit.ms_error, 3) if fit else None,
                capacity_rps=at_capacity,
                dominant_handoff=dominant,
                payload=payload_figures(table.payload()) if run.meta.format_version >= 4 else None,
                traits=sorted(traits, key=lambda t: -t.confidence),
            )  # fmt: skip
        )
    return out
