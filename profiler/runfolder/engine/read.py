"""Reading an append-only file whose last line a crash may have cut short."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import polars as pl

from profiler.errors import RunFolderError

T = TypeVar("T")


def read_tolerant(path: Path, reader: Callable[[Path | bytes], T]) -> T:
    """`reader(path)`; if that fails, `reader` on the bytes up to the last newline (a crash can
    leave one partial line, e.g. an unterminated quote); a file still unreadable is one line."""
    try:
        return reader(path)
    except (pl.exceptions.PolarsError, ValueError):
        pass
    try:
        data = path.read_bytes()
    except OSError as e:
        raise RunFolderError(f"cannot read '{path}': {e.strerror or e}.", "check the file's permissions") from None
    try:
        return reader(data[: data.rfind(b"\n") + 1])
    except (pl.exceptions.PolarsError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise RunFolderError(f"'{path}' is damaged ({first[:120]}).", "the run folder is damaged; run again") from None
