"""The vocabulary of recommendation rules: the context they read, how a rule is tied to a trait,
and how one recommendation is built. The rules themselves are in `recommend.py`."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from profiler.analysis.figures.signals import StageSignal
from profiler.analysis.traits import evidence as ev
from profiler.schema.report import CapacitySection, Recommendation, ServerInfo

E = TypeVar("E", bound=ev.TraitEvidence)
INSTANCE_FAMILY = "instance-family"
AUTOSCALE_ON_CONCURRENCY = "autoscale-on-concurrency"

# One instance-family line: the scarcest resource wins (a GPU, then memory that runs out, then
# CPU, then plain connections). Priority is the order of this table.
FAMILIES: dict[type[ev.TraitEvidence], tuple[str, str]] = {
    ev.GpuBound: ("Use GPU-optimised instances.", "The GPU sets the plateau."),
    ev.MemoryGrowth: (
        "Until the leak is fixed, prefer memory-optimised instances.",
        "Memory, not CPU, ends an instance's life.",
    ),
    ev.CpuBound: ("Use compute-optimised instances (more and faster cores per GB).", "The plateau is set by CPU."),
    ev.IoBound: (
        "Use general-purpose or smaller instances; the app needs connections, not cores.",
        "CPU per request is a small share of latency.",
    ),
}


@dataclass(frozen=True, slots=True)
class AdviceContext:
    """What the rules read: the typed evidence by kind (the last finding of a kind wins), the
    capacity section, how the target ran (cores, worker processes, its serving shape), and the
    measured stages (what a fitted model is checked against)."""

    evidence: Mapping[type[ev.TraitEvidence], ev.TraitEvidence]
    capacity: CapacitySection | None
    ncpu: int
    processes: int
    server: ServerInfo | None = None  # None: not known; advice then names no server's options
    stages: tuple[StageSignal, ...] = ()  # Signals.measured; empty: not known
    generator_limited: tuple[StageSignal, ...] = ()  # the delivered stages the load generator limited

    @classmethod
    def of(
        cls,
        findings: Sequence[ev.Finding[ev.TraitEvidence]],
        capacity: CapacitySection | None,
        ncpu: int,
        processes: int,
        server: ServerInfo | None = None,
        stages: Sequence[StageSignal] = (),
        generator_limited: Sequence[StageSignal] = (),
    ) -> AdviceContext:
        evidence = {type(f.data): f.data for f in findings}
        return cls(evidence, capacity, ncpu, processes, server, tuple(stages), tuple(generator_limited))

    @property
    def python(self) -> bool:
        """Python advice (the GIL, asyncio, uvicorn's options) only for a target known to be Python,
        or one whose language is not known (the advice then says it assumes Python)."""
        return self.server is None or self.server.language != "other"

    def get(self, kind: type[E]) -> E | None:
        found = self.evidence.get(kind)
        return found if isinstance(found, kind) else None


Rule = Callable[[AdviceContext], list[Recommendation]]


def for_trait(kind: type[E]) -> Callable[[Callable[[E, AdviceContext], list[Recommendation]]], Rule]:
    """Make a rule of advice on one trait: it runs only when `kind` was found, and reads its evidence."""

    def wrap(advice: Callable[[E, AdviceContext], list[Recommendation]]) -> Rule:
        @functools.wraps(advice)
        def rule(ctx: AdviceContext) -> list[Recommendation]:
            found = ctx.get(kind)
            return advice(found, ctx) if found is not None else []

        return rule

    return wrap


def advice(
    id_: str, action: str, rationale: str, traits: Sequence[str] = (), **values: float | int | str | bool | None
) -> list[Recommendation]:
    """One recommendation (in a list, as rules return them); floats rounded to 3 decimals."""
    evidence: dict[str, float | int | str | bool | None] = {
        k: (round(v, 3) if isinstance(v, float) else v) for k, v in values.items()
    }
    if traits:
        evidence["traits"] = ",".join(traits)
    return [Recommendation(id=id_, action=action, rationale=rationale, evidence=evidence)]


def as_float(value: float | None) -> float | None:
    """A trait's number as the recommendation cites it: always a float (an int count too)."""
    return None if value is None else float(value)


def family(kind: type[ev.TraitEvidence]) -> list[Recommendation]:
    action, rationale = FAMILIES[kind]
    return advice(INSTANCE_FAMILY, action, rationale, [kind.ID])
