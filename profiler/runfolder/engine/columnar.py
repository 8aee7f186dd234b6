"""requests.csv made columnar: read once, checked, and stored as Parquet beside it.

An hour of load is ~10 million rows (a GB of CSV). Held in memory as a DataFrame they would take
~1.5 GB; scanned from Parquet, each figure reads only the columns it needs, and only the row groups
of the stage it asks for (the file is written stage by stage, so the groups' statistics skip the
rest). The conversion streams (`sink_parquet`): its memory does not grow with the run either.

The file is a cache of requests.csv, which stays the record people read: its key-value metadata
holds the CSV's size and modification time and the handoff slot names it was built with, and a
file that does not match them is built again. Rows a crash cut short, or whose numbers do not
parse or are not finite, are left out here, once (a crash can cut at most the last rows).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import polars as pl

from profiler.base.errors import RunFolderError
from profiler.base.servertiming import is_token
from profiler.runfolder.connections import KIND_SESSION
from profiler.runfolder.engine.read import READ_ERRORS, read_tolerant
from profiler.runfolder.engine.timing_v1 import FIXED_COLUMNS, MAX_HANDOFF_NAMES, parse_raw_timing
from profiler.runfolder.names import REQUESTS_COLUMNAR
from profiler.runfolder.records import (
    REQUEST_COLUMNS,
    REQUEST_COLUMNS_V1,
    REQUEST_COLUMNS_V2,
    REQUEST_COLUMNS_V3,
    ROUTE_COLUMNS,
    SLOT_COLUMNS,
    STREAM_COLUMNS,
)

TYPES: dict[str, pl.DataType | type[pl.DataType]] = {
    "start": pl.Float64,
    "latency_ms": pl.Float64,
    "ttfb_ms": pl.Float64,
    "status": pl.Int32,
    "bytes": pl.Int64,
    "stage": pl.Int32,
    "server_ms": pl.Float64,
    "timing_malformed": pl.Int32,
    **dict.fromkeys(SLOT_COLUMNS, pl.Float64),
    **dict.fromkeys(STREAM_COLUMNS, pl.Float64),
    "req_bytes": pl.Int64,
}
KNOWN_HEADERS = (REQUEST_COLUMNS, REQUEST_COLUMNS_V3, REQUEST_COLUMNS_V2, REQUEST_COLUMNS_V1)
# Text columns kept as strings (not categories): keys are many distinct values, joined on as text.
_STRINGS = ("h_other", "server_timing", "req_key", "body_crc")
REQUIRED = ("start", "latency_ms", "ttfb_ms", "status", "stage", "kind")
# A reading is damaged when negative, not finite, or past 2**40 (no response is a terabyte nor a
# duration 35 years; a larger `bytes` would overflow its stage's Int64 sum, 1e308 ms a float sum).
# A damaged latency leaves its row out; a damaged optional reading (bytes, Server-Timing's) reads
# as missing, the row kept.
_MAX_READING = 2**40
_MAX_STATUS = 999  # three digits; 0: no response
_CLOSE_CODES = (1000, 4999)  # a WebSocket session's status is its close code (RFC 6455 7.4)
_STAMP = "profiler.requests"  # the metadata key
_VERSION = 3  # bump when what the file holds changes: older files are then built again
# ~10k rows a group: fine enough that a stage's filter skips the other stages' groups.
_ROW_GROUP = 16_384


def measure(name: str) -> pl.Expr:
    return pl.col(name).is_finite() & pl.col(name).is_between(0, _MAX_READING, closed="left")


def header_of(path: Path) -> tuple[str, ...]:
    with path.open("rb") as fh:
        return tuple(fh.readline().decode("utf-8", "replace").strip().split(","))


def _scan(source: Path | bytes, header: tuple[str, ...], slot_names: dict[int, str]) -> pl.LazyFrame:
    """The checked rows of the columns the analysis uses (the used handoff slots; the raw header
    only from format 1, where it is the data), strings as categories."""
    v1 = header == REQUEST_COLUMNS_V1
    wanted = [c for c in header if c != "server_timing" and (c not in SLOT_COLUMNS or int(c[1:]) in slot_names)]
    wanted += ["server_timing"] if v1 else []
    types = {c: TYPES.get(c, pl.String if c in _STRINGS else pl.Categorical) for c in header}
    text = [c for c in ("error", "kind", "flags", "h_other", "server_timing", *ROUTE_COLUMNS, "req_key", "body_crc",
                        "cache_status") if c in wanted]  # fmt: skip
    lazy = pl.scan_csv(source, schema=types, ignore_errors=True, truncate_ragged_lines=True, low_memory=True)
    return (
        lazy.select(wanted)
        .filter(
            *(pl.col(c).is_not_null() for c in REQUIRED),
            pl.col("start").is_finite(),
            measure("latency_ms"),
            measure("ttfb_ms"),
            pl.col("status").is_between(0, _MAX_STATUS)
            | ((pl.col("kind") == KIND_SESSION) & pl.col("status").is_between(*_CLOSE_CODES)),
            pl.col("stage") >= 0,
        )
        .with_columns(pl.col(text).fill_null(""))
    )


def _other_names(lazy: pl.LazyFrame, taken: set[str]) -> list[str]:
    """Handoff names past the slots (`h_other`: `name=dur;name=dur`), in the order rows first show
    them: usually none, so this reads one column and keeps nothing."""
    texts = lazy.select(pl.col("h_other")).filter(pl.col("h_other").str.len_bytes() > 0).unique(maintain_order=True)
    names: dict[str, None] = {}
    for text in texts.collect(engine="streaming").get_column("h_other").to_list():
        for item in text.split(";"):
            name = item.partition("=")[0]
            if is_token(name) and name not in FIXED_COLUMNS and name not in taken:
                names[name] = None
    return list(names)


def _with_other(lazy: pl.LazyFrame, room: int) -> pl.LazyFrame:
    """`h_other`'s durations as a column per name (the first `room` names; the rest stay on disk)."""
    other = [
        pl.col("h_other")
        .str.extract(rf"(?:^|;){re.escape(name)}=([^;]*)", 1)
        .cast(pl.Float64, strict=False)
        .alias(name)
        for name in _other_names(lazy, set(lazy.collect_schema().names()))[:room]
    ]
    return lazy.with_columns(other).drop("h_other")


def _bounded(lazy: pl.LazyFrame) -> pl.LazyFrame:
    readings = [c for c, dtype in lazy.collect_schema().items() if dtype.is_numeric() and c not in REQUIRED]
    return lazy.with_columns(pl.when(measure(c)).then(pl.col(c)).alias(c) for c in readings)


def checked_rows(source: Path | bytes, header: tuple[str, ...], slot_names: dict[int, str]) -> pl.LazyFrame:
    """requests.csv's checked rows, every format read as the current one: the handoff slots under
    their names, the routes and streams of older formats empty."""
    lazy = _scan(source, header, slot_names)
    if header not in (REQUEST_COLUMNS, REQUEST_COLUMNS_V3):  # before routes and streams: one unnamed route
        new = [pl.lit("", pl.Categorical).alias(c) for c in ROUTE_COLUMNS]
        lazy = lazy.with_columns(*new, *(pl.lit(None, pl.Float64).alias(c) for c in STREAM_COLUMNS))
    if header != REQUEST_COLUMNS:  # before format 4: no request bytes, keys or cache verdicts
        lazy = lazy.with_columns(
            pl.lit(None, pl.Int64).alias("req_bytes"),
            *(pl.lit("", pl.String).alias(c) for c in ("req_key", "body_crc")),
            pl.lit("", pl.Categorical).alias("cache_status"),
        )
    if header == REQUEST_COLUMNS_V1:  # profiler 0.1's raw header: parsed row by row (small, old folders)
        return _bounded(parse_raw_timing(lazy.collect()).lazy())
    lazy = lazy.rename({f"h{slot}": name for slot, name in slot_names.items()})
    room = max(0, MAX_HANDOFF_NAMES - sum(1 for c in lazy.collect_schema().names() if c not in FIXED_COLUMNS))
    return _bounded(_with_other(lazy, room))


def _stamp(csv: Path, slot_names: dict[int, str]) -> str:
    st = csv.stat()
    return json.dumps({"version": _VERSION, "bytes": st.st_size, "mtime_ns": st.st_mtime_ns, "slots": slot_names})


def _fresh(target: Path, stamp: str) -> bool:
    try:
        return target.is_file() and pl.read_parquet_metadata(target).get(_STAMP) == stamp
    except (OSError, pl.exceptions.PolarsError):
        return False  # damaged or unreadable: built again


def columnar(csv: Path, slot_names: dict[int, str]) -> pl.LazyFrame:
    """The run's checked requests, scanned from requests.parquet (built now where it is missing or
    stale). Where the folder cannot take the file (read-only), the rows are read into memory."""
    header = header_of(csv)
    if header not in KNOWN_HEADERS:
        raise RunFolderError(f"'{csv}' does not have the expected columns.", "was it written by profiler?")
    # Slot names come from handoffs.jsonl: one that is no token (damage), or that names a column
    # of the file already (an app's `start;dur=5`), is left out rather than overwrite that column.
    slot_names = {slot: name for slot, name in slot_names.items() if is_token(name) and name not in FIXED_COLUMNS}
    target = csv.with_name(REQUESTS_COLUMNAR)
    stamp = _stamp(csv, slot_names)
    if _fresh(target, stamp):
        return pl.scan_parquet(target)
    partial = target.with_name(target.name + ".partial")

    def sink(source: Path | bytes) -> None:
        checked_rows(source, header, slot_names).sink_parquet(
            partial, metadata={_STAMP: stamp}, row_group_size=_ROW_GROUP, statistics=True
        )

    try:
        sink(csv)
        os.replace(partial, target)  # whole or not at all: a reader never sees half a file
    except (OSError, *READ_ERRORS):  # a full disk, a read-only folder, a CSV the stream cannot read
        partial.unlink(missing_ok=True)
        return read_tolerant(csv, lambda source: checked_rows(source, header, slot_names).collect()).lazy()
    return pl.scan_parquet(target)
