"""docs/report-schema.md is generated from the models: it must match them."""

from __future__ import annotations

from pathlib import Path

from profiler.report.docs import render

DOC = Path(__file__).resolve().parents[1] / "docs" / "report-schema.md"


def test_schema_doc_matches_models() -> None:
    assert DOC.read_text() == render(), "run: python -m profiler.report.docs > docs/report-schema.md"


def test_every_field_is_described() -> None:
    from pydantic import BaseModel

    from profiler.report.docs import _models
    from profiler.schema.report import Report

    undocumented = [
        f"{m.__name__}.{n}"
        for m in _models(Report)
        for n, f in m.model_fields.items()
        if not f.description and not (isinstance(f.annotation, type) and issubclass(f.annotation, BaseModel))
    ]
    assert not undocumented, undocumented
