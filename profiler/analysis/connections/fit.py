"""The target's figures against the connections held, sample by sample: a straight line whose
slope is the cost of one connection (memory, descriptors, threads, CPU). Pure numpy."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from profiler.runfolder.connections import ConnectionTick
from profiler.schema.connections import PerConnection

MIN_SAMPLES = 10
MIN_SPREAD = 10  # connections between the fewest and the most held: a slope over fewer is noise


def held_at(ticks: Sequence[ConnectionTick], times: NDArray[np.float64]) -> NDArray[np.float64]:
    """Connections held at each time: the last tick at or before it (nan before the first)."""
    if not ticks:
        return np.full(times.shape, np.nan)
    t = np.array([k.t for k in ticks], dtype=np.float64)
    held = np.array([k.held for k in ticks], dtype=np.float64)
    at = np.searchsorted(t, times, side="right") - 1
    return np.where(at >= 0, held[np.clip(at, 0, None)], np.nan)


def per_connection(held: NDArray[np.float64], values: NDArray[np.float64], scale: float = 1.0) -> PerConnection | None:
    """The least-squares line of `values * scale` over `held`; None without enough samples or spread."""
    ok = np.isfinite(held) & np.isfinite(values)
    x, y = held[ok], values[ok] * scale
    if x.size < MIN_SAMPLES or x.max() - x.min() < MIN_SPREAD:
        return None
    slope, intercept = np.polyfit(x, y, 1)
    fitted = slope * x + intercept
    total = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(np.sum((y - fitted) ** 2)) / total if total > 0 else 0.0
    return PerConnection(slope=round(float(slope), 4), intercept=round(float(intercept), 3),
                         r2=round(min(1.0, max(0.0, r2)), 3), samples=int(x.size), held_min=int(x.min()),
                         held_max=int(x.max()))  # fmt: skip
