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
from array import array
from collections import Counter
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

    @property
    def count(self) -> int:
        return len(self.latency)


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
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut short by a crash: at most the last one
    return out


_NAN = math.nan


def _fast_timing(header: str) -> tuple[dict[str, float], int] | None:
    """The common unquoted case, several times faster than the general parser; None to fall back.

    Anything unusual (quotes, a nameless or odd entry, a bad number) falls back to the general
    parser, so both always agree.
    """
    if '"' in header:
        return None
    out: dict[str, float] = {}
    for entry in header.split(","):
        name, _, params = entry.partition(";")
        name = name.strip()
        if not name:
            if params.strip():
                return None  # a nameless entry: malformed, let the general parser count it
            continue
        if not name.isascii() or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
            return None
        dur: float | None = None
        for param in params.split(";"):
            key, eq, value = param.partition("=")
            if key.strip().lower() != "dur":
                continue
            try:
                dur = float(value) if eq else None
            except ValueError:
                return None
            if dur is None or not (0 <= dur < math.inf):
                return None
        if dur is not None:
            out[name] = out.get(name, 0.0) + dur
    return out, 0


def read_requests(path: Path) -> dict[int, StageRequests]:
    from profiler.servertiming import parse_server_timing

    stages: dict[int, StageRequests] = {}
    if not path.exists():
        return stages
    with path.open(newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            return stages
        if tuple(header) != REQUEST_COLUMNS:
            raise RunFolderError(f"'{path}' does not have the expected columns.", "was it written by profiler?")
        for row in reader:
            if len(row) != len(REQUEST_COLUMNS):
                continue  # a row cut short by a crash
            try:
                stage_idx = int(row[6])
                start = float(row[0])
                latency = float(row[1])
                ttfb = float(row[2])
                status = int(row[3])
            except ValueError:
                continue
            sr = stages.get(stage_idx)
            if sr is None:
                sr = stages[stage_idx] = StageRequests()
            if row[7] == "probe":
                sr.probe_latency.append(latency)
                sr.probe_start.append(start)
                continue
            n = len(sr.latency)
            sr.start.append(start)
            sr.latency.append(latency)
            sr.ttfb.append(ttfb)
            error = row[5]
            failed = bool(error) or status == 0 or status >= 400
            sr.failed.append(1 if failed else 0)
            try:
                sr.bytes_total += int(row[4])
            except ValueError:
                pass
            sr.statuses[status] += 1
            if error:
                sr.errors[error] += 1
            for letter in row[8]:
                sr.flags[letter] += 1
            timing = row[9]
            total = _NAN
            if timing:
                sr.timed += 1
                fast = _fast_timing(timing)
                if fast is None:
                    parsed = parse_server_timing(timing)
                    durations, malformed = parsed.durations, parsed.malformed
                else:
                    durations, malformed = fast
                sr.malformed_timing += malformed
                for name, dur in durations.items():
                    if name == "total":
                        total = dur
                        continue
                    col = sr.handoffs.get(name)
                    if col is None:
                        col = sr.handoffs[name] = array("d", [_NAN]) * n
                    col.append(dur)
            sr.server_total.append(total)
            for col in sr.handoffs.values():
                if len(col) < n + 1:
                    col.append(_NAN)
    return stages


def _stage_windows(
    events: list[dict[str, Any]], requests: dict[int, StageRequests], last_t: float
) -> tuple[StageWindow, ...]:
    starts: dict[int, dict[str, Any]] = {}
    ends: dict[int, dict[str, Any]] = {}
    for ev in events:
        (starts if ev.get("event") == "start" else ends)[int(ev["index"])] = ev
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
    except (OSError, json.JSONDecodeError) as e:
        raise RunFolderError(f"cannot read '{meta_path}': {e}.", "the run folder is damaged; run again") from None
    requests = read_requests(folder / REQUESTS)
    samples = tuple(_read_jsonl(folder / SAMPLES))
    last_t = float(samples[-1]["t"]) if samples else float(meta.get("started_at", 0.0))
    stages = _stage_windows(_read_jsonl(folder / STAGES), requests, last_t)
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
