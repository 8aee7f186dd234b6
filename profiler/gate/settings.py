"""Gate settings from the project: `[tool.profiler]` in pyproject.toml, or a profiler.toml with the
same keys at its top level. The nearest file from the working folder up wins (profiler.toml before
pyproject.toml in one folder); each key given on the command line replaces the file's.

    [tool.profiler]
    checks = ["p95@8users<250ms", "error_rate<1%"]
    forbid-traits = ["memory-growth"]
    fail-on = ["p95:+10%"]
    baseline = "perf/baseline"      # paths are relative to the file's folder
    junit = "perf/junit.xml"
    markdown = "perf/summary.md"
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from profiler.analysis.wheretime.table import default_table, extended
from profiler.base.errors import ConfigError

PROJECT_FILE = "pyproject.toml"
OWN_FILE = "profiler.toml"
CATEGORIES = "categories"  # [tool.profiler.categories]: the project's additions to categories.toml
_LISTS = {"checks": "checks", "forbid-traits": "forbid_traits", "fail-on": "fail_on"}
_PATHS = {"baseline": "baseline", "junit": "junit", "markdown": "markdown"}


@dataclass(frozen=True, slots=True)
class GateSettings:
    checks: tuple[str, ...] = ()
    forbid_traits: tuple[str, ...] = ()
    fail_on: tuple[str, ...] = ()
    baseline: Path | None = None
    junit: Path | None = None
    markdown: Path | None = None
    source: str | None = None  # where the file's settings came from, in words; None: no file

    @classmethod
    def given(
        cls,
        checks: list[str] | None,
        traits: list[str] | None,
        fail_on: list[str] | None,
        baseline: Path | None,
        junit: Path | None,
        markdown: Path | None,
    ) -> GateSettings:
        """The settings given on the command line (a repeatable option not given is None)."""
        return cls(
            checks=tuple(checks or ()),
            forbid_traits=tuple(traits or ()),
            fail_on=tuple(fail_on or ()),
            baseline=baseline,
            junit=junit,
            markdown=markdown,
        )

    @property
    def judges(self) -> bool:
        """Whether anything is to be judged (a run without checks is not a gate)."""
        return bool(self.checks or self.forbid_traits or self.fail_on)

    def overridden_by(self, cli: GateSettings) -> GateSettings:
        """The command line wins, key by key."""
        given = {f.name: getattr(cli, f.name) for f in fields(cli) if f.name != "source" and getattr(cli, f.name)}
        return replace(self, **given)


def _table(path: Path) -> tuple[Mapping[str, Any], str] | None:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read {path}: {e}.", "fix the file or pass --config with another") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path} is not valid TOML: {e}.", "fix the file's syntax") from None
    if path.name == PROJECT_FILE:
        tool = data.get("tool", {})
        section = tool.get("profiler") if isinstance(tool, dict) else None
        return (section, f"{path} [tool.profiler]") if isinstance(section, dict) else None
    return data, str(path)


def find_config(start: Path) -> Path | None:
    """The nearest profiler.toml, or pyproject.toml with a [tool.profiler] table, from `start` up."""
    for folder in (start.resolve(), *start.resolve().parents):
        for name in (OWN_FILE, PROJECT_FILE):
            candidate = folder / name
            if candidate.is_file() and (name == OWN_FILE or _table(candidate) is not None):
                return candidate
    return None


def _strings(value: object, key: str, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ConfigError(f"{where}: '{key}' must be a list of strings.", f'e.g. {key} = ["..."]')


def load_settings(path: Path) -> GateSettings:
    """The settings in one file; an unknown key or a wrong type is a usage error naming it."""
    found = _table(path)
    if found is None:
        raise ConfigError(f"{path} has no [tool.profiler] table.", "add one, or pass --config profiler.toml")
    table, where = found
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key in _LISTS:
            values[_LISTS[key]] = _strings(value, key, where)
        elif key == CATEGORIES:
            continue  # where the time goes: the run's, read by project_categories
        elif key in _PATHS:
            if not isinstance(value, str):
                raise ConfigError(f"{where}: '{key}' must be a path as a string.", f'e.g. {key} = "perf/{key}"')
            values[_PATHS[key]] = path.parent / value
        else:
            known = ", ".join([*_LISTS, *_PATHS, CATEGORIES])
            raise ConfigError(f"{where}: unknown key '{key}'.", f"use one of {known}")
    return GateSettings(**values, source=where)


def project_categories(start: Path) -> tuple[dict[str, Any], str] | None:
    """The project's own additions to the category table (`[tool.profiler.categories]`), checked
    entry by entry (a wrong one is one line naming it), with where they were found; None if none."""
    path = find_config(start)
    found = _table(path) if path is not None else None
    if found is None or CATEGORIES not in found[0]:
        return None
    table, where = found
    entries = table[CATEGORIES]
    if not isinstance(entries, dict):
        raise ConfigError(
            f"{where}: '{CATEGORIES}' must be a table.",
            'e.g. [tool.profiler.categories] storage = {modules = ["mydb"]}',
        )
    extended(default_table(), entries, f"{where} {CATEGORIES}")
    return dict(entries), where


def project_settings(explicit: Path | None, start: Path) -> GateSettings:
    """The settings of --config, else of the nearest project file, else none."""
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(
                f"--config {explicit}: no such file.", "give the path of a profiler.toml or pyproject.toml"
            )
        return load_settings(explicit)
    found = find_config(start)
    return load_settings(found) if found is not None else GateSettings()
