"""Generate docs/cli.md from the CLI itself, so every command and option is documented.

    python -m profiler.cli.docs > docs/cli.md

tests/test_cli_docs.py fails when the committed file differs from what this prints.
"""

from __future__ import annotations

import sys
from typing import Any

import typer

from profiler.cli.main import app

INTRO = """# Command reference

Generated from the CLI by `python -m profiler.cli.docs`; do not edit by hand (a test compares
the two). See the README for a walk-through and docs/run-folder.md for what a run writes.

Exit codes: 0 done (a gate: every check passed); 1 a gate's check or --fail-on rule failed; 2 bad
input, check, settings file or run folder, a full disk included (one line on stderr says what and
how to fix it); 3 the target exited, hung (stopped answering mid-run), never answered, or is not
the server behind the URL; 4 the load generator failed; 5 a gate could not judge (the run, or the
stage a check names, is not valid enough: see docs/ci.md); 130 interrupted (Ctrl-C or SIGTERM:
the partial report is still written).
"""


def _is_option(param: Any) -> bool:
    # Typer vendors its own copy of Click, so duck-type rather than isinstance on click classes.
    return bool(getattr(param, "param_type_name", "") == "option")


def _default(param: Any) -> str:
    if _is_option(param) and param.is_flag:
        return ""
    value = param.default
    if value is None or callable(value):
        return ""
    if isinstance(value, (list, tuple)) and not value:
        return ""
    return f"`{value}`"


def render() -> str:
    root: Any = typer.main.get_command(app)
    lines = [INTRO]
    ctx = root.context_class(root)
    for name in root.list_commands(ctx):
        cmd = root.get_command(ctx, name)
        if cmd is None or cmd.hidden:
            continue
        lines += [f"## profiler {name}", "", (cmd.help or "").strip().splitlines()[0], ""]
        args = [p for p in cmd.params if not _is_option(p)]
        usage = " ".join(str(a.name).upper() for a in args)
        lines += [f"    profiler {name} {usage} [OPTIONS]".rstrip(), ""]
        lines += ["| argument / option | type | default | meaning |", "|---|---|---|---|"]
        for p in cmd.params:
            if _is_option(p):
                names = ", ".join(f"`{o}`" for o in p.opts)
                kind = "flag" if p.is_flag else (p.metavar or str(p.display_type(ctx))).strip("<> ").lower()
                help_text = p.help or ""
            else:
                names = f"`{str(p.name).upper()}`"
                kind = str(p.display_type(ctx)).strip("<> ")
                help_text = getattr(p, "help", None) or ""
            if names == "`--help`":
                continue
            lines.append(f"| {names} | {kind} | {_default(p)} | {help_text.replace('|', '/')} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(render())
