"""docs/cli.md is generated from the CLI: every command and option is documented, and current."""

from __future__ import annotations

from pathlib import Path

from profiler.cli.docs import render

DOC = Path(__file__).resolve().parents[1] / "docs" / "cli.md"


def test_cli_doc_matches_the_cli() -> None:
    assert DOC.read_text() == render(), "run: python -m profiler.cli.docs > docs/cli.md"


def test_every_option_has_help() -> None:
    text = render()
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert rows
    assert all(not line.rstrip().endswith("|  |") for line in rows), [r for r in rows if r.rstrip().endswith("|  |")]
