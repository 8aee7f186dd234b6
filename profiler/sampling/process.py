"""The process sampler: a plain subprocess that never imports Locust.

Run as `python -m profiler.sampling.process ...` by `profiler.sampling.launcher`. Real threads
next to gevent starve for the GIL when Locust is busy; a separate process keeps a steady
interval. Every tick it writes one JSON line to samples.jsonl:

    {"t": epoch_s,
     "target": {"cpu": %-of-one-core, "rss": bytes, "threads": n, "fds": n, "sockets": n,
                "ctx_vol": n, "ctx_invol": n, "procs": n, "per_process": {pid: {"cpu": %, "rss": bytes}}},
     "loadgen": {"cpu": %, "rss": bytes},
     "machine": {"cpu": %-of-all-cores, "ncpu": n, "steal": %},
     "gpu": [...per device...],          (when a GPU is readable)
     "rapl_uj": {domain: microjoules}}   (when RAPL is readable)

cpu is in percent of one core, as `top` shows it (200 = two cores busy).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import psutil

from profiler.errors import SamplerUnavailable

CHILD_REFRESH_S = 1.0
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

    def sample(self, pids: list[int], dt: float, detail: bool) -> dict[str, Any]:
        total_cpu = 0.0
        rss = threads = fds = sockets = vol = invol = 0
        per: dict[str, dict[str, float]] = {}
        alive = 0
        for pid in pids:
            proc = self.procs.get(pid)
            if proc is None:
                try:
                    proc = self.procs[pid] = psutil.Process(pid)
                except psutil.Error:
                    continue
            try:
                with proc.oneshot():
                    ct = proc.cpu_times()
                    cpu_s = ct.user + ct.system
                    mem = proc.memory_info().rss
                    nth = proc.num_threads()
                    ctx = proc.num_ctx_switches() if detail else None
            except psutil.Error:
                self.procs.pop(pid, None)
                continue
            alive += 1
            prev = self.last_cpu.get(pid)
            self.last_cpu[pid] = cpu_s
            pct = max(0.0, (cpu_s - prev) / dt * 100.0) if prev is not None and dt > 0 else 0.0
            total_cpu += pct
            rss += mem
            threads += nth
            if ctx is not None:
                vol += ctx.voluntary
                invol += ctx.involuntary
            if detail:
                nfd, nsock = count_sockets(pid)
                fds += nfd
                sockets += nsock
                per[str(pid)] = {"cpu": round(pct, 2), "rss": mem}
        out: dict[str, Any] = {"cpu": round(total_cpu, 2), "rss": rss, "threads": threads, "procs": alive}
        if detail:
            out.update(fds=fds, sockets=sockets, ctx_vol=vol, ctx_invol=invol, per_process=per)
        return out


def tree_pids(root: psutil.Process) -> list[int]:
    try:
        return [root.pid] + [c.pid for c in root.children(recursive=True)]
    except psutil.Error:
        return []


def run(args: argparse.Namespace) -> int:
    out_path = Path(args.out)
    info_path = Path(args.info)
    stop = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    parent = os.getppid()
    me = os.getpid()
    ncpu = psutil.cpu_count() or 1
    info: dict[str, Any] = {
        "interval_s": args.interval,
        "ncpu": ncpu,
        "target_pid": args.target,
        "gpu": {"available": False, "notice": "GPU sampling off (--no-gpu)."},
        "rapl": {"available": False, "notice": None, "max_range_uj": {}},
    }
    gpu = None
    if args.gpu:
        try:
            from profiler.sampling.gpu import open_gpu_backend

            gpu = open_gpu_backend()
            info["gpu"] = {"available": True, "notice": None, "devices": [_asdict(d) for d in gpu.devices()]}
        except SamplerUnavailable as e:
            info["gpu"] = {"available": False, "notice": str(e)}
    rapl = None
    try:
        from profiler.sampling.energy import RaplReader

        rapl = RaplReader()
        first = rapl.read()
        info["rapl"] = {"available": True, "notice": None, "max_range_uj": rapl.max_ranges, "domains": sorted(first)}
    except SamplerUnavailable as e:
        rapl = None
        info["rapl"] = {"available": False, "notice": str(e), "max_range_uj": {}}
    info_path.write_text(json.dumps(info, indent=2) + "\n")

    try:
        target = psutil.Process(args.target)
    except psutil.NoSuchProcess:
        return 0
    owner = psutil.Process(args.owner) if args.owner else None
    target_sampler = TreeSampler()
    gen_sampler = TreeSampler()
    pids = tree_pids(target)
    gen_pids: list[int] = []
    last_refresh = 0.0
    last_flush = time.monotonic()
    last_machine = psutil.cpu_times()
    fh = out_path.open("a")
    start = time.monotonic()
    last_tick = start
    k = 0
    try:
        while not stop:
            k += 1
            deadline = start + k * args.interval
            delay = deadline - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif -delay > args.interval:
                # Far behind (machine starved): skip the missed ticks rather than burst.
                k = int((time.monotonic() - start) / args.interval)
            now_m = time.monotonic()
            dt = now_m - last_tick
            last_tick = now_m
            if os.getppid() != parent or not target.is_running():
                break
            if now_m - last_refresh >= CHILD_REFRESH_S:
                last_refresh = now_m
                pids = tree_pids(target)
                if owner is not None:
                    skip = set(pids) | {me}
                    try:
                        gen_pids = [
                            c.pid for c in owner.children(recursive=True) if c.pid not in skip and not _is_pyspy(c)
                        ]
                    except psutil.Error:
                        gen_pids = []
            machine = psutil.cpu_times()
            busy_delta = _busy(machine) - _busy(last_machine)
            total_delta = sum(machine) - sum(last_machine)
            steal_delta = getattr(machine, "steal", 0.0) - getattr(last_machine, "steal", 0.0)
            last_machine = machine
            line: dict[str, Any] = {
                "t": round(time.time(), 4),
                "target": target_sampler.sample(pids, dt, detail=True),
                "loadgen": gen_sampler.sample(gen_pids, dt, detail=False),
                "machine": {
                    "cpu": round(100.0 * busy_delta / total_delta, 2) if total_delta > 0 else 0.0,
                    "steal": round(100.0 * steal_delta / total_delta, 2) if total_delta > 0 else 0.0,
                    "ncpu": ncpu,
                },
            }
            if gpu is not None:
                line["gpu"] = gpu.sample(pids)
            if rapl is not None:
                try:
                    line["rapl_uj"] = rapl.read()
                except SamplerUnavailable:
                    rapl = None
            fh.write(json.dumps(line, separators=(",", ":")) + "\n")
            if now_m - last_flush >= FLUSH_EVERY_S:
                fh.flush()
                last_flush = now_m
    finally:
        fh.flush()
        fh.close()
        if gpu is not None:
            gpu.close()
    return 0


def _is_pyspy(proc: psutil.Process) -> bool:
    """py-spy is a child of the profiler too, but it is not the load generator."""
    try:
        return bool(proc.name() == "py-spy")
    except psutil.Error:
        return True


def _busy(ct: Any) -> float:
    idle = float(ct.idle) + float(getattr(ct, "iowait", 0.0))
    return float(sum(ct)) - idle


def _asdict(obj: Any) -> dict[str, Any]:
    from dataclasses import asdict, is_dataclass

    return asdict(obj) if is_dataclass(obj) and not isinstance(obj, type) else dict(obj)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--target", type=int, required=True, help="root pid of the target's process tree")
    p.add_argument("--owner", type=int, default=0, help="the profiler's pid: its other children are the load generator")
    p.add_argument("--interval", type=float, default=0.1)
    p.add_argument("--out", required=True)
    p.add_argument("--info", required=True)
    p.add_argument("--no-gpu", dest="gpu", action="store_false")
    return run(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
