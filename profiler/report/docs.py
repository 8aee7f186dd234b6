"""Generate docs/report-schema.md from the pydantic models, so the docs cannot drift.

    python -m profiler.report.docs > docs/report-schema.md

tests/test_report_docs.py fails when the committed file differs from what this prints.
"""

from __future__ import annotations

import sys
import types
import typing
from typing import Any

from pydantic import BaseModel

from profiler.schema.report import SCHEMA_VERSION, Report


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args)
    if origin is typing.Literal:
        return " / ".join(f"`{a}`" for a in args)
    if origin in (list, tuple):
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin is dict:
        return f"map of {_type_name(args[0])} to {_type_name(args[1])}" if args else "map"
    if annotation is type(None):
        return "null"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"[{annotation.__name__}](#{annotation.__name__.lower()})"
    return getattr(annotation, "__name__", str(annotation))


def _bounds(field: Any) -> str:
    parts = []
    for m in field.metadata:
        for attr, sym in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            value = getattr(m, attr, None)
            if value is not None:
                parts.append(f"{sym} {value}")
    return ", ".join(parts)


def _models(root: type[BaseModel]) -> list[type[BaseModel]]:
    seen: list[type[BaseModel]] = []

    def walk(model: type[BaseModel]) -> None:
        if model in seen:
            return
        seen.append(model)
        for field in model.model_fields.values():
            for sub in _nested(field.annotation):
                walk(sub)

    walk(root)
    return seen


def _nested(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for a in typing.get_args(annotation) for m in _nested(a)]


def render() -> str:
    lines = [
        "# report.json schema",
        "",
        f"Schema version **{SCHEMA_VERSION}**. Generated from `profiler/schema/report.py` by",
        "`python -m profiler.report.docs`; do not edit by hand (a test compares the two).",
        "Durations are milliseconds unless a name says otherwise; CPU is % of one core unless it says 'of all cores'.",
        "",
    ]
    for model in _models(Report):
        lines += [f"## {model.__name__}", ""]
        doc = (model.__doc__ or "").strip()
        if doc:
            lines += [doc.splitlines()[0], ""]
        lines += ["| field | type | bounds | meaning |", "|---|---|---|---|"]
        for name, field in model.model_fields.items():
            key = field.alias or name
            desc = (field.description or "").replace("|", "\\|")
            lines.append(f"| `{key}` | {_type_name(field.annotation)} | {_bounds(field)} | {desc} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(render())
