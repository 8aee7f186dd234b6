"""The shape of the package, checked like behaviour: small modules, short functions, nothing
written twice, layers that point one way (the contract lives in pyproject.toml)."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "profiler"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
REPEAT_LINES = 6
CLI = PACKAGE / "cli"  # its commands' option declarations are long by nature: only their bodies count


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _functions(path: Path) -> list[tuple[str, int]]:
    """(name, length in lines) of every function and method in the module."""
    tree = ast.parse(path.read_text())
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            assert node.end_lineno is not None
            first = node.body[0].lineno if path.parent == CLI else node.lineno
            out.append((f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name}", node.end_lineno - first + 1))
    return out


def test_no_module_is_over_the_line_limit() -> None:
    long = {
        str(p.relative_to(PACKAGE)): n for p in _modules() if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


def test_no_function_is_over_the_line_limit() -> None:
    long = [f"{name} ({n} lines)" for p in _modules() for name, n in _functions(p) if n > MAX_FUNCTION_LINES]
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"


def _code_lines(path: Path) -> list[tuple[int, str]]:
    """The module's lines that carry code, stripped: no blanks, comments, docstrings or imports."""
    text = path.read_text()
    skip: set[int] = set()
    for node in ast.walk(ast.parse(text)):
        body = getattr(node, "body", None)
        if (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
        ):
            skip.update(range(body[0].lineno, (body[0].end_lineno or body[0].lineno) + 1))
        if isinstance(node, ast.Import | ast.ImportFrom):
            skip.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    out = []
    for i, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped and not stripped.startswith("#") and i not in skip and stripped not in (")", "]", "}", "),", "],"):
            out.append((i, stripped))
    return out


def test_no_block_of_code_is_written_twice() -> None:
    seen: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for path in _modules():
        lines = _code_lines(path)
        for k in range(len(lines) - REPEAT_LINES + 1):
            window = tuple(text for _, text in lines[k : k + REPEAT_LINES])
            seen[window].append(f"{path.relative_to(PACKAGE)}:{lines[k][0]}")
    repeated = {places[0]: places[1:] for places in seen.values() if len(places) > 1}
    assert not repeated, f"blocks of {REPEAT_LINES} lines written more than once: {repeated}"


def test_layers_point_one_way() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "from importlinter.cli import lint_imports_command; lint_imports_command()"],
        capture_output=True,
        text=True,
        cwd=PACKAGE.parent,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_console_script_names_a_function_that_exists() -> None:
    """`pip install` writes the `profiler` command from pyproject's entry point: a module or name
    moved without it leaves a command that dies on import."""
    import importlib

    pyproject = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())
    module, _, name = pyproject["project"]["scripts"]["profiler"].partition(":")
    assert callable(getattr(importlib.import_module(module), name, None))


def test_every_data_file_of_the_package_is_installed() -> None:
    """A file the package reads at run time (the report's assets, the category table) must be in
    pyproject's package-data, or a non-editable install lacks it (tests run from the source tree
    would not notice: `python -m profiler` in the repo imports the source)."""
    import tomllib

    patterns = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    installed = {p for pattern in patterns["profiler"] for p in PACKAGE.glob(pattern) if p.is_file()}
    data = {
        p
        for p in PACKAGE.rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
    }
    assert data <= installed, (
        f"not in [tool.setuptools.package-data]: {sorted(str(p.relative_to(PACKAGE)) for p in data - installed)}"
    )
