"""The category table: which library's frames do what (storage, serialization, model compute...).

Data, not code: categories.toml beside this module, which a project extends with its own modules
(`[tool.profiler.categories]`, docs/where-time-goes.md). This module reads and checks it; which
category a stack falls in is classify.py's.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from typing import Any

from profiler.base.errors import ConfigError

APP = "app"  # the app's own code: frames outside the standard library and site-packages
FRAMEWORK = "framework"  # the server and web framework: the table's last category
OTHER = "other"  # the standard library or a library the table does not know
# Categories that are the work of a request, and may name the function doing it; the framework
# and the app's own code are where time goes when no library is called.
FIELDS = frozenset({"label", "what", "modules", "native", "calls", "handoffs", "under_app"})
USER_FIELDS = frozenset({"modules", "native", "calls", "handoffs"})


@dataclass(frozen=True, slots=True)
class Category:
    name: str
    label: str
    what: str
    modules: tuple[str, ...]
    native: tuple[str, ...]
    calls: tuple[re.Pattern[str], ...]
    under_app: bool = False  # counts only below the app's own frames
    handoffs: tuple[str, ...] = ()  # Server-Timing names an app reports this work under, lowercase


@dataclass(frozen=True, slots=True)
class CategoryTable:
    categories: tuple[Category, ...]  # in the order of precedence

    def get(self, name: str) -> Category | None:
        return next((c for c in self.categories if c.name == name), None)

    def of_handoff(self, name: str) -> Category | None:
        """The category whose work a Server-Timing entry of this name reports, if the table says."""
        low = name.lower()
        return next((c for c in self.categories if low in c.handoffs), None)

    def label(self, name: str) -> str:
        found = self.get(name)
        return found.label if found is not None else {APP: "the app's own code", OTHER: "other code"}.get(name, name)


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(
            f"{where} must be a list of non-empty strings.", f'write it as {where.rsplit(".", 1)[-1]} = ["..."]'
        )
    return tuple(value)


def _patterns(value: Any, where: str) -> tuple[re.Pattern[str], ...]:
    out = []
    for text in _strings(value, where):
        try:
            out.append(re.compile(text))
        except re.error as e:
            raise ConfigError(f"{where}: '{text}' is not a regular expression ({e}).", "fix the pattern") from None
    return tuple(out)


def _category(name: str, entry: Any, where: str) -> Category:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}.{name} must be a table.", f"write [{where}.{name}] with modules = [...]")
    unknown = sorted(set(entry) - FIELDS)
    if unknown:
        raise ConfigError(f"{where}.{name} has an unknown key '{unknown[0]}'.", f"use {', '.join(sorted(FIELDS))}")
    return Category(
        name=name,
        label=str(entry.get("label", name)),
        what=str(entry.get("what", "")),
        modules=_strings(entry.get("modules", []), f"{where}.{name}.modules"),
        native=_strings(entry.get("native", []), f"{where}.{name}.native"),
        calls=_patterns(entry.get("calls", []), f"{where}.{name}.calls"),
        under_app=bool(entry.get("under_app", False)),
        handoffs=tuple(h.lower() for h in _strings(entry.get("handoffs", []), f"{where}.{name}.handoffs")),
    )


@cache
def default_table() -> CategoryTable:
    """The table shipped with the profiler (categories.toml)."""
    text = resources.files(__package__).joinpath("categories.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)
    return CategoryTable(tuple(_category(name, entry, "categories.toml") for name, entry in data.items()))


def extended(table: CategoryTable, user: Mapping[str, Any], where: str = "[tool.profiler.categories]") -> CategoryTable:
    """The table with a project's own entries added to its categories: `storage = {modules = ["mydb"]}`.

    Only the table's categories may be named (a new name would be a category no trait or advice
    knows: one line says which are known); their modules, native frames and calls come first.
    """
    known = {c.name for c in table.categories}
    out = list(table.categories)
    for name, entry in user.items():
        if name not in known:
            raise ConfigError(
                f"{where} names an unknown category '{name}'.",
                f"use one of {', '.join(c.name for c in table.categories)}",
            )
        if not isinstance(entry, dict) or not entry or set(entry) - USER_FIELDS:
            raise ConfigError(
                f"{where}.{name} must hold modules, native, calls or handoffs lists.",
                f'write {name} = {{modules = ["mypackage"]}}',
            )
        mine = _category(name, entry, where)
        i = next(i for i, c in enumerate(out) if c.name == name)
        base = out[i]
        out[i] = replace(
            base,
            modules=mine.modules + base.modules,
            native=mine.native + base.native,
            calls=mine.calls + base.calls,
            handoffs=mine.handoffs + base.handoffs,
        )
    return CategoryTable(tuple(out))
