"""py-spy's collapsed stacks as values: frames, their short locations, whole profiles.

Pure: text in, values out. The recording itself is profiler/sampling/pyspy.py; what the stacks
say about where time goes is profiler/analysis/attribution/code.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from profiler.base.secrets import mask_command

_PROCESS_FRAME = re.compile(r'^process \d+:".*?"(?=;|$)')
_PROCESS_PARTS = re.compile(r'^process (\d+):"(.*)"$')
_PREFIX_FRAME = re.compile(r"^(process \d+:|thread \()")
_STDLIB_DIR = re.compile(r"/lib/python\d+(?:\.\d+)?t?/")


@dataclass(frozen=True)
class Frame:
    """One Python (or native) frame of a stack: `name (file:line)` in py-spy's output."""

    name: str
    file: str
    line: int | None

    @property
    def function(self) -> str:
        """The function without its line: `name (file.py)`, with a short file."""
        return f"{self.name} ({short_location(self.file)})"

    @property
    def base(self) -> str:
        """The last part of the qualified name: `_run_once` for `BaseEventLoop._run_once`."""
        return self.name.rsplit(".", 1)[-1]


def short_location(file: str) -> str:
    """`asyncio/base_events.py` for a stdlib or site-packages path, else the file name.

    Matches py-spy's default shortening closely enough that full and short recordings
    give the same function names.
    """
    path = file.replace("\\", "/")
    for marker in ("/site-packages/", "/dist-packages/"):
        if marker in path:
            return path.rsplit(marker, 1)[1]
    stdlib = list(_STDLIB_DIR.finditer(path))
    if stdlib:
        return path[stdlib[-1].end() :]
    if path.startswith("/") or re.match(r"^[A-Za-z]:/", path):
        parts = path.rsplit("/", 2)
        # `__init__.py` alone says nothing; keep the package directory.
        return "/".join(parts[-2:]) if parts[-1] == "__init__.py" else parts[-1]
    return path


def parse_frame(text: str) -> Frame | None:
    """A frame, or None for py-spy's `process ...` / `thread (...)` prefix frames."""
    if _PREFIX_FRAME.match(text):
        return None
    if text.endswith(")") and " (" in text:
        name, _, location = text[:-1].rpartition(" (")
        file, sep, line = location.rpartition(":")
        if sep and line.isdigit():
            return Frame(name, file, int(line))
        return Frame(name, location, None)
    return Frame(text, "", None)


def parse_process_frame(text: str) -> tuple[int, str] | None:
    """(pid, command line) of py-spy's `process PID:"CMD"` frame (with --subprocesses), else None."""
    match = _PROCESS_PARTS.match(text)
    # The command line is the target's own: a secret in it (--api-key X) is masked like everywhere.
    return (int(match.group(1)), mask_command(match.group(2))) if match else None


def _split_stack(text: str) -> list[str]:
    # The process frame quotes the command line, which may itself contain ';'.
    head = _PROCESS_FRAME.match(text)
    if head is None:
        return [f for f in text.split(";") if f]
    rest = text[head.end() + 1 :]
    return [head.group(0), *(f for f in rest.split(";") if f)]


@dataclass(frozen=True)
class CodeProfile:
    """Collapsed stacks: each (frames root to leaf, samples). Lines that did not parse
    are counted in `skipped_lines`."""

    total_samples: int
    stacks: tuple[tuple[tuple[str, ...], int], ...]
    skipped_lines: int = 0


def parse_collapsed(text: str) -> CodeProfile:
    """Parse py-spy raw / flamegraph.pl collapsed text: `frame;frame;leaf COUNT` a line."""
    counts: dict[tuple[str, ...], int] = {}
    skipped = 0
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        stack, _, count = line.rpartition(" ")
        frames = tuple(_split_stack(stack.strip())) if stack.strip() else ()
        if not frames or not count.isdigit() or int(count) == 0:
            skipped += 1
            continue
        counts[frames] = counts.get(frames, 0) + int(count)
    stacks = tuple(counts.items())
    return CodeProfile(sum(counts.values()), stacks, skipped)
