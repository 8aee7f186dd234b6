"""Reading an append-only file whose last line a crash may have cut short."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import polars as pl

from profiler.base.errors import RunFolderError

T = TypeVar("T")
# What polars raises on bytes it cannot read. A panic (a polars defect on odd input) is no
# Exception, yet it is still a file `analyze` could not read, not a traceback.
READ_ERRORS = (pl.exceptions.PolarsError, pl.exceptions.PanicException, ValueError)


def read_tolerant(path: Path, reader: Callable[[Path | bytes], T]) -> T:
    """`reader(path)`; if that fails, `reader` on the bytes up to the last newline (a crash can
    leave one partial line, e.g. an unterminated quote); a file still unreadable is one line."""
    with warnings.catch_warnings():
        # polars warns on stderr of a malformed chunk (a stray quote) and reads on: the rows it
        # returns are checked like any, and `analyze` promises one line of output, not a warning.
        warnings.simplefilter("ignore", UserWarning)
        return _read(path, reader)


def _read(path: Path, reader: Callable[[Path | bytes], T]) -> T:
    try:
        return reader(path)
    except READ_ERRORS:
        pass
    try:
        data = path.read_bytes()
    except OSError as e:
        raise RunFolderError(f"cannot read '{path}': {e.strerror or e}.", "check the file's permissions") from None
    try:
        return reader(data[: data.rfind(b"\n") + 1])
    except READ_ERRORS as e:
        raise damaged(path, e) from None


def damaged(path: Path, error: BaseException) -> RunFolderError:
    """One line naming the file and the first line of what polars said of it."""
    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return RunFolderError(f"'{path}' is damaged ({first[:120]}).", "the run folder is damaged; run again")
