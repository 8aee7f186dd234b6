"""Throughput against concurrency: the plateau, the knee, and the Universal Scalability Law.

USL (Gunther): X(N) = lambda*N / (1 + sigma*(N-1) + kappa*N*(N-1)). sigma is contention (the
serial fraction: a lock, one core, one event loop), kappa is coherency (crosstalk that makes
throughput fall past a peak). Dividing through, N/X(N) is a quadratic in N, so the fit is a
linear least-squares problem in three unknowns: no optimiser, no numpy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from profiler.analysis.figures.signals import StageSignal

PLATEAU_GROWTH = 1.15  # later stages add < 15% throughput
PLATEAU_USERS = 1.9  # ... although concurrency at least (nearly) doubled
USL_MIN_POINTS = 6


@dataclass(frozen=True, slots=True)
class Plateau:
    stage: int  # first stage on the plateau
    users: int
    rps: float  # best throughput on the plateau
    last_users: int
    growth: float  # throughput of the last stage / throughput at the plateau's start


def closed_points(stages: Sequence[StageSignal]) -> list[tuple[float, float]]:
    return [(float(s.users), s.ok_rps) for s in stages if s.users and s.requests > 0]


def find_plateau(stages: Sequence[StageSignal]) -> Plateau | None:
    """The earliest stage after which more users brought no more throughput, if the run reached one."""
    closed = [s for s in stages if s.users and s.requests > 0]
    for i, s in enumerate(closed[:-1]):
        later = closed[i + 1 :]
        best_later = max(x.ok_rps for x in later)
        if s.ok_rps <= 0:
            continue
        if best_later < s.ok_rps * PLATEAU_GROWTH and (later[-1].users or 0) >= (s.users or 0) * PLATEAU_USERS:
            on = [s, *later]
            return Plateau(
                stage=s.index,
                users=s.users or 0,
                rps=max(x.ok_rps for x in on),
                last_users=later[-1].users or 0,
                growth=later[-1].ok_rps / s.ok_rps,
            )
    return None


def knee(stages: Sequence[StageSignal]) -> StageSignal | None:
    """Kleinrock's power (throughput / latency) peaks at the knee: past it, latency buys no throughput."""
    candidates = [s for s in stages if s.requests > 0 and s.p50 > 0 and s.error_rate < 0.05]
    if len(candidates) < 2:
        return None
    return max(candidates, key=lambda s: s.ok_rps / s.p50)


@dataclass(frozen=True, slots=True)
class Usl:
    sigma: float
    kappa: float
    lam: float
    r_squared: float
    points: int

    def throughput(self, n: float) -> float:
        return self.lam * n / (1 + self.sigma * (n - 1) + self.kappa * n * (n - 1))

    @property
    def n_star(self) -> float | None:
        """Concurrency of peak throughput; None when the model has no peak at one user or more.

        kappa <= 0: throughput never falls. A peak below one user (sigma capped at 1, or kappa
        above 1 - sigma) means the model falls from the first user on: there is no concurrency to
        cap at, and X(N*) would divide by zero at N* = 0."""
        if self.kappa <= 0:
            return None
        n = math.sqrt(max(0.0, 1 - self.sigma) / self.kappa)
        return n if n >= 1 else None

    @property
    def quality(self) -> str:
        return "good" if self.r_squared >= 0.9 else "fair" if self.r_squared >= 0.7 else "poor"


def _solve3(a: list[list[float]], b: list[float]) -> list[float] | None:
    """Gaussian elimination with partial pivoting on a 3x3 (or smaller) system."""
    n = len(b)
    m = [row[:] + [b[i]] for i, row in enumerate(a)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(m[r][col]))
        if abs(m[pivot][col]) < 1e-15:
            return None
        m[col], m[pivot] = m[pivot], m[col]
        for r in range(n):
            if r != col:
                f = m[r][col] / m[col][col]
                for c in range(col, n + 1):
                    m[r][c] -= f * m[col][c]
    return [m[i][n] / m[i][i] for i in range(n)]


def _least_squares(
    xs: Sequence[float], ys: Sequence[float], degree: int, weights: Sequence[float] | None = None
) -> list[float] | None:
    """Weighted polynomial least squares via the normal equations."""
    k = degree + 1
    w = weights or [1.0] * len(xs)
    a = [[math.fsum(wi * x ** (i + j) for x, wi in zip(xs, w, strict=True)) for j in range(k)] for i in range(k)]
    b = [math.fsum(wi * y * x**i for x, y, wi in zip(xs, ys, w, strict=True)) for i in range(k)]
    return _solve3(a, b)


def fit_usl(points: Sequence[tuple[float, float]]) -> Usl | None:
    """Fit X(N); None with fewer than USL_MIN_POINTS distinct concurrencies or no throughput."""
    pts = [(n, x) for n, x in points if n >= 1 and x > 0]
    if len({n for n, _ in pts}) < USL_MIN_POINTS:
        return None
    ns = [n for n, _ in pts]
    ys = [n / x for n, x in pts]  # = (1/lambda) * ((1-sigma) + (sigma-kappa) N + kappa N^2)
    # Weight by 1/y^2 = (X/N)^2: relative error in y. Unweighted, the large-N points (largest
    # y) dominate and the fit can miss the peak entirely on a retrograde curve.
    weights = [1.0 / (y * y) for y in ys]
    coef = _least_squares(ns, ys, 2, weights)
    if coef is None:
        return None
    c0, c1, c2 = coef
    total = c0 + c1 + c2
    if total <= 0:
        return None
    lam = 1 / total
    kappa = c2 * lam
    sigma = c1 * lam + kappa
    if kappa < 0 or sigma < 0:
        # Physically both are >= 0; refit the constrained model (kappa = 0: Amdahl) when the
        # free fit strays, e.g. on noisy points of a linearly scaling app.
        kappa = 0.0
        lin = _least_squares(ns, ys, 1, weights)
        if lin is None or lin[0] + lin[1] <= 0:
            return None
        lam = 1 / (lin[0] + lin[1])
        sigma = max(0.0, lin[1] * lam)
    sigma = min(sigma, 1.0)  # a serial fraction above 1 has no physical meaning
    model = Usl(sigma=sigma, kappa=kappa, lam=lam, r_squared=0.0, points=len(pts))
    mean_x = math.fsum(x for _, x in pts) / len(pts)
    ss_tot = math.fsum((x - mean_x) ** 2 for _, x in pts)
    ss_res = math.fsum((x - model.throughput(n)) ** 2 for n, x in pts)
    r2 = 1 - ss_res / ss_tot if ss_tot > 0 else 0.0
    return Usl(sigma=sigma, kappa=kappa, lam=lam, r_squared=r2, points=len(pts))
