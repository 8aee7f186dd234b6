"""The stacks' account beside the app's own: where an app sends Server-Timing, the profiled stage's
split between the categories of work as each tells it.

A Server-Timing entry's category is read from its name (categories.toml's `handoffs`: `db` and
`query` are storage, `encode` serialization, `llm` downstream...). The two accounts have different
wholes (the app's timed legs; every working thread sample, the server's plumbing included), so
each is compared as shares among the categories both name. At least two are needed: one category
is all of itself in both accounts, which says nothing.
"""

from __future__ import annotations

from profiler.analysis.wheretime.table import CategoryTable
from profiler.schema.report import HandoffSection
from profiler.schema.wheretime import BesideRow, BesideServerTiming, WhereTimeSection, WhereTimeStage

MIN_CATEGORIES = 2


def _beside(stage: WhereTimeStage, handoffs: HandoffSection, table: CategoryTable) -> BesideServerTiming | None:
    timed = next((s for s in handoffs.per_stage if s.stage == stage.stage), None)
    if timed is None or stage.stage is None:
        return None
    ms: dict[str, float] = {}
    names: dict[str, list[str]] = {}
    unmatched = []
    for name, h in sorted(timed.handoffs.items()):
        category = table.of_handoff(name)
        if category is None:
            unmatched.append(name)
            continue
        ms[category.name] = ms.get(category.name, 0.0) + h.mean_ms
        names.setdefault(category.name, []).append(name)
    stacks = {c.category: c.share for c in stage.categories}
    both = [c for c, v in ms.items() if v > 0 and stacks.get(c, 0.0) > 0]
    if len(both) < MIN_CATEGORIES:
        return None
    timed_total, stacks_total = sum(ms[c] for c in both), sum(stacks[c] for c in both)
    rows = [
        BesideRow(
            category=c,
            label=table.label(c),
            handoffs=names[c],
            server_timing_share=round(ms[c] / timed_total, 4),
            stacks_share=round(stacks[c] / stacks_total, 4),
        )
        for c in sorted(both, key=lambda c: -ms[c])
    ]
    gap = max(abs(r.server_timing_share - r.stacks_share) for r in rows)
    return BesideServerTiming(stage=stage.stage, rows=rows, unmatched=unmatched, largest_gap=round(gap, 4))


def beside_server_timing(
    where: WhereTimeSection, handoffs: HandoffSection, table: CategoryTable
) -> BesideServerTiming | None:
    """Both accounts of the first profiled stage where they name two categories or more."""
    if not where.available or not handoffs.per_stage:
        return None
    return next((b for s in where.per_stage if (b := _beside(s, handoffs, table)) is not None), None)
