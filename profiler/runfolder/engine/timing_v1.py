"""Server-Timing stored raw (format 1, profiler 0.1): parsed into columns, row by row.

Later formats hold the parsed durations already (the slots, and `h_other` past them, which
engine/columnar.py splits into columns by expression), so this per-row Python runs only on
folders written by profiler 0.1.
"""

from __future__ import annotations

import polars as pl

from profiler.base.servertiming import finite_sum, parse_fast
from profiler.runfolder.records import FLAG_TIMED, REQUEST_COLUMNS, REQUEST_COLUMNS_V1, SERVER_TOTAL

# Handoff names analysed at most: an app (or a fault) sending thousands of distinct names must not
# turn into thousands of columns. Names past the bound stay on disk, unread.
MAX_HANDOFF_NAMES = 32
FIXED_COLUMNS = frozenset(REQUEST_COLUMNS) | frozenset(REQUEST_COLUMNS_V1)


def _with_columns(frame: pl.DataFrame, columns: dict[str, list[float | None]]) -> pl.DataFrame:
    room = max(0, MAX_HANDOFF_NAMES - sum(1 for c in frame.columns if c not in FIXED_COLUMNS))
    # An entry named like a column of the file (an app's `start;dur=5`) is left out: it would
    # overwrite that column.
    kept = [(name, values) for name, values in columns.items() if name not in FIXED_COLUMNS][:room]
    return frame.with_columns(pl.Series(name, values, dtype=pl.Float64) for name, values in kept)


def parse_raw_timing(frame: pl.DataFrame) -> pl.DataFrame:
    """Format 1: the raw `server_timing` header becomes `server_ms`, `timing_malformed`, a column
    per handoff name and the `s` flag, as the format-2 writer stores them."""
    headers = frame.get_column("server_timing").to_list()
    n = len(headers)
    server: list[float | None] = [None] * n
    malformed = [0] * n
    columns: dict[str, list[float | None]] = {}
    for i, header in enumerate(headers):
        if not header:
            continue
        parsed = parse_fast(header)
        malformed[i] = parsed.malformed
        durations = dict(parsed.durations)
        total = durations.pop(SERVER_TOTAL, None)
        server[i] = total if total is not None else finite_sum(durations.values())
        for name, dur in durations.items():
            columns.setdefault(name, [None] * n)[i] = dur
    timed = pl.col("server_timing").fill_null("") != ""
    frame = frame.with_columns(
        pl.Series("server_ms", server, dtype=pl.Float64),
        pl.Series("timing_malformed", malformed, dtype=pl.Int64),
        pl.when(timed).then(pl.col("flags") + FLAG_TIMED).otherwise(pl.col("flags")).alias("flags"),
    ).drop("server_timing")
    return _with_columns(frame, columns)
