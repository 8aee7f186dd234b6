"""Prometheus expositions read during the run (`--metrics-url`), for a target whose processes are
not on this machine (or a GPU that NVML here cannot see).

Each URL is read once a second by its own thread of the sampler process (a slow exporter delays
only its own readings). The standard names are mapped (the tables below) and everything else is
dropped: a reading is the few figures the analysis already knows, on the same clock as the
process sampler's. Counters (CPU seconds) become rates between two readings; a reading older
than STALE_AFTER_S stands for nothing, so a dead exporter reads as "not known", never as idle.
Every reading, failed ones included, is one line of metrics.jsonl.

prometheus_client's parser is used here and nowhere else (ruff's banned-api).
"""

from __future__ import annotations

import base64
import json
import math
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

from prometheus_client.parser import text_string_to_metric_families

from profiler.base.errors import ConfigError, SamplerUnavailable
from profiler.base.secrets import mask_url
from profiler.runfolder.records import MetricsTree

METRICS_ENV = "PROFILER_METRICS_URLS"  # the sampler's URLs, a JSON list (argv would show credentials)
SCRAPE_INTERVAL_S = 1.0
SCRAPE_TIMEOUT_S = 2.0
STALE_AFTER_S = 3.0  # three missed readings: the figures are no longer known
MAX_BYTES = 16 * 2**20  # a node exporter's page is ~300 kB; past this it is no exposition we read

# A process exposition (prometheus_client's default collector, Go's client, most exporters):
# sample name -> field of Reading. Several series of one name (a multiprocess app) are summed.
PROCESS_NAMES = {
    "process_cpu_seconds_total": "cpu_s",
    "process_resident_memory_bytes": "rss",
    "process_open_fds": "fds",
    "go_threads": "threads",
}
# GPU exporters: sample name -> (field of a GPU row in NVML's shape, factor to its unit).
# DCGM exporter reports memory in MiB and energy in mJ; nvidia_gpu_exporter utilisation as a ratio.
GPU_NAMES: dict[str, tuple[str, float]] = {
    "DCGM_FI_DEV_GPU_UTIL": ("util_gpu", 1.0),
    "DCGM_FI_DEV_MEM_COPY_UTIL": ("util_mem", 1.0),
    "DCGM_FI_DEV_FB_USED": ("mem_used", 2.0**20),
    "DCGM_FI_DEV_FB_FREE": ("mem_free", 2.0**20),
    "DCGM_FI_DEV_POWER_USAGE": ("power_w", 1.0),
    "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION": ("energy_mj", 1.0),
    "nvidia_smi_utilization_gpu_ratio": ("util_gpu", 100.0),
    "nvidia_smi_utilization_memory_ratio": ("util_mem", 100.0),
    "nvidia_smi_memory_used_bytes": ("mem_used", 1.0),
    "nvidia_smi_memory_total_bytes": ("mem_total", 1.0),
    "nvidia_smi_power_draw_watts": ("power_w", 1.0),
}
GPU_LABELS = ("gpu", "minor_number", "uuid")  # what names the device, first found
# node exporter: the whole host, used for the target only where no process figures are exposed.
HOST_CPU = "node_cpu_seconds_total"
HOST_IDLE_MODES = frozenset({"idle", "iowait"})
HOST_MEM_TOTAL, HOST_MEM_AVAILABLE = "node_memory_MemTotal_bytes", "node_memory_MemAvailable_bytes"


@dataclass(frozen=True, slots=True)
class Reading:
    """One reading of one exposition: one line of metrics.jsonl (None: not in the exposition)."""

    t: float
    source: int  # index of the --metrics-url
    cpu_s: float | None = None
    rss: float | None = None
    fds: float | None = None
    threads: float | None = None
    host_busy_s: float | None = None
    host_total_s: float | None = None
    host_ncpu: int | None = None
    host_mem_used: float | None = None
    gpus: tuple[dict[str, float | int | None], ...] = ()
    error: str | None = None

    @property
    def kinds(self) -> tuple[str, ...]:
        """What it holds, in words: "process", "host", "gpu"."""
        found = (
            ("process", self.cpu_s is not None or self.rss is not None),
            ("host", self.host_total_s is not None or self.host_mem_used is not None),
            ("gpu", bool(self.gpus)),
        )
        return tuple(name for name, present in found if present)

    def line(self) -> str:
        data = {k: v for k, v in asdict(self).items() if v is not None and v != ()}
        return json.dumps(data, separators=(",", ":")) + "\n"


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) and value >= 0 else None


def _add(total: float | None, value: float | None) -> float | None:
    return value if total is None else total if value is None else total + value


def parse_exposition(text: str, t: float, source: int) -> Reading:
    """The mapped figures of one exposition (Prometheus text format). ValueError when it is not one."""
    proc: dict[str, float | None] = dict.fromkeys(PROCESS_NAMES.values())
    gpus: dict[str, dict[str, float | None]] = {}
    busy = total = mem_total = mem_available = None
    cpus: set[str] = set()
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            value = _finite(float(s.value))
            if s.name in PROCESS_NAMES:
                proc[PROCESS_NAMES[s.name]] = _add(proc[PROCESS_NAMES[s.name]], value)
            elif s.name in GPU_NAMES:
                key = next((s.labels[k] for k in GPU_LABELS if k in s.labels), "0")
                name, factor = GPU_NAMES[s.name]
                gpus.setdefault(key, {})[name] = value * factor if value is not None else None
            elif s.name == HOST_CPU:
                cpus.add(s.labels.get("cpu", ""))
                total = _add(total, value)
                if s.labels.get("mode") not in HOST_IDLE_MODES:
                    busy = _add(busy, value)
            elif s.name == HOST_MEM_TOTAL:
                mem_total = value
            elif s.name == HOST_MEM_AVAILABLE:
                mem_available = value
    mem_used = mem_total - mem_available if mem_total is not None and mem_available is not None else None
    return Reading(
        t=t,
        source=source,
        cpu_s=proc["cpu_s"],
        rss=proc["rss"],
        fds=proc["fds"],
        threads=proc["threads"],
        host_busy_s=busy,
        host_total_s=total,
        host_ncpu=len(cpus) or None,
        host_mem_used=mem_used,
        gpus=tuple(_gpu_row(i, key, row) for i, (key, row) in enumerate(sorted(gpus.items(), key=_device_key))),
    )


def _device_key(item: tuple[str, object]) -> tuple[int, str]:
    key = item[0]
    return (int(key), key) if key.isdigit() else (1 << 30, key)


def _gpu_row(position: int, key: str, row: dict[str, float | None]) -> dict[str, float | int | None]:
    """A GPU as NVML's sampler writes it (analysis/devices.py reads both the same way)."""
    used, free = row.get("mem_used"), row.pop("mem_free", None)
    if row.get("mem_total") is None and used is not None and free is not None:
        row["mem_total"] = used + free
    energy = row.get("energy_mj")
    return {
        "index": int(key) if key.isdigit() else position,
        "mig_index": None,
        **row,
        "energy_mj": int(energy) if energy is not None else None,
        "proc_mem": None,  # an exporter does not say which process holds the memory
        "proc_count": None,
    }


@dataclass(frozen=True, slots=True)
class Figures:
    """What one source says at one time, counters made into rates against its previous reading."""

    t: float
    cpu_pct: float | None  # the exposing process(es), % of one core
    rss: float | None
    fds: float | None
    threads: float | None
    host_cpu_pct: float | None  # the whole host, % of one core (400 = four cores busy)
    host_mem_used: float | None
    gpus: tuple[dict[str, float | int | None], ...]


def _rate(new: float | None, old: float | None, dt: float) -> float | None:
    """A counter's rate between two readings; None across a reset (the exporter restarted)."""
    if new is None or old is None or dt <= 0 or new < old:
        return None
    return new - old


def figures(reading: Reading, previous: Reading | None) -> Figures:
    dt = reading.t - previous.t if previous is not None else 0.0
    cpu = _rate(reading.cpu_s, previous.cpu_s if previous else None, dt)
    busy = _rate(reading.host_busy_s, previous.host_busy_s if previous else None, dt)
    total = _rate(reading.host_total_s, previous.host_total_s if previous else None, dt)
    host = busy / total * 100.0 * (reading.host_ncpu or 1) if busy is not None and total else None
    return Figures(
        t=reading.t,
        cpu_pct=cpu / dt * 100.0 if cpu is not None else None,
        rss=reading.rss,
        fds=reading.fds,
        threads=reading.threads,
        host_cpu_pct=host,
        host_mem_used=reading.host_mem_used,
        gpus=reading.gpus,
    )


def _sum(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def _int(value: float | None) -> int | None:
    return int(value) if value is not None else None


def combine(latest: Iterable[Figures], now: float) -> MetricsTree | None:
    """The target from every source's latest figures: the processes' where any source exposes
    them, else the host's; None when no fresh figure is left (a dead exporter is not an idle target)."""
    fresh = [f for f in latest if now - f.t <= STALE_AFTER_S]
    process = [f for f in fresh if f.cpu_pct is not None or f.rss is not None]
    if process:
        return MetricsTree(
            cpu=_round(_sum(f.cpu_pct for f in process)),
            rss=_int(_sum(f.rss for f in process)),
            procs=len(process),
            source="process",
            fds=_int(_sum(f.fds for f in process)),
            threads=_int(_sum(f.threads for f in process)),
            busiest=_round(max((f.cpu_pct for f in process if f.cpu_pct is not None), default=None)),
        )
    host = [f for f in fresh if f.host_cpu_pct is not None or f.host_mem_used is not None]
    if host:
        return MetricsTree(
            cpu=_round(_sum(f.host_cpu_pct for f in host)),
            rss=_int(_sum(f.host_mem_used for f in host)),
            procs=len(host),
            source="host",
        )
    return None


def _round(value: float | None) -> float | None:
    return round(value, 2) if value is not None else None


def _request(url: str) -> urllib.request.Request:
    """A GET for the exposition; credentials in the URL go in an Authorization header."""
    parts = urlsplit(url)
    headers = {"Accept": "text/plain;version=0.0.4", "User-Agent": "profiler-metrics"}
    if parts.username is not None:
        pair = f"{parts.username}:{parts.password or ''}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        host = parts.hostname or ""
        netloc = f"[{host}]" if ":" in host else host
        url = urlunsplit(parts._replace(netloc=netloc + (f":{parts.port}" if parts.port else "")))
    return urllib.request.Request(url, headers=headers)


def read_exposition(url: str, source: int, timeout_s: float = SCRAPE_TIMEOUT_S) -> Reading:
    """One reading of `url`; SamplerUnavailable, in words, when it cannot be had."""
    t = time.time()
    try:
        with urllib.request.urlopen(_request(url), timeout=timeout_s) as response:  # noqa: S310 (http(s) checked)
            body = response.read(MAX_BYTES + 1)
    except urllib.error.HTTPError as e:
        raise SamplerUnavailable(f"{mask_url(url)} answered HTTP {e.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", None) or e
        raise SamplerUnavailable(f"{mask_url(url)} could not be read ({reason})") from None
    if len(body) > MAX_BYTES:
        raise SamplerUnavailable(f"{mask_url(url)} sent more than {MAX_BYTES // 2**20} MiB: not an exposition")
    try:
        return parse_exposition(body.decode("utf-8", errors="replace"), t, source)
    except (ValueError, TypeError, IndexError, KeyError) as e:
        raise SamplerUnavailable(f"{mask_url(url)} is not a Prometheus exposition ({e})") from None


@dataclass
class SourceState:
    """One URL's reader: its latest figures and how its readings went."""

    url: str
    index: int
    previous: Reading | None = None
    latest: Figures | None = None
    readings: int = 0
    failures: int = 0
    last_error: str | None = None
    kinds: set[str] = field(default_factory=set)

    def take(self, reading: Reading) -> None:
        self.latest = figures(reading, self.previous)
        self.previous = reading
        self.readings += 1
        self.kinds.update(reading.kinds)

    def fail(self, error: str) -> None:
        self.failures += 1
        self.last_error = error


class MetricsPoller:
    """A thread per URL reads it every SCRAPE_INTERVAL_S and writes each reading to `out`."""

    def __init__(self, urls: Iterable[str], out: Path, clock: Callable[[], float] = time.time) -> None:
        self.sources = [SourceState(url, i) for i, url in enumerate(urls)]
        self.out: IO[str] = out.open("a", buffering=1)  # line-buffered: each reading on disk as read
        self.clock = clock
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._poll, args=(s,), daemon=True) for s in self.sources]

    def start(self) -> MetricsPoller:
        for thread in self.threads:
            thread.start()
        return self

    def _poll(self, source: SourceState) -> None:
        while not self.stopping.is_set():
            began = time.monotonic()
            try:
                reading = read_exposition(source.url, source.index)
            except SamplerUnavailable as e:
                reading = Reading(t=self.clock(), source=source.index, error=str(e))
            with self.lock:
                if self.out.closed:
                    return
                source.fail(reading.error) if reading.error else source.take(reading)
                self.out.write(reading.line())
            self.stopping.wait(max(0.0, SCRAPE_INTERVAL_S - (time.monotonic() - began)))

    def tree(self) -> MetricsTree | None:
        with self.lock:
            return combine((s.latest for s in self.sources if s.latest is not None), self.clock())

    def gpus(self) -> list[dict[str, Any]] | None:
        """The GPUs the fresh sources expose, in NVML's shape; None when none does."""
        now = self.clock()
        with self.lock:
            rows = [
                dict(g)
                for s in self.sources
                if s.latest is not None and now - s.latest.t <= STALE_AFTER_S
                for g in s.latest.gpus
            ]
        return rows or None

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=SCRAPE_TIMEOUT_S + 1.0)
        with self.lock:
            self.out.close()


def urls_from_env() -> list[str]:
    raw = os.environ.get(METRICS_ENV)
    urls = json.loads(raw) if raw else []
    return [u for u in urls if isinstance(u, str)] if isinstance(urls, list) else []


def check_sources(urls: Iterable[str]) -> list[str]:
    """Read each URL once before the run: a ConfigError for one that cannot be read (a wrong
    --metrics-url is the user's to fix, before any load); the notices of those that hold nothing
    the profiler maps (they stand in for nothing)."""
    notices = []
    for i, url in enumerate(urls):
        try:
            reading = read_exposition(url, i)
        except SamplerUnavailable as e:
            raise ConfigError(
                f"--metrics-url: {e}.", "check that the exporter runs and the URL is its /metrics"
            ) from None
        if not reading.kinds:
            notices.append(
                f"--metrics-url {mask_url(url)} exposes none of the figures the profiler maps (process CPU and "
                "memory, node exporter's host CPU and memory, DCGM or nvidia-smi GPU figures): it stands in for nothing."
            )
    return notices
