"""A report's table as plain text (a title, headers, rows of strings, notes), and the one way a
number becomes a cell: what terminal.py and its sibling table modules build, and renderers draw."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TextTable:
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    notes: tuple[str, ...] = field(default_factory=tuple)


def fmt(value: float | None, pattern: str = "{:.1f}", none: str = "-") -> str:
    return none if value is None else pattern.format(value)
