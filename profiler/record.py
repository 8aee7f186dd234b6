"""The run folder: written as data arrives, read back whole for analysis.

Layout (every file is appended while the run goes, flushed at least once a second):

    meta.json        what was asked, the target, versions, notices, how the run ended
    requests.csv     one row per request (REQUEST_COLUMNS), main and probe
    stages.jsonl     start/end events of each load stage
    samples.jsonl    process/machine (and GPU/RAPL) samples, one JSON object per tick
    target.log       the launched target's stdout and stderr
    loadgen.log      the load generator's own log
    pyspy/           py-spy recordings (collapsed text + speedscope JSON), when taken
    report.json      the analysis, rebuilt at any time by `profiler analyze DIR`
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
from array import array
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from profiler.errors import RunFolderError

REQUEST_COLUMNS = (
    "start",
    "latency_ms",
    "ttfb_ms",
    "status",
    "bytes",
    "error",
    "stage",
    "kind",
    "flags",
    "server_timing",
)
# flags: letters for response traits the analysis needs but a status code cannot show:
#   c = Set-Cookie present, t = chunked transfer encoding, e = text/event-stream
FLAG_COOKIE, FLAG_CHUNKED, FLAG_EVENT_STREAM = "c", "t", "e"
# The error of an open-model arrival the generator could not send (all its slots busy): counted
# as a failure of the stage, never as a latency (it has none).
UNSENT = "GeneratorSaturated"
META = "meta.json"
REQUESTS = "requests.csv"
STAGES = "stages.jsonl"
SAMPLES = "samples.jsonl"
REPORT = "report.json"
TARGET_LOG = "target.log"
LOADGEN_LOG = "loadgen.log"
PYSPY_DIR = "pyspy"


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    os.replace(tmp, path)


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
        raise RunFolderError(
            f"cannot write to '{path}': {e.strerror or e}.", "choose a writable --out folder"
        ) from None
    return path


# ---------------------------------------------------------------- reading


@dataclass
class StageRequests:
    """The main (non-probe) requests of one stage, column by column, in completion order."""

    start: array[float] = field(default_factory=lambda: array("d"))
    latency: array[float] = field(default_factory=lambda: array("d"))
    ttfb: array[float] = field(default_factory=lambda: array("d"))
    failed: bytearray = field(default_factory=bytearray)
    bytes_total: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    handoffs: dict[str, array[float]] = field(default_factory=dict)  # NaN where a request lacks it
    server_total: array[float] = field(default_factory=lambda: array("d"))  # NaN where absent
    timed: int = 0  # requests that carried a Server-Timing header
    flags: Counter[str] = field(default_factory=Counter)  # responses carrying each FLAG_*
    malformed_timing: int = 0
    probe_latency: array[float] = field(default_factory=lambda: array("d"))
    probe_start: array[float] = field(default_factory=lambda: array("d"))
    unsent: int = 0  # open-model arrivals the generator could not send (UNSENT)
    # Sorted copies, made by the (possibly parallel) reader: the percentiles need them, and
    # sorting a million floats is the largest single cost of `analyze`.
    latency_sorted: array[float] = field(default_factory=lambda: array("d"))
    ttfb_sorted: array[float] = field(default_factory=lambda: array("d"))
    # Derived by analysis.handoffs.derive (in the reader's processes); timed_count -1: not yet.
    timed_count: int = -1
    timed_latency_total: float = 0.0
    unattributed_sorted: array[float] = field(default_factory=lambda: array("d"))
    handoffs_sorted: dict[str, array[float]] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.latency)

    def sort(self) -> None:
        self.latency_sorted = array("d", sorted(self.latency))
        self.ttfb_sorted = array("d", sorted(self.ttfb))


@dataclass(frozen=True, slots=True)
class StageWindow:
    index: int
    users: int | None
    rate: float | None
    start: float
    end: float
    planned_s: float
    ended: bool  # False when the run stopped inside this stage
    stop_reason: str | None
    profiled: bool = False

    @property
    def duration_s(self) -> float:
        return max(self.end - self.start, 1e-9)


@dataclass(frozen=True)
class RunData:
    folder: Path
    meta: dict[str, Any]
    stages: tuple[StageWindow, ...]
    requests: dict[int, StageRequests]
    samples: tuple[dict[str, Any], ...]
    profiles: dict[int, tuple[str, dict[str, str], str | None]] = field(default_factory=dict)  # see _read_profiles


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if not path.exists():
        return out
    with path.open() as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by a crash: at most the last one
            if isinstance(value, dict):
                out.append(value)
    return out


_NAN = math.nan
_INF = math.inf


_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
# One entry `name[;param...];dur=N` per comma-separated item, dur the last parameter named so.
_TIMING_ENTRY = re.compile(
    r"(?:^|,)[ \t]*(" + _TOKEN + r")[ \t]*(?:;[^,]*)?;[ \t]*dur=([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)[ \t]*(?=;|,|$)"
)


_QUOTED_SEPARATOR = re.compile(r'"[^"]*[,;\\][^"]*"')  # a quoted value hiding a separator


def _parse_timing(header: str) -> tuple[dict[str, float], int]:
    """Server-Timing durations by name and the malformed-entry count.

    A regular expression takes the common case (every entry has a plain numeric dur); when it
    does not account for every comma-separated entry (an entry without dur, a bad number, a
    quoted value holding a comma...) the general parser decides, so both always agree.
    """
    if '"' in header and (header.count('"') % 2 or _QUOTED_SEPARATOR.search(header)):
        found: list[tuple[str, str]] = []
    else:
        found = _TIMING_ENTRY.findall(header)
    # Every entry matched, each with exactly one dur (a second, even a bad one, is the general
    # parser's to judge), and every number finite (1e400 is not).
    if (
        found
        and len(found) == header.count(",") + 1
        and header.lower().count("dur") == len(found)
        and all(len(d) < 300 and float(d) < _INF for _, d in found)
    ):
        out = {name: float(dur) for name, dur in found}
        if len(out) != len(found):  # the same name twice: the app timed a step in pieces
            out = {}
            for name, dur in found:
                out[name] = out.get(name, 0.0) + float(dur)
        return out, 0
    from profiler.servertiming import parse_server_timing

    parsed = parse_server_timing(header)
    return parsed.durations, parsed.malformed


PARALLEL_MIN_BYTES = 32 * 2**20  # below this, one process reads faster than starting others


def read_requests(path: Path, workers: int | None = None) -> dict[int, StageRequests]:
    """Read requests.csv into per-stage columns.

    The hot loop of `analyze`: per-row work is kept to appends onto arrays bound once per stage,
    and a large file is read in byte ranges by several processes (one per core, at most 4),
    whose per-stage columns are then joined in file order.
    """
    if not path.exists():
        return {}
    with path.open(newline="") as fh:
        header = next(csv.reader(fh), None)
    if header is None:
        return {}
    if tuple(header) != REQUEST_COLUMNS:
        raise RunFolderError(f"'{path}' does not have the expected columns.", "was it written by profiler?")
    size = path.stat().st_size
    if workers is None:
        workers = min(os.cpu_count() or 1, 4) if size >= PARALLEL_MIN_BYTES else 1
    if workers <= 1:
        return _read_range(path, 0, size)
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    bounds = [size * i // workers for i in range(workers + 1)]
    try:
        with ProcessPoolExecutor(workers) as pool:
            parts = list(pool.map(_read_range, [path] * workers, bounds[:-1], bounds[1:]))
    except (OSError, BrokenProcessPool):
        return _read_range(path, 0, size)  # no processes to be had here (e.g. no /dev/shm): one reader
    return _join(parts)


def _lines(path: Path, start: int, end: int) -> Iterator[str]:
    """The lines that begin in [start, end): a range owns the line it starts inside of."""
    with path.open("rb") as fh:
        if start:
            # Skip the rest of the line under way at `start`: it belongs to the previous range.
            # Seeking one byte back makes a line that begins exactly at `start` ours.
            fh.seek(start - 1)
            fh.readline()
        else:
            fh.seek(0)
        pos = fh.tell()
        while pos < end or (start == 0 and pos == 0):
            line = fh.readline()
            if not line:
                return
            pos += len(line)
            yield line.decode("utf-8", "replace")


def _join(parts: list[dict[int, StageRequests]]) -> dict[int, StageRequests]:
    """Concatenate per-stage columns of consecutive file ranges (in order)."""
    out: dict[int, StageRequests] = {}
    for part in parts:
        for idx, src in part.items():
            dst = out.get(idx)
            if dst is None:
                out[idx] = src
                continue
            n_dst, n_src = dst.count, src.count
            for name in src.handoffs.keys() | dst.handoffs.keys():
                mine = dst.handoffs.get(name) or array("d", [_NAN]) * n_dst
                theirs = src.handoffs.get(name) or array("d", [_NAN]) * n_src
                mine.extend(theirs)
                dst.handoffs[name] = mine
            for attr in ("start", "latency", "ttfb", "failed", "server_total", "probe_latency", "probe_start"):
                getattr(dst, attr).extend(getattr(src, attr))
            # Two sorted runs: timsort merges them in linear time.
            dst.latency_sorted = array("d", sorted(dst.latency_sorted + src.latency_sorted))
            dst.ttfb_sorted = array("d", sorted(dst.ttfb_sorted + src.ttfb_sorted))
            dst.unattributed_sorted = array("d", sorted(dst.unattributed_sorted + src.unattributed_sorted))
            for name, values in src.handoffs_sorted.items():
                mine_sorted = dst.handoffs_sorted.get(name, array("d"))
                dst.handoffs_sorted[name] = array("d", sorted(mine_sorted + values))
            dst.timed_count += src.timed_count
            dst.timed_latency_total += src.timed_latency_total
            dst.bytes_total += src.bytes_total
            dst.statuses.update(src.statuses)
            dst.errors.update(src.errors)
            dst.flags.update(src.flags)
            dst.timed += src.timed
            dst.unsent += src.unsent
            dst.malformed_timing += src.malformed_timing
    return out


def _read_range(path: Path, begin: int, stop: int) -> dict[int, StageRequests]:
    stages: dict[int, StageRequests] = {}
    statuses: dict[int, array[int]] = {}
    sizes: dict[int, array[int]] = {}
    reader = csv.reader(_lines(path, begin, stop))
    if begin == 0:
        next(reader, None)  # the header, checked by read_requests
    width = len(REQUEST_COLUMNS)
    current = -1
    sr = StageRequests()
    nan = _NAN
    for row in reader:
        if len(row) != width:
            continue  # a row cut short by a crash
        try:
            stage_idx = int(row[6])
            start = float(row[0])
            latency = float(row[1])
            ttfb = float(row[2])
            status = int(row[3])
        except ValueError:
            continue
        if not (0.0 <= latency < _INF and 0.0 <= ttfb < _INF and start == start):
            continue  # "nan"/"inf" parse as floats but would poison every sort after
        if stage_idx != current:
            current = stage_idx
            sr = stages.get(stage_idx) or stages.setdefault(stage_idx, StageRequests())
            status_col = statuses.setdefault(stage_idx, array("i"))
            size_col = sizes.setdefault(stage_idx, array("q"))
            add_start, add_latency, add_ttfb = sr.start.append, sr.latency.append, sr.ttfb.append
            add_failed, add_total = sr.failed.append, sr.server_total.append
        if row[7] == "probe":
            sr.probe_latency.append(latency)
            sr.probe_start.append(start)
            continue
        error = row[5]
        if error == UNSENT:
            sr.unsent += 1
            sr.errors[error] += 1
            continue
        add_start(start)
        add_latency(latency)
        add_ttfb(ttfb)
        add_failed(1 if (error or status == 0 or status >= 400) else 0)
        status_col.append(status)
        size = row[4]
        size_col.append(int(size) if size.isdigit() else 0)
        if error:
            sr.errors[error] += 1
        if row[8]:
            for letter in row[8]:
                sr.flags[letter] += 1
        timing = row[9]
        if not timing:
            add_total(nan)
            for col in sr.handoffs.values():
                col.append(nan)
            continue
        sr.timed += 1
        durations, malformed = _parse_timing(timing)
        if malformed:
            sr.malformed_timing += malformed
        add_total(durations.pop("total", nan))
        handoffs = sr.handoffs
        if durations.keys() == handoffs.keys():  # the common case: the same marks every time
            for name, col in handoffs.items():
                col.append(durations[name])
            continue
        for name in durations.keys() - handoffs.keys():
            # A handoff first seen mid-stage: NaN for every earlier request of the stage.
            handoffs[name] = array("d", [nan]) * (len(sr.latency) - 1)
        for name, col in handoffs.items():
            col.append(durations.get(name, nan))
    for idx, sr in stages.items():
        sr.statuses.update(Counter(statuses.get(idx, ())))
        sr.bytes_total = sum(sizes.get(idx, ()))
        sr.sort()
        # Imported here: analysis imports this module; doing the per-request pass now puts it
        # in the reader's worker processes, one per core.
        from profiler.analysis.handoffs import derive

        derive(sr)
    return stages


def _stage_windows(
    events: list[dict[str, Any]], requests: dict[int, StageRequests], last_t: float
) -> tuple[StageWindow, ...]:
    starts: dict[int, dict[str, Any]] = {}
    ends: dict[int, dict[str, Any]] = {}
    for ev in events:
        if not isinstance(ev.get("index"), int) or not isinstance(ev.get("t"), (int, float)):
            continue  # not an event this profiler wrote
        (starts if ev.get("event") == "start" else ends)[ev["index"]] = ev
    windows: list[StageWindow] = []
    for idx in sorted(starts):
        s = starts[idx]
        e = ends.get(idx)
        if e is not None:
            end = float(e["t"])
        else:
            # The run stopped inside this stage: it ends at its last request (or last sample).
            sr = requests.get(idx)
            end = max(sr.start) if sr and sr.count else last_t
            end = max(end, float(s["t"]))
        windows.append(
            StageWindow(
                index=idx,
                users=s.get("users"),
                rate=s.get("rate"),
                start=float(s["t"]),
                end=end,
                planned_s=float(s.get("planned_s", 0.0)),
                ended=e is not None,
                stop_reason=e.get("stop_reason") if e else None,
                profiled=bool(s.get("profiled", False)),
            )
        )
    return tuple(windows)


def read_run(folder: Path) -> RunData:
    if not folder.is_dir():
        raise RunFolderError(f"'{folder}' is not a folder.", "give the --out folder of an earlier `profiler run`")
    meta_path = folder / META
    if not meta_path.exists():
        raise RunFolderError(
            f"'{folder}' holds no run (no {META}).", "give the --out folder of an earlier `profiler run`"
        )
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, UnicodeError, json.JSONDecodeError) as e:
        raise RunFolderError(f"cannot read '{meta_path}': {e}.", "the run folder is damaged; run again") from None
    if not isinstance(meta, dict):
        raise RunFolderError(
            f"'{meta_path}' is not a profiler run's metadata.", "give the --out folder of a `profiler run`"
        )
    try:
        requests = read_requests(folder / REQUESTS)
        samples = tuple(x for x in _read_jsonl(folder / SAMPLES) if isinstance(x.get("t"), (int, float)))
        stage_events = _read_jsonl(folder / STAGES)
    except (OSError, UnicodeError, csv.Error) as e:
        raise RunFolderError(
            f"cannot read the run folder '{folder}': {e}.", "check the files' permissions, or run again"
        ) from None
    last_t = float(samples[-1]["t"]) if samples else float(meta.get("started_at", 0.0))
    stages = _stage_windows(stage_events, requests, last_t)
    return RunData(
        folder=folder,
        meta=meta,
        stages=stages,
        requests=requests,
        samples=samples,
        profiles=_read_profiles(folder / PYSPY_DIR),
    )


def _read_profiles(folder: Path) -> dict[int, tuple[str, dict[str, str], str | None]]:
    """stage -> (collapsed stacks, leaf source lines, the --gil half's stacks or None)."""
    out: dict[int, tuple[str, dict[str, str], str | None]] = {}
    if not folder.is_dir():
        return out
    for path in sorted(folder.glob("stage-*.txt")):
        if path.name.endswith(".gil.txt"):
            continue
        try:
            stage = int(path.stem.split("-", 1)[1])
            text = path.read_text(errors="replace")
        except (ValueError, OSError):
            continue
        sources: dict[str, str] = {}
        src = path.with_name(f"{path.stem}.sources.json")
        if src.exists():
            try:
                sources = json.loads(src.read_text())
            except (OSError, json.JSONDecodeError):
                sources = {}
        gil_path = path.with_name(f"{path.stem}.gil.txt")
        try:
            gil = gil_path.read_text(errors="replace") if gil_path.exists() else None
        except OSError:
            gil = None
        out[stage] = (text, sources, gil)
    return out
