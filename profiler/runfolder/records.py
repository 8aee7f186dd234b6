"""Typed records at every file and process boundary of a run folder."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StageProfile:
    """What py-spy left for one profiled stage: the raw collapsed stacks, the source line of each
    leaf frame (`file:line` -> text, saved at record time), and the --gil half's stacks if taken."""

    stacks: str
    sources: dict[str, str]
    gil_stacks: str | None = None
