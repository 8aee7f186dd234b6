"""Writing a run folder: created once, appended while the run goes, every file readable after a crash."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import TextIO

from profiler.base.errors import RunFolderError, folder_write_error
from profiler.base.servertiming import finite_sum, parse_fast
from profiler.runfolder.names import HANDOFFS, META, REQUESTS, STAGES
from profiler.runfolder.records import (
    CACHE_COLUMNS,
    FLAG_TIMED,
    HANDOFF_SLOTS,
    NAME_LIMIT,
    OTHER_ENTRIES,
    RAW_TIMING_LIMIT,
    REQUEST_COLUMNS,
    ROUTE_NAME_LIMIT,
    SERVER_TOTAL,
    STREAM_COLUMNS,
    HandoffSlots,
    StageEvent,
)


def prepare_folder(path: Path) -> Path:
    """Create the run folder; refuse to mix two runs in one folder."""
    try:
        if path.exists() and not path.is_dir():
            raise RunFolderError(f"--out '{path}' exists and is not a folder.", "choose another --out")
        if path.is_dir() and (path / META).exists():
            raise RunFolderError(
                f"'{path}' already holds a run.", "choose a new --out folder, or delete the old run first"
            )
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise folder_write_error(path, e) from None
    return path


NO_STREAM = ("",) * len(STREAM_COLUMNS)  # the stream cells of a response that was not streamed
NO_FACTS = ("",) * len(CACHE_COLUMNS)  # the cache columns of a request nothing is known of (unsent, cut off)


# The timing columns of a response without Server-Timing (most of them): built once, not per row.
_NO_TIMING: tuple[object, ...] = ("", 0, *([""] * HANDOFF_SLOTS), "", "")


def row(start: float, latency_ms: float, ttfb_ms: float, status: int, nbytes: int, error: str, stage: int, kind: str,
        timing: tuple[object, ...], method: str, name: str, stream: tuple[str, ...],
        facts: tuple[object, ...] = NO_FACTS) -> tuple[object, ...]:  # fmt: skip
    """A row's cells, its timing columns given: one tuple built at once, per request. `facts` are
    the cache columns (records.CACHE_COLUMNS): request bytes, request key, body key, cache verdict."""
    return (f"{start:.6f}", f"{latency_ms:.3f}", f"{ttfb_ms:.3f}", status, nbytes, error, stage, kind, *timing, method,
            name[:ROUTE_NAME_LIMIT], *stream, *facts)  # fmt: skip


def untimed(flags: str) -> tuple[object, ...]:
    """The timing columns of a response without Server-Timing (most of them)."""
    return (flags, *_NO_TIMING)


def csv_text(rows: list[tuple[object, ...]]) -> str:
    """Rows as requests.csv holds them (the same writer: RequestLog's file is opened with newline="")."""
    buffer = io.StringIO(newline="")
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue()


class RequestLog:
    """requests.csv and handoffs.jsonl, appended by the load worker.

    Rows are buffered and written by `flush`; a handoff's slot is written (and flushed) the
    moment its name is first seen, so every row on disk has its slot names on disk before it.
    """

    def __init__(self, folder: Path) -> None:
        path = folder / REQUESTS
        new = not path.exists()
        self._fh = path.open("a", newline="")
        self._csv = csv.writer(self._fh)
        if new:
            self._csv.writerow(REQUEST_COLUMNS)
            self._fh.flush()
        self._slots_fh = (folder / HANDOFFS).open("a")
        self.slots = HandoffSlots()
        self.rows: list[tuple[object, ...]] = []
        self.texts: list[str] = []

    def add(
        self,
        start: float,
        latency_ms: float,
        ttfb_ms: float,
        status: int,
        nbytes: int,
        error: str,
        stage: int,
        kind: str,
        flags: str,
        timing: str,
        method: str = "",
        name: str = "",
        stream: tuple[str, ...] = NO_STREAM,
        facts: tuple[object, ...] = NO_FACTS,
    ) -> None:
        cells = self._timing_fields(flags, timing) if timing else untimed(flags)
        self.rows.append(
            row(start, latency_ms, ttfb_ms, status, nbytes, error, stage, kind, cells, method, name, stream, facts)
        )

    def add_text(self, text: str) -> None:
        """Rows already in CSV (`csv_text`: a load worker of a distributed run formats its own)."""
        self.texts.append(text)

    def _timing_fields(self, flags: str, header: str) -> tuple[object, ...]:
        parsed = parse_fast(header)
        durations = dict(parsed.durations)
        total = durations.pop(SERVER_TOTAL, None)
        server = total if total is not None else finite_sum(durations.values())
        slots: list[str] = [""] * HANDOFF_SLOTS
        other: list[str] = []
        for full_name, dur in durations.items():
            name = full_name[:NAME_LIMIT]
            known = name in self.slots.slots
            slot = self.slots.slot(name)
            if slot is None:
                if len(other) < OTHER_ENTRIES:  # a row has a size bound, however long the header
                    other.append(f"{name}={dur!r}")
                continue
            if not known:
                self._slots_fh.write(HandoffSlots.line(name, slot))
                self._slots_fh.flush()
            slots[slot] = repr(dur)
        return (
            flags + FLAG_TIMED,
            "" if server is None else repr(server),
            parsed.malformed,
            *slots,
            ";".join(other),
            header[:RAW_TIMING_LIMIT] if parsed.malformed else "",
        )

    def flush(self) -> None:
        if self.rows or self.texts:
            rows, self.rows = self.rows, []
            texts, self.texts = self.texts, []
            self._csv.writerows(rows)
            self._fh.write("".join(texts))
            self._fh.flush()

    def close(self) -> None:
        self.flush()
        self._fh.close()
        self._slots_fh.close()


class StageLog:
    """stages.jsonl: a line when a stage starts and ends, when the target hangs, and the generator's
    final accounting line; each flushed at once."""

    def __init__(self, folder: Path) -> None:
        self._fh: TextIO = (folder / STAGES).open("a")

    def write(self, event: StageEvent) -> None:
        self._fh.write(event.line())
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()
