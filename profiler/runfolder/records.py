"""Typed records of requests.csv and stages.jsonl, and py-spy's output per stage.

requests.csv (format 4) has one row per request, with its route (method and name) and its bytes
and cache columns. Server-Timing is stored parsed: the app's `total` entry (else the sum of its
entries) as `server_ms`, each named handoff's duration in one of HANDOFF_SLOTS columns `h0..h7`
(slots named in handoffs.jsonl), names beyond them in `h_other` as `name=dur;...` (at most
OTHER_ENTRIES: a row has a size bound); the raw header only where part of it did not parse, cut to
RAW_TIMING_LIMIT. Format 3 had no bytes and cache columns, format 2 no routes (the reader gives
those rows the run's one URL); format 1 (profiler 0.1) only the raw Server-Timing header.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, TypeGuard

if TYPE_CHECKING:  # threadcpu reads its numbers with finite_number below
    from profiler.runfolder.threadcpu import ThreadCpuTimes

REQUEST_COLUMNS_V1 = (
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
HANDOFF_SLOTS = 8
SLOT_COLUMNS = tuple(f"h{i}" for i in range(HANDOFF_SLOTS))
REQUEST_COLUMNS = (
    "start",  # epoch s; the intended arrival time in the open model
    "latency_ms",  # request sent (or intended) to last byte read
    "ttfb_ms",
    "status",  # 0 = no response
    "bytes",
    "error",  # "" when the request succeeded
    "stage",  # the stage it was sent in
    "kind",  # KIND_MAIN or KIND_PROBE
    "flags",  # FLAG_* letters
    "server_ms",  # the server's own time from Server-Timing, "" when it reported none
    "timing_malformed",  # Server-Timing entries that could not be parsed
    *SLOT_COLUMNS,
    "h_other",
    "server_timing",  # the raw header when part of it was malformed, cut to RAW_TIMING_LIMIT
)
# Format 3 adds the route of each request, as Locust names it: its method and its name (the
# path, or the `name=` a locustfile groups URLs under), so every figure can be had per route.
ROUTE_COLUMNS = ("method", "name")
# ... and of a streamed response (chunked or text/event-stream), read as it arrived
# (load/stream.py): ms from the send to its first chunk (an event, for SSE), the chunks, the
# gaps between them, and for OpenAI-style streams the first token, the tokens and the
# inter-token latency. Empty for a response that was not streamed.
STREAM_COLUMNS = (
    "first_chunk_ms",
    "chunks",
    "gap_p50_ms",
    "gap_p95_ms",
    "gap_max_ms",
    "first_token_ms",
    "tokens",
    "itl_ms",
)
# Format 4: the request body's size as sent, a key identical requests share (CRC-32 of method, URL,
# body), one identical answers share (of a body read whole), the cache's verdict (a CACHE_* word).
CACHE_COLUMNS = ("req_bytes", "req_key", "body_crc", "cache_status")
REQUEST_COLUMNS_V2 = REQUEST_COLUMNS
REQUEST_COLUMNS_V3 = (*REQUEST_COLUMNS_V2, *ROUTE_COLUMNS, *STREAM_COLUMNS)
REQUEST_COLUMNS = (*REQUEST_COLUMNS_V3, *CACHE_COLUMNS)
# A cache's verdict (X-Cache "HIT from ...", CF-Cache-Status "EXPIRED"), said in one of these words.
CACHE_HIT, CACHE_MISS, CACHE_STALE, CACHE_BYPASS, CACHE_OTHER = "hit", "miss", "stale", "bypass", "other"
ROUTE_NAME_LIMIT = 200  # characters of a route's name kept: a name is a label, not a payload
RAW_TIMING_LIMIT = 512
MAX_COUNT = 2**53  # a count past this was not written by us (and no float holds it exactly)
OTHER_ENTRIES = 32  # entries kept in h_other per row; the rest of a flood of names is dropped
NAME_LIMIT = 64  # characters of a handoff name kept
SERVER_TOTAL = "total"  # the entry by which an app reports its whole server time

KIND_MAIN, KIND_PROBE = "main", "probe"
# flags: letters for what the analysis needs but a status code cannot show
FLAG_COOKIE, FLAG_CHUNKED, FLAG_EVENT_STREAM, FLAG_TIMED = "c", "t", "e", "s"  # s: carried Server-Timing
FLAG_CACHE_HEADERS = "h"  # the response said how it may be cached: Cache-Control, ETag, Last-Modified or Expires
# The error of an open-model arrival the generator could not send (all its slots busy): the
# generator's failure, kept apart from the app's errors and never a latency (it has none).
UNSENT = "GeneratorSaturated"
# The error of a request still in flight when the run ended (past the worker's drain time): kept
# with the time it had waited so far, so the slowest requests of an overloaded target never vanish.
UNFINISHED = "Unfinished"
# The error of a response whose body broke off before its end (the connection closed or reset mid-body).
BODY_CUT = "BodyCut"


# What went wrong with a request, by kind, past timeouts (`timed_out`): the first matching rule
# names it. Error names are the exception names the worker records (or one of the constants above).
ERROR_KINDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("unsent", (UNSENT.lower(),)),
    ("cut-short", (UNFINISHED.lower(),)),  # still in flight when the run (or a hung stage) ended
    ("body-cut", (BODY_CUT.lower(),)),
    ("refused", ("refused",)),
    ("reset", ("reset", "brokenpipe", "aborted", "remotedisconnected", "eof")),
    ("dns", ("gaierror", "nameresolution")),
    ("tls", ("ssl",)),
    ("protocol", ("parse", "protocol", "invalid", "badstatus", "header")),
)


def failed(status: int, error: str) -> bool:
    """The one definition of a failed request: an error, no response, or HTTP >= 400."""
    return bool(error) or status == 0 or status >= 400


def timed_out(error: str) -> bool:
    """The one definition of a timeout: an error named for one. The worker records the socket's
    (`TimeoutError`) or gevent's (`Timeout`); other clients' names (`ReadTimeout`) read the same."""
    return "timeout" in error.lower()


def error_kind(error: str, status: int = 0) -> str:
    """The kind of a failed request's error (an exception name, "HTTP 503", or a constant above):
    "http-4xx", "http-5xx", one of ERROR_KINDS, or "other" (its name is kept in the row)."""
    if error.startswith("HTTP "):
        code = error[5:].strip()
        return "http-5xx" if code.startswith("5") else "http-4xx"
    if not error and status >= 400:
        return "http-5xx" if status >= 500 else "http-4xx"
    if timed_out(error):
        return "timeout"
    low = error.lower()
    return next((kind for kind, words in ERROR_KINDS if any(w in low for w in words)), "other")


@dataclass
class HandoffSlots:
    """Which column holds which handoff name; a name keeps its slot for the whole run."""

    slots: dict[str, int] = field(default_factory=dict)

    def slot(self, name: str) -> int | None:
        """The slot of `name`, assigning the next free one; None when all are taken."""
        found = self.slots.get(name)
        if found is None and len(self.slots) < HANDOFF_SLOTS:
            found = self.slots[name] = len(self.slots)
        return found

    @staticmethod
    def line(name: str, slot: int) -> str:
        return json.dumps({"slot": slot, "name": name}) + "\n"

    @classmethod
    def parse(cls, lines: list[dict[str, Any]]) -> HandoffSlots:
        slots = {
            str(d["name"]): int(d["slot"])
            for d in lines
            if isinstance(d.get("slot"), int) and 0 <= d["slot"] < HANDOFF_SLOTS and isinstance(d.get("name"), str)
        }
        return cls(slots)


@dataclass(frozen=True, slots=True)
class StageStart:
    index: int
    users: int | None
    rate: float | None
    t: float
    planned_s: float
    profiled: bool = False

    def line(self) -> str:
        return json.dumps({"event": "start", **asdict(self)}) + "\n"


@dataclass(frozen=True, slots=True)
class StageEnd:
    index: int
    t: float
    requests: int
    stop_reason: str | None = None
    # Open model: requests still in flight as the stage ended (the generator's pool), which finish
    # in the next stage's window; None in the closed model and in folders written before it.
    in_flight: int | None = None
    # Main requests started in the stage, each to be on disk once: the accounting invariant's count.
    # None in folders written before it.
    started: int | None = None
    # Why the stage ended before its planned length (the run was interrupted, the target hung, the
    # request limit): its figures are not a whole stage and never feed capacity. None: it ran whole.
    cut_short: str | None = None

    def line(self) -> str:
        return json.dumps({"event": "end", **asdict(self)}) + "\n"


@dataclass(frozen=True, slots=True)
class Hang:
    """The target stopped answering: nothing came back for `silent_s` while `waiting` requests were
    in flight. `t` is when the last answer came, so the hang began then, in stage `stage`."""

    stage: int
    t: float
    silent_s: float
    waiting: int

    def line(self) -> str:
        return json.dumps({"event": "hang", **asdict(self)}) + "\n"


@dataclass(frozen=True, slots=True)
class Finish:
    """The load generator's last line: every request it started, and how many rows it wrote.
    Absent when it was killed; then requests in flight at that moment may be missing."""

    t: float
    started: int  # main requests
    written: int  # main request rows handed to the file (a full disk can still lose them)
    write_error: str | None = None

    def line(self) -> str:
        return json.dumps({"event": "finish", **asdict(self)}) + "\n"


def finite_number(value: Any) -> float | None:
    """A finite number, or None (a bool, a string, NaN, or an int past any float is not one)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _count(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COUNT


StageEvent = StageStart | StageEnd | Hang | Finish


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _parse_start(d: dict[str, Any], index: int, t: float) -> StageStart:
    users = d.get("users")
    return StageStart(
        index=index,
        users=users if _count(users) and users > 0 else None,
        rate=finite_number(d.get("rate")),
        t=t,
        planned_s=finite_number(d.get("planned_s")) or 0.0,
        profiled=d.get("profiled") is True,
    )


def _parse_end(d: dict[str, Any], index: int, t: float) -> StageEnd:
    requests, in_flight, started = d.get("requests"), d.get("in_flight"), d.get("started")
    return StageEnd(
        index=index,
        t=t,
        requests=requests if _count(requests) else 0,
        stop_reason=_str(d.get("stop_reason")),
        in_flight=in_flight if _count(in_flight) else None,
        started=started if _count(started) else None,
        cut_short=_str(d.get("cut_short")),
    )


def parse_stage_event(d: dict[str, Any]) -> StageEvent | None:
    """A stages.jsonl line, or None for a line this profiler did not write (or a damaged one)."""
    t = finite_number(d.get("t"))
    if t is None:
        return None
    event = d.get("event")
    if event == "finish":
        started, written = d.get("started"), d.get("written")
        if not (_count(started) and _count(written)):
            return None
        return Finish(t, started, written, _str(d.get("write_error")))
    index = d.get("stage") if event == "hang" else d.get("index")
    if not _count(index):
        return None
    if event == "hang":
        waiting = d.get("waiting")
        return Hang(index, t, finite_number(d.get("silent_s")) or 0.0, waiting if _count(waiting) else 0)
    return _parse_start(d, index, t) if event == "start" else _parse_end(d, index, t)


@dataclass(frozen=True, slots=True)
class StageProfile:
    """What py-spy left for one profiled stage: the raw collapsed stacks, the source line of each
    leaf frame (`file:line` -> text, saved at record time), the --gil half's stacks if taken, and
    each thread's CPU time over the recording where /proc told it."""

    stacks: str
    sources: dict[str, str]
    gil_stacks: str | None = None
    thread_cpu: ThreadCpuTimes | None = None


@dataclass(slots=True)
class ProcessSample:
    pid: int
    cpu: float  # % of one core
    rss: int  # bytes
    threads: int | None = None  # absent before profiler 0.3


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    """A process of the target's tree as the sampler first saw it: one line of processes.jsonl.
    What tells the serving shape apart (a gunicorn master and its workers, uvicorn's spawned
    workers, a model server's helpers) is in the names and command lines, which are gone once
    the target stops, so they are kept. Secrets in the command line are masked before writing."""

    pid: int
    ppid: int
    name: str
    exe: str
    cmdline: tuple[str, ...]
    t: float  # first seen, epoch seconds

    def line(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":")) + "\n"

    @classmethod
    def parse(cls, d: dict[str, Any]) -> ProcessInfo | None:
        """A processes.jsonl line, or None for a damaged one."""
        pid, ppid, cmd = d.get("pid"), d.get("ppid"), d.get("cmdline")
        if not isinstance(pid, int) or not isinstance(ppid, int) or not isinstance(cmd, list):
            return None
        return cls(pid, ppid, str(d.get("name") or ""), str(d.get("exe") or ""), tuple(map(str, cmd)),
                   finite_number(d.get("t")) or 0.0)  # fmt: skip


@dataclass(slots=True)
class TreeSample:
    """A process tree at one tick; the detail fields only for the target."""

    cpu: float  # % of one core, as `top` shows it (200 = two cores busy)
    rss: int
    threads: int
    procs: int
    fds: int | None = None
    sockets: int | None = None
    ctx_vol: int | None = None
    ctx_invol: int | None = None
    per_process: list[ProcessSample] | None = None
    busiest: float | None = None  # its busiest single process, % of one core (the load generator's)
    # Bytes since the last sample, summed over the tree (/proc/PID/io): disk, and all read/write calls.
    disk_read: int | None = None
    disk_write: int | None = None
    io_read: int | None = None
    io_write: int | None = None


@dataclass(slots=True)
class MetricsTree:
    """The target as the expositions show it, in the place of the process tree in samples.jsonl.
    `procs` counts the sources that stand in for it; `source` says which kind: "process" (the
    exposing processes' own figures) or "host" (node exporter's, the whole machine)."""

    cpu: float | None
    rss: int | None
    procs: int
    source: str
    fds: int | None = None
    threads: int | None = None
    busiest: float | None = None  # its busiest process (each exposing process is one), % of one core


@dataclass(slots=True)
class MachineSample:
    cpu: float  # % of all cores
    steal: float
    ncpu: int


@dataclass(slots=True)
class Sample:
    """One line of samples.jsonl (format 2: `per_process` a list of {pid, cpu, rss, threads})."""

    t: float
    # None: the target is not on this machine and no --metrics-url figure stands for it (not known,
    # never zero); a MetricsTree (sampling/metrics.py) where one does.
    target: TreeSample | MetricsTree | None
    loadgen: TreeSample
    machine: MachineSample
    gpu: list[dict[str, object]] | None = None
    rapl_uj: dict[str, int] | None = None

    def line(self) -> str:
        data = {k: v for k, v in asdict(self).items() if v is not None}
        for part in ("target", "loadgen"):
            if part in data:
                data[part] = {k: v for k, v in data[part].items() if v is not None}
        return json.dumps(data, separators=(",", ":")) + "\n"
