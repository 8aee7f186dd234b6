"""The process sampler: a plain subprocess that never imports Locust.

Run as `python -m profiler.sampling.process ...` by `profiler.sampling.launcher`. Real threads
next to gevent starve for the GIL when Locust is busy; a separate process keeps a steady
interval. Every tick it writes one `profiler.runfolder.records.Sample` as a JSON line to
samples.jsonl: the target's tree (CPU, RSS, threads, fds, sockets, context switches, each
process), the load generator, the machine, and GPU and RAPL readings where they can be had.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any

import psutil

from profiler.base.errors import SamplerUnavailable
from profiler.base.secrets import mask_url
from profiler.runfolder.meta import GpuInfo, MetricsSourceInfo, RaplInfo, SamplerInfo
from profiler.runfolder.records import MachineSample, ProcessSample, Sample, TreeSample
from profiler.sampling.cpulimit import cpu_limit
from profiler.sampling.metrics import MetricsPoller, urls_from_env
from profiler.sampling.trees import Trees

FLUSH_EVERY_S = 0.5


def count_sockets(pid: int) -> tuple[int, int]:
    """(open fds, of which sockets) by reading /proc/PID/fd links: ~100x cheaper than net_connections()."""
    fd_dir = f"/proc/{pid}/fd"
    try:
        names = os.listdir(fd_dir)
    except OSError:
        return 0, 0
    sockets = 0
    for name in names:
        try:
            if os.readlink(f"{fd_dir}/{name}").startswith("socket:"):
                sockets += 1
        except OSError:
            continue
    return len(names), sockets


class TreeSampler:
    """CPU% by delta of cpu_times between ticks; Process objects cached (creating them is costly)."""

    def __init__(self) -> None:
        self.procs: dict[int, psutil.Process] = {}
        self.last_cpu: dict[int, float] = {}
        # Each process's I/O counters at the last tick: a tick records what each process did since,
        # summed over the tree, so a process that starts or ends never reads as negative I/O.
        self.last_io: dict[int, tuple[int, int, int, int]] = {}

    def _read(self, pid: int, detail: bool) -> tuple[float, int, int, Any, tuple[int, int, int, int] | None] | None:
        proc = self.procs.get(pid)
        try:
            if proc is None:
                proc = self.procs[pid] = psutil.Process(pid)
            with proc.oneshot():
                ct = proc.cpu_times()
                ctx = proc.num_ctx_switches() if detail else None
                return ct.user + ct.system, proc.memory_info().rss, proc.num_threads(), ctx, _io(proc, detail)
        except psutil.Error:
            self.procs.pop(pid, None)
            return None

    def _io_since(self, pid: int, io: tuple[int, int, int, int] | None) -> tuple[int, int, int, int] | None:
        if io is None:
            return None
        prev = self.last_io.get(pid)
        self.last_io[pid] = io
        return tuple(max(0, a - b) for a, b in zip(io, prev, strict=True)) if prev else (0, 0, 0, 0)  # type: ignore[return-value]

    def sample(self, pids: list[int], dt: float, detail: bool) -> TreeSample:
        tree = TreeSample(cpu=0.0, rss=0, threads=0, procs=0)
        if detail:
            tree.fds = tree.sockets = tree.ctx_vol = tree.ctx_invol = 0
            tree.per_process = []
        io_known = False
        io_sum = [0, 0, 0, 0]
        for pid in pids:
            read = self._read(pid, detail)
            if read is None:
                continue
            cpu_s, mem, nth, ctx, io = read
            since = self._io_since(pid, io)
            if since is not None:
                io_known = True
                io_sum = [a + b for a, b in zip(io_sum, since, strict=True)]
            prev = self.last_cpu.get(pid)
            self.last_cpu[pid] = cpu_s
            pct = max(0.0, (cpu_s - prev) / dt * 100.0) if prev is not None and dt > 0 else 0.0
            tree.procs += 1
            tree.cpu += pct
            tree.busiest = None if detail else round(max(tree.busiest or 0.0, pct), 2)
            tree.rss += mem
            tree.threads += nth
            if detail:
                nfd, nsock = count_sockets(pid)
                tree.fds, tree.sockets = (tree.fds or 0) + nfd, (tree.sockets or 0) + nsock
                tree.ctx_vol, tree.ctx_invol = (
                    (tree.ctx_vol or 0) + ctx.voluntary,
                    (tree.ctx_invol or 0) + ctx.involuntary,
                )
                assert tree.per_process is not None
                tree.per_process.append(ProcessSample(pid, round(pct, 2), mem, nth))
        tree.cpu = round(tree.cpu, 2)
        if io_known:
            tree.disk_read, tree.disk_write, tree.io_read, tree.io_write = io_sum
        return tree


def _io(proc: psutil.Process, detail: bool) -> tuple[int, int, int, int] | None:
    """(disk bytes read, written, all bytes read, written: sockets and pipes too) from
    /proc/PID/io, or None where the platform or the permissions do not tell."""
    if not detail:
        return None
    try:
        io = proc.io_counters()
    except (psutil.AccessDenied, AttributeError, NotImplementedError):
        return None
    chars = getattr(io, "read_chars", None), getattr(io, "write_chars", None)
    if chars[0] is None or chars[1] is None:  # not Linux: no chars, bytes only
        return io.read_bytes, io.write_bytes, io.read_bytes, io.write_bytes
    return io.read_bytes, io.write_bytes, chars[0], chars[1]


# A target reached by its URL alone runs elsewhere: this machine's GPUs and CPU energy are not its.
NOT_HERE = "the target's processes are not on this machine (no --launch or --pid)"


def _open_devices(want_gpu: bool, observed: bool) -> tuple[Any, Any, GpuInfo, RaplInfo]:
    """The GPU backend and RAPL reader where this machine has them, and what to say where not."""
    gpu = rapl = None
    gpu_info = GpuInfo(notice="GPU sampling off (--no-gpu).")
    if not observed:
        return (
            None,
            None,
            GpuInfo(notice=f"GPU not sampled: {NOT_HERE}."),
            RaplInfo(notice=f"CPU energy not read: {NOT_HERE}."),
        )
    if want_gpu:
        try:
            from profiler.sampling.gpu import open_gpu_backend

            gpu = open_gpu_backend()
            gpu_info = GpuInfo(available=True, devices=[_asdict(d) for d in gpu.devices()])
        except SamplerUnavailable as e:
            gpu_info = GpuInfo(notice=str(e))
    try:
        from profiler.sampling.energy import RaplReader

        rapl = RaplReader()
        rapl_info = RaplInfo(available=True, max_range_uj=rapl.max_ranges, domains=sorted(rapl.read()))
    except SamplerUnavailable as e:
        rapl_info = RaplInfo(notice=str(e))
    return gpu, rapl, gpu_info, rapl_info


@dataclass
class MachineClock:
    """Whole-machine CPU between ticks, from /proc/stat's counters."""

    ncpu: int
    last: Any = field(default_factory=psutil.cpu_times)

    def sample(self) -> MachineSample:
        now = psutil.cpu_times()
        busy = _busy(now) - _busy(self.last)
        total = sum(now) - sum(self.last)
        steal = getattr(now, "steal", 0.0) - getattr(self.last, "steal", 0.0)
        self.last = now
        if total <= 0:
            return MachineSample(cpu=0.0, steal=0.0, ncpu=self.ncpu)
        return MachineSample(cpu=round(100.0 * busy / total, 2), steal=round(100.0 * steal / total, 2), ncpu=self.ncpu)


class Ticker:
    """Fixed-rate ticks; far behind (a starved machine), it skips the missed ticks rather than burst."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.start = self.last = time.monotonic()
        self.k = 0

    def wait(self) -> float:
        """Sleep until the next tick; the seconds since the previous one."""
        self.k += 1
        delay = self.start + self.k * self.interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        elif -delay > self.interval:
            self.k = int((time.monotonic() - self.start) / self.interval)
        now = time.monotonic()
        dt, self.last = now - self.last, now
        return dt


def fd_limit(pid: int) -> int | None:
    """The target's soft limit on open files: each connection it holds is one."""
    try:
        soft, _hard = psutil.Process(pid).rlimit(psutil.RLIMIT_NOFILE)
    except (psutil.Error, AttributeError, OSError):  # gone, not ours to read, or no rlimit on this OS
        return None
    return int(soft) if soft >= 0 else None  # RLIM_INFINITY reads as -1


def run(args: argparse.Namespace) -> int:
    stop = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    parent = os.getppid()
    ncpu = psutil.cpu_count() or 1
    observed = args.target > 0
    gpu, rapl, gpu_info, rapl_info = _open_devices(args.gpu, observed)
    info = SamplerInfo(
        interval_s=args.interval,
        ncpu=ncpu,
        cpu_limit=cpu_limit(args.target) if observed else None,
        target_pid=args.target if observed else None,
        observed=observed,
        gpu=gpu_info,
        rapl=rapl_info,
        fd_limit=fd_limit(args.target) if observed else None,
    )
    Path(args.info).write_text(info.model_dump_json(indent=2) + "\n")
    try:
        target = psutil.Process(args.target) if observed else None
        trees = Trees(target, psutil.Process(args.owner) if args.owner else None)
        trees.root_file = Path(args.root_file) if args.root_file else None
    except psutil.NoSuchProcess:
        return 0
    poller = None
    if urls := urls_from_env():
        poller = MetricsPoller(urls, Path(args.metrics_out)).start()
    try:
        _loop(args, trees, gpu, rapl, poller, parent, lambda: stop)
    finally:
        if gpu is not None:
            gpu.close()
        if poller is not None:
            poller.stop()
            _record_sources(info, poller, gpu is None)
            Path(args.info).write_text(info.model_dump_json(indent=2) + "\n")
    return 0


def _loop(args: argparse.Namespace, trees: Trees, gpu: Any, rapl: Any, poller: MetricsPoller | None,
          parent: int, stopped: Any) -> None:  # fmt: skip
    """One sample per tick until told to stop, the profiler is gone, or a target here has exited."""
    target_sampler, gen_sampler, machine = TreeSampler(), TreeSampler(), MachineClock(psutil.cpu_count() or 1)
    ticker = Ticker(args.interval)
    last_flush = time.monotonic()
    with Path(args.out).open("a") as fh, Path(args.processes).open("a") as inventory:
        while not stopped():
            dt = ticker.wait()
            if os.getppid() != parent:
                break
            if trees.target is not None and not trees.target.is_running() and not trees.follow():
                break
            for info_line in trees.refresh(ticker.last):
                inventory.write(info_line.line())
            sample = Sample(
                t=round(time.time(), 4),
                # While it restarts the target has no processes: not known, rather than 0 CPU and memory.
                target=None if trees.down else target_sampler.sample(trees.pids, dt, detail=True)
                if trees.target is not None else poller.tree() if poller is not None else None,
                loadgen=gen_sampler.sample(trees.gen_pids, dt, detail=False),
                machine=machine.sample(),
                gpu=gpu.sample(trees.pids) if gpu is not None else poller.gpus() if poller is not None else None,
            )  # fmt: skip
            if rapl is not None:
                try:
                    sample.rapl_uj = rapl.read()
                except SamplerUnavailable:
                    rapl = None
            fh.write(sample.line())
            if ticker.last - last_flush >= FLUSH_EVERY_S:
                fh.flush()
                inventory.flush()
                last_flush = ticker.last


def _record_sources(info: SamplerInfo, poller: MetricsPoller, gpu_from_metrics: bool) -> None:
    """What each --metrics-url gave, for sampler.json; its GPUs stand for the target's where NVML did not."""
    info.metrics = [
        MetricsSourceInfo(
            url=mask_url(s.url),
            kinds=sorted(s.kinds),
            readings=s.readings,
            failures=s.failures,
            last_error=s.last_error,
        )  # fmt: skip
        for s in poller.sources
    ]
    devices = sorted({int(str(g.get("index"))) for s in poller.sources if s.latest for g in s.latest.gpus})
    if gpu_from_metrics and devices:
        info.gpu = GpuInfo(
            available=True,
            notice="GPU figures from --metrics-url (an exporter: no per-process memory).",
            devices=[{"index": i, "name": "from --metrics-url"} for i in devices],
        )


def _busy(ct: Any) -> float:
    idle = float(ct.idle) + float(getattr(ct, "iowait", 0.0))
    return float(sum(ct)) - idle


def _asdict(obj: Any) -> dict[str, Any]:
    return asdict(obj) if is_dataclass(obj) and not isinstance(obj, type) else dict(obj)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--target", type=int, required=True, help="root pid of the target's process tree (0: not here)")
    p.add_argument("--root-file", default=None, help="where a restarted target's new root pid is written")
    p.add_argument("--owner", type=int, default=0, help="the profiler's pid: its other children are the load generator")
    p.add_argument("--interval", type=float, default=0.1)
    p.add_argument("--out", required=True)
    p.add_argument("--info", required=True)
    p.add_argument("--processes", required=True, help="processes.jsonl: the target's processes, first seen")
    p.add_argument("--no-gpu", dest="gpu", action="store_false")
    p.add_argument("--metrics-out", default=os.devnull, help="metrics.jsonl: every reading of the expositions")
    return run(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
