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


def test_every_trait_is_in_docs_traits_and_known_whatever_was_imported_first() -> None:
    """The gate's vocabulary (trait_ids) holds every trait even in a process that imported nothing
    else (the event and connection traits' evidence lives beside their rules), and each is documented."""
    import subprocess
    import sys

    code = "from profiler.analysis.traits.evidence import trait_ids; print(' '.join(trait_ids()))"
    ids = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert {"sessions-lost-on-restart", "memory-per-connection", "cpu-bound"} <= set(ids)
    text = (Path(__file__).resolve().parents[1] / "docs" / "traits.md").read_text()
    assert [i for i in ids if i not in text] == []
