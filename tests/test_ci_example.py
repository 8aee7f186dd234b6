"""examples/ci/: the workflow a user copies is valid YAML whose profiler commands use only options
the CLI has, and the example settings are read by the gate as they are (every check known)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml

from profiler.gate import plan_gate
from profiler.gate.metrics import METRIC_NAMES
from profiler.gate.settings import load_settings

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "ci"
DOCS = Path(__file__).resolve().parents[1] / "docs"


def _profiler_commands() -> list[list[str]]:
    workflow = yaml.safe_load((EXAMPLES / "performance.yml").read_text())
    steps = workflow["jobs"]["gate"]["steps"]
    commands = []
    for step in steps:
        script = step.get("run", "").replace("\\\n", " ")
        for line in script.splitlines():
            if line.strip().startswith("profiler "):
                commands.append(shlex.split(line.replace('"${baseline[@]}"', "")))
    return commands


def test_the_workflow_runs_the_profiler_with_options_it_has() -> None:
    commands = _profiler_commands()
    assert commands and commands[0][:2] == ["profiler", "run"]
    cli_doc = (DOCS / "cli.md").read_text()
    for command in commands:
        for option in (t for t in command if t.startswith("--")):
            assert f"`{option}`" in cli_doc, f"{option} is not an option of the CLI (docs/cli.md)"


def test_the_example_settings_are_read_by_the_gate() -> None:
    settings = load_settings(EXAMPLES / "pyproject.toml")
    plan = plan_gate(settings)
    assert len(plan.checks) == len(settings.checks) >= 3 and plan.traits


def test_docs_ci_names_every_metric_a_check_can_use() -> None:
    text = (DOCS / "ci.md").read_text()
    documented = set(re.findall(r"^\| `([a-z_0-9]+)` \|", text, flags=re.MULTILINE))
    assert documented == set(METRIC_NAMES)


def test_docs_compare_names_every_metric_a_comparison_reads() -> None:
    from profiler.compare.metrics import METRIC_NAMES as COMPARED

    text = (DOCS / "compare.md").read_text()
    assert all(f"`{name}`" in text for name in COMPARED)
