"""Per-route results: each route's stages, its CPU per request, and the traits its own evidence shows.

A process sampler sees the target's CPU as a whole, not per route. What tells the routes apart is
that their mix varies from one half-second to the next: the target's CPU time in each window is
fitted (least squares, an intercept for what it spends on nothing in particular) against how many
requests of each route completed in it. Only windows where the CPU was not saturated are used:
a saturated CPU no longer tracks work. A route whose CPU per request is most of its latency is
cpu-bound; one whose CPU is a small part is waiting (io-bound). docs/traits.md, "Per route".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from profiler.analysis.digest import build_signals, measurable
from profiler.analysis.evidence import Finding, RouteCpuBound, RouteIoBound, StarvedByRoute, TraitEvidence, finding
from profiler.analysis.handoffs import handoff_section
from profiler.analysis.load import stage_reports
from profiler.analysis.traits import dominant_handoff, errors_under_load, streaming_responses, tail_heavy
from profiler.runfolder.engine import RequestTable
from profiler.runfolder.read import RunData
from profiler.schema import CapacitySection, RouteReport, RouteStage, StageReport, Trait

MAX_ROUTES = 20  # routes analysed one by one, most requests first; the rest are counted in the mix
WINDOW_S = 0.5  # the fit's window: long enough for /proc's 10 ms CPU ticks, short enough for many
SATURATED = 0.8  # a window whose CPU is past this share of the cores no longer tracks work
MIN_WINDOWS = 8  # below this many windows (beyond the fit's unknowns) the fit says nothing
CPU_SHARE_BOUND = 0.5  # CPU per request at least half its light latency: cpu-bound
CPU_SHARE_WAITING = 0.2  # at most a fifth: the route waits
WAITING_MIN_MS = 2.0  # a wait shorter than this is the network stack's, not the app's
MIN_REQUESTS = 30  # a route with fewer requests (a login) gets its figures, never a trait
STARVE_RISE = 2.0  # a route's median latency at the heaviest stage over its lightest stage's
STARVE_OWN = 0.2  # ... while its own share of the fitted CPU stays below this
STARVE_OTHER = 0.5  # ... and another route holds at least this share


@dataclass(frozen=True, slots=True)
class CpuFit:
    ms: float  # target CPU per request
    error: float  # standard error (ms)


def _windows(stages: Sequence[StageReport], run: RunData) -> list[tuple[float, float]]:
    by_index = {w.index: w for w in run.stages}
    out: list[tuple[float, float]] = []
    for s in stages:
        w = by_index.get(s.index)
        if w is None or not measurable(s) or s.profiled:  # py-spy adds CPU of its own to the target
            continue
        n = int(w.measured_s // WINDOW_S)
        out += [(w.start + i * WINDOW_S, w.start + (i + 1) * WINDOW_S) for i in range(n)]
    return out


def fit_cpu(
    run: RunData, stages: Sequence[StageReport], tables: dict[str, RequestTable], cores: float
) -> dict[str, CpuFit]:
    """CPU per request of each route (those the fit could tell), from the unsaturated windows."""
    windows, cpu = [], []
    for a, b in _windows(stages, run):
        values = run.samples.cpu_values(a, b)
        if values.size and float(values.mean()) < SATURATED * cores * 100.0:
            windows.append((a, b))
            cpu.append(float(values.mean()) / 100.0 * (b - a) * 1000.0)  # ms of CPU in the window
    names = list(tables)
    if len(windows) < len(names) + 1 + MIN_WINDOWS:
        return {}
    counts = np.array([[n for n, _ok in tables[r].completed_in(windows)] for r in names], dtype=np.float64).T
    return _least_squares(names, counts, np.array(cpu), np.array([b - a for a, b in windows]))


def _least_squares(names: list[str], counts: np.ndarray, cpu: np.ndarray, seconds: np.ndarray) -> dict[str, CpuFit]:
    """Non-negative costs: a route fitted below zero costs nothing measurable; it is dropped and
    the rest refitted (the active-set idea of NNLS, enough for a handful of routes)."""
    keep = [i for i in range(len(names)) if counts[:, i].any()]
    dropped: dict[int, float] = {}  # a route fitted below zero: its standard error when it was dropped
    while keep:
        x = np.column_stack([counts[:, keep], seconds])
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
    share = fit.ms / light_p50
    if share >= CPU_SHARE_BOUND and fit.ms - 2 * fit.error > 0:
        precise = 1.0 if fit.error <= 0.25 * fit.ms else 0.8
        return finding(
            RouteCpuBound(fit.ms, fit.error, light_p50, share),
            (0.45 + 0.45 * min(1.0, share)) * precise,
            f"{route} spends {fit.ms:.1f} ms of the target's CPU per request, {min(share, 1):.0%} of its "
            f"{light_p50:.1f} ms at light load: its time is computing.",
        )
    upper = (fit.ms + 2 * fit.error) / light_p50
    if share <= CPU_SHARE_WAITING and upper <= 1.5 * CPU_SHARE_WAITING and light_p50 >= WAITING_MIN_MS:
        return finding(
            RouteIoBound(fit.ms, fit.error, light_p50, share),
            0.5 + 0.4 * (1 - share / CPU_SHARE_WAITING),
            f"{route} spends {fit.ms:.1f} ms of the target's CPU per request of its {light_p50:.1f} ms at light "
            "load: the rest is waiting (I/O, a remote call, a lock or a sleep).",
        )
    return None


def _starved(route: str, stages: list[RouteStage], share: dict[str, float]) -> Finding[TraitEvidence] | None:
    whole = [s for s in stages if s.completed and s.requests >= 10]
    if len(whole) < 2 or route not in share:
        return None
    light, heavy = min(whole, key=lambda s: (s.users or 0, s.stage)), max(whole, key=lambda s: (s.users or 0, s.stage))
    others = {r: v for r, v in share.items() if r != route}
    if not others or light.p50_ms <= 0 or heavy.users is None:
        return None
    hog = max(others, key=lambda r: others[r])
    rise = heavy.p50_ms / light.p50_ms
    if rise < STARVE_RISE or share[route] >= STARVE_OWN or others[hog] < STARVE_OTHER:
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
    run: RunData, stages: Sequence[StageReport], capacity: CapacitySection | None, cores: float, slo_pct: float
) -> list[RouteReport]:
    """Each route on its own, most requests first (at most MAX_ROUTES)."""
    counts = run.requests.routes()
    total = sum(counts.values())
    if not total:
        return []
    top = dict(list(counts.items())[:MAX_ROUTES])
    tables = {r: run.requests.for_route(r) for r in top}
    fits = fit_cpu(run, stages, tables, cores) if len(tables) > 1 or top else {}
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
        starved = _starved(route, rstages, shares) if len(top) > 1 else None
        traits: list[Trait] = [f.trait for f in (cpu, starved, *found) if f is not None and n >= MIN_REQUESTS]
        at_capacity = next((s.rps for s in rstages if capacity and s.stage == capacity.capacity_stage), None)
        fit = fits.get(route)
        out.append(
            RouteReport(
                route=route,
                requests=n,
                share=n / total,
                stages=rstages,
                light_p50_ms=light_p50,
                cpu_ms=round(fit.ms, 3) if fit else None,
                cpu_ms_error=round(fit.error, 3) if fit else None,
                capacity_rps=at_capacity,
                dominant_handoff=dominant,
                traits=sorted(traits, key=lambda t: -t.confidence),
            )  # fmt: skip
        )
    return out
