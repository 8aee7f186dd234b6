"""samples.jsonl through the engine: per-window and whole-run figures of the target's tree, the
load generator and the machine. GPU and RAPL readings stay raw rows for `analysis.devices`."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from numpy.typing import NDArray

from profiler.base.errors import RunFolderError
from profiler.runfolder.engine.read import READ_ERRORS, damaged, read_tolerant
from profiler.runfolder.meta import loads
from profiler.runfolder.records import finite_number

# `busiest`: the target's busiest process where no per-process rows say it (--metrics-url figures).
# The I/O columns are bytes since the sample before (records.TreeSample): a window sums them.
_IO = ("disk_read", "disk_write", "io_read", "io_write")
_TREE = ("cpu", "rss", "threads", "fds", "sockets", "procs", "ctx_vol", "ctx_invol", "busiest", *_IO)
_FLAT = {
    "t": pl.Float64,
    **{k: pl.Float64 for k in _TREE},
    "loadgen_cpu": pl.Float64,
    "loadgen_busiest": pl.Float64,
    "machine_cpu": pl.Float64,
    "machine_steal": pl.Float64,
}
_MAX_PID = 2**62  # larger is no pid, and would not fit the Int64 column
_PROCS = {"t": pl.Float64, "pid": pl.Int64, "cpu": pl.Float64, "rss": pl.Float64, "threads": pl.Float64}
_NDJSON: dict[str, pl.DataType | type[pl.DataType]] = {
    "t": pl.Float64,
    "target": pl.Struct(
        {
            **{k: pl.Float64 for k in _TREE},
            "per_process": pl.List(
                pl.Struct({"pid": pl.Int64, "cpu": pl.Float64, "rss": pl.Float64, "threads": pl.Float64})
            ),
        }
    ),
    "loadgen": pl.Struct({"cpu": pl.Float64, "busiest": pl.Float64}),
    "machine": pl.Struct({"cpu": pl.Float64, "steal": pl.Float64}),
}


@dataclass(frozen=True, slots=True)
class WindowFigures:
    """The samples inside one stage's window (edges included); None where none had the field."""

    cpu_mean: float | None
    cpu_max: float | None
    busiest_cpu: float | None  # mean CPU of the busiest single process of the tree
    rss_max: float | None
    threads_max: float | None
    sockets_max: float | None
    loadgen_cpu_mean: float | None
    machine_cpu_mean: float | None
    loadgen_busiest_mean: float | None = None  # its busiest process (several with --workers)
    machine_steal_mean: float | None = None  # % of all cores' time the hypervisor took
    # Bytes the target's tree moved in the window: disk read/written, all read/write calls.
    disk_read: float | None = None
    disk_write: float | None = None
    io_read: float | None = None
    io_write: float | None = None


@dataclass(frozen=True, slots=True)
class Timeline:
    """The target's tree over time, thinned to at most a few thousand points (for charts)."""

    t: tuple[float, ...]
    cpu: tuple[float | None, ...]  # % of one core
    rss_mb: tuple[float | None, ...]
    threads: tuple[float | None, ...]
    sockets: tuple[float | None, ...]


@dataclass(frozen=True, slots=True)
class ProcessFigures:
    """One process of the target's tree over a window."""

    pid: int
    cpu_mean: float  # % of one core
    threads_max: int | None  # None in folders written before threads were sampled per process


@dataclass(frozen=True, slots=True)
class TreeFigures:
    """The target's tree over the whole run (samples while it had processes)."""

    cpu_mean: float  # the first sample left out: it has no CPU delta yet
    cpu_max: float
    rss_start: float
    rss_end: float
    rss_max: float
    # None: not known (a target seen only through --metrics-url has no threads or sockets figure)
    threads_max: int | None
    fds_max: int | None
    sockets_max: int | None
    processes_max: int
    ctx_vol: int | None
    ctx_invol: int | None


def _pid(v: Any) -> int | None:
    """A process id: an int (format 2) or a dict key of digits (format 1) that fits the column."""
    if isinstance(v, str) and v.isascii() and v.isdigit() and len(v) < 19:
        v = int(v)
    return v if isinstance(v, int) and not isinstance(v, bool) and 0 <= v < _MAX_PID else None


def _section(d: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = d.get(key)
    return value if isinstance(value, Mapping) else {}


def _flatten(lines: Iterable[Mapping[str, Any]]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Format 1 (or a damaged file): the same two tables, built line by line."""
    flat: dict[str, list[float | None]] = {k: [] for k in _FLAT}
    procs: dict[str, list[float | int | None]] = {k: [] for k in _PROCS}
    for d in lines:
        t = finite_number(d.get("t"))
        if t is None:
            continue
        target = _section(d, "target")
        flat["t"].append(t)
        for k in _TREE:
            flat[k].append(finite_number(target.get(k)))
        flat["loadgen_cpu"].append(finite_number(_section(d, "loadgen").get("cpu")))
        flat["loadgen_busiest"].append(finite_number(_section(d, "loadgen").get("busiest")))
        flat["machine_cpu"].append(finite_number(_section(d, "machine").get("cpu")))
        flat["machine_steal"].append(finite_number(_section(d, "machine").get("steal")))
        per = target.get("per_process")
        items = (
            per.items()
            if isinstance(per, Mapping)
            else ((p.get("pid"), p) for p in (per if isinstance(per, list) else ()) if isinstance(p, Mapping))
        )
        for key, p in items:
            if isinstance(p, Mapping) and (pid := _pid(key)) is not None:
                for k, v in (
                    ("t", t),
                    ("pid", pid),
                    ("cpu", finite_number(p.get("cpu"))),
                    ("rss", finite_number(p.get("rss"))),
                    ("threads", finite_number(p.get("threads"))),
                ):
                    procs[k].append(v)
    return pl.DataFrame(flat, schema=_FLAT), pl.DataFrame(procs, schema=_PROCS)


def _finite(frame: pl.DataFrame) -> pl.DataFrame:
    """NaN, infinities (1e400 on disk), negative readings (each is a count, a size or a share) and
    a machine past 100 % of its cores read as missing; a row without a time is no sample."""

    def valid(name: str) -> pl.Expr:
        c = pl.col(name)
        ok = (
            c.is_finite()
            if name == "t"
            else c.is_finite() & c.is_between(0, 100 if name in ("machine_cpu", "machine_steal") else math.inf)
        )
        return pl.when(ok).then(c).alias(name)

    floats = [k for k, dtype in frame.schema.items() if dtype == pl.Float64]
    return frame.with_columns(valid(k) for k in floats).filter(pl.col("t").is_not_null())


def _read_ndjson(source: Path | bytes) -> pl.DataFrame:
    return pl.read_ndjson(source, schema=_NDJSON)


def _from_ndjson(raw: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    target = pl.col("target")
    flat = raw.select(
        "t",
        *(target.struct.field(k).alias(k) for k in _TREE),
        pl.col("loadgen").struct.field("cpu").alias("loadgen_cpu"),
        pl.col("loadgen").struct.field("busiest").alias("loadgen_busiest"),
        pl.col("machine").struct.field("cpu").alias("machine_cpu"),
        pl.col("machine").struct.field("steal").alias("machine_steal"),
    ).filter(pl.col("t").is_not_null())
    procs = (
        raw.select("t", target.struct.field("per_process").alias("p"))
        .explode("p")
        .drop_nulls("p")
        .unnest("p")
        .select(list(_PROCS))
    )
    return flat, procs


class SampleTable:
    def __init__(self, flat: pl.DataFrame, procs: pl.DataFrame, device_rows: tuple[dict[str, Any], ...]) -> None:
        self._flat = _finite(flat).sort("t")
        self._procs = _finite(procs).filter(pl.col("pid").is_between(0, _MAX_PID, closed="left"))
        self.device_rows = device_rows  # samples that carry `gpu` or `rapl_uj`, as written

    @classmethod
    def read(cls, path: Path, format_version: int) -> SampleTable:
        if not path.exists():
            return cls(pl.DataFrame(schema=_FLAT), pl.DataFrame(schema=_PROCS), ())
        # Line by line: an hour's samples.jsonl is tens of MB, which the columnar read below does
        # not need to hold as text (only the few device lines are parsed here).
        devices = tuple(_device_rows(_device_lines(path)))
        if format_version >= 2:
            try:
                return cls(*_from_ndjson(read_tolerant(path, _read_ndjson)), devices)
            except (*READ_ERRORS, RunFolderError):  # the careful path decides
                pass
        try:
            return cls(*_flatten(_json_lines(path.read_bytes().splitlines())), devices)
        except READ_ERRORS as e:  # values no check above foresaw (a polars defect): one line
            raise damaged(path, e) from None

    @property
    def count(self) -> int:
        return self._flat.height

    @property
    def times(self) -> tuple[float, ...]:
        return tuple(self._flat.get_column("t").to_list())

    def last_time(self) -> float | None:
        return float(self._flat.get_column("t").max()) if self.count else None  # type: ignore[arg-type]

    def achieved_interval(self) -> float | None:
        if self.count < 2:
            return None
        return float(self._flat.get_column("t").diff().drop_nulls().quantile(0.5, "linear"))  # type: ignore[arg-type]

    def window(self, start: float, end: float) -> WindowFigures:
        inside = self._flat.filter(pl.col("t").is_between(start, end))
        c = pl.col
        (r,) = inside.select(
            c("cpu").mean().alias("cpu_mean"),
            c("cpu").max().alias("cpu_max"),
            c("rss").max().alias("rss_max"),
            c("threads").max().alias("threads_max"),
            c("sockets").max().alias("sockets_max"),
            c("loadgen_cpu").mean().alias("loadgen_cpu_mean"),
            c("loadgen_busiest").mean().alias("loadgen_busiest_mean"),
            c("machine_cpu").mean().alias("machine_cpu_mean"),
            c("machine_steal").mean().alias("machine_steal_mean"),
            c("busiest").mean().alias("busiest"),
            # A sample's I/O is since the sample before: the first one inside the window counts what
            # came before the stage; the slack of one interval is the price of the sampler's grain.
            *(pl.when(c(k).count() > 0).then(c(k).sum()).alias(k) for k in _IO),
        ).iter_rows(named=True)
        per_pid = self._procs.filter(c("t").is_between(start, end)).group_by("pid").agg(c("cpu").mean())
        tree_busiest = r.pop("busiest")
        busiest = per_pid.get_column("cpu").max() if per_pid.height else tree_busiest
        return WindowFigures(busiest_cpu=finite_number(busiest), **{k: finite_number(v) for k, v in r.items()})

    def cpu_series(self, start: float, end: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """The samples' times and the target tree's CPU (% of one core, over the interval since
        the sample before) in a window: what the per-route CPU fit regresses (analysis/routes.py)."""
        inside = self._flat.filter(pl.col("t").is_between(start, end) & pl.col("cpu").is_not_null())
        return inside.get_column("t").to_numpy().astype(np.float64), inside.get_column("cpu").to_numpy().astype(
            np.float64
        )

    def tree_arrays(self, names: tuple[str, ...]) -> dict[str, NDArray[np.float64]]:
        """The samples' times ("t") and the tree's `names` columns while it had processes, nulls as
        nan: what a WebSocket run's per-connection fits join with the connections held."""
        rows = self._flat.filter(pl.col("procs") > 0).select("t", *names)
        return {c: rows.get_column(c).cast(pl.Float64).fill_null(float("nan")).to_numpy() for c in rows.columns}

    def cpu_values(self, start: float, end: float) -> NDArray[np.float64]:
        """The target tree's CPU (% of one core) of each sample in a window, as `window` reads it:
        what compare resamples (tick-based CPU accounting makes each sample a coarse count)."""
        inside = self._flat.filter(pl.col("t").is_between(start, end)).get_column("cpu").drop_nulls()
        return inside.to_numpy().astype(np.float64)

    def tree(self) -> TreeFigures | None:
        rows = self._flat.filter(pl.col("procs") > 0)
        if rows.height == 0:
            return None
        col = rows.get_column
        cpu = col("cpu").fill_null(0.0).slice(1) if rows.height > 1 else pl.Series([0.0])
        rss = col("rss").fill_null(0.0)

        def top(name: str) -> int | None:
            values = col(name).drop_nulls()
            return int(values.max() or 0) if values.len() else None  # type: ignore[arg-type]

        def delta(name: str) -> int | None:
            values = col(name).drop_nulls()
            return max(0, int(values[-1] - values[0])) if values.len() else None

        return TreeFigures(
            cpu_mean=float(cpu.mean() or 0.0),  # type: ignore[arg-type]
            cpu_max=float(cpu.max() or 0.0),  # type: ignore[arg-type]
            rss_start=float(rss[0]),
            rss_end=float(rss[-1]),
            rss_max=float(rss.max() or 0.0),  # type: ignore[arg-type]
            threads_max=top("threads"),
            fds_max=top("fds"),
            sockets_max=top("sockets"),
            processes_max=top("procs") or 0,
            ctx_vol=delta("ctx_vol"),
            ctx_invol=delta("ctx_invol"),
        )

    def processes(self, start: float | None = None, end: float | None = None) -> tuple[ProcessFigures, ...]:
        """Each process of the tree (inside the window when given), busiest first."""
        c = pl.col
        rows = self._procs if start is None or end is None else self._procs.filter(c("t").is_between(start, end))
        per_pid = (
            rows.group_by("pid").agg(c("cpu").mean(), c("threads").max()).sort(["cpu", "pid"], descending=[True, False])
        )
        return tuple(
            ProcessFigures(int(pid), float(cpu or 0.0), int(th) if th is not None else None)
            for pid, cpu, th in per_pid.select("pid", "cpu", "threads").iter_rows()
        )

    def rss_series(self) -> tuple[tuple[float, float], ...]:
        """(time, resident bytes) of the target while it had processes."""
        rows = self._flat.filter(pl.col("procs") > 0).select("t", pl.col("rss").fill_null(0.0))
        return tuple((float(t), float(r)) for t, r in rows.iter_rows())

    def timeline(self, max_points: int = 2000) -> Timeline:
        """Every k-th sample of the tree while it had processes, k chosen to keep `max_points`."""
        rows = self._flat.filter(pl.col("procs") > 0)
        step = max(1, -(-rows.height // max_points))
        rows = rows.gather_every(step).select("t", "cpu", (pl.col("rss") / 2**20).alias("rss"), "threads", "sockets")
        cols = {name: tuple(finite_number(v) for v in rows.get_column(name).to_list()) for name in rows.columns}
        times = tuple(float(t) for t in rows.get_column("t").to_list())
        return Timeline(times, cols["cpu"], cols["rss"], cols["threads"], cols["sockets"])

    def processes_max(self) -> int:
        procs = self._flat.get_column("procs").drop_nulls()
        return int(procs.max()) if procs.len() else 1  # type: ignore[arg-type]

    def column_max(self, name: str) -> float | None:
        """Highest value of `loadgen_cpu` or `machine_cpu` over the run."""
        return finite_number(self._flat.get_column(name).max())


def _device_lines(path: Path) -> Iterable[bytes]:
    with path.open("rb") as lines:
        yield from (line for line in lines if b'"gpu"' in line or b'"rapl_uj"' in line)


def _json_lines(lines: Iterable[bytes]) -> Iterable[dict[str, Any]]:
    for line in lines:
        try:
            value = loads(line)
        except (ValueError, RecursionError):
            continue  # a line cut short by a crash (at most the last one), or garbage
        if isinstance(value, dict):
            yield value


def _device_rows(lines: Iterable[bytes]) -> Iterable[dict[str, Any]]:
    for d in _json_lines(lines):
        if finite_number(d.get("t")) is not None and ("gpu" in d or "rapl_uj" in d):
            row: dict[str, Any] = {"t": d["t"]}
            if "gpu" in d:
                gpu = d["gpu"]
                row["gpu"] = [_readings(g) for g in gpu] if isinstance(gpu, list) else gpu
            if "rapl_uj" in d:
                row["rapl_uj"] = _readings(d["rapl_uj"])
            yield row


def _readings(value: Any) -> Any:
    """A GPU's row, or the RAPL counters, without damaged readings: negative, or a utilisation
    past 100 % (what is left is `analysis.devices`'s to read, as written)."""
    if not isinstance(value, Mapping):
        return value
    return {
        k: v
        for k, v in value.items()
        if (n := finite_number(v)) is None or (n >= 0 and not (str(k).startswith("util") and n > 100))
    }
