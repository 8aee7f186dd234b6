"""Traits from where the time goes: storage-bound, serialization-bound, downstream-bound and
lock-contention, each when one category of work takes most of the working thread samples (py-spy's
stacks placed by analysis/wheretime/, no instrumentation), at least WORK_BOUND_SHARE and more than
any other category (the framework's included), naming the function doing it."""

from __future__ import annotations

from profiler.analysis.figures.signals import Signals
from profiler.analysis.traits.evidence import (
    DownstreamBound,
    Finding,
    LockContention,
    SerializationBound,
    StorageBound,
    WorkBound,
    finding,
)
from profiler.analysis.traits.thresholds import WORK_BOUND_SHARE

# The category (categories.toml) -> the trait it makes. Model compute is not here: a GPU's or the
# CPU's saturation says it (gpu-bound, cpu-bound); the app's own code is cpu-bound's top function.
WORK_TRAITS: dict[str, type[WorkBound]] = {
    "storage": StorageBound,
    "serialization": SerializationBound,
    "downstream": DownstreamBound,
    "locks": LockContention,
}


def work_bound(signals: Signals) -> Finding[WorkBound] | None:
    work = signals.work
    if work is None or work.category not in WORK_TRAITS or work.share < WORK_BOUND_SHARE or not work.largest:
        return None  # a category second to the server's own writing (or other code) does not bind
    kind = WORK_TRAITS[work.category]
    cpu = f"{work.on_cpu_share:.0%} of them on a CPU" if work.on_cpu_share is not None else "on-CPU or waiting not told"
    return finding(
        kind(function=work.function, share=work.share, on_cpu_share=work.on_cpu_share),
        0.5 + 0.45 * min(1.0, (work.share - WORK_BOUND_SHARE) / 0.4),
        f"{work.share:.0%} of the working thread samples are {work.label} ({cpu}), in {work.function} "
        "(py-spy's stacks by category, no instrumentation).",
    )
