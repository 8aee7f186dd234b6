"""WebSocket connections one generator process holds, and messages per generator core-second,
`profiler run ws://...` against a bare client of the same library (benchmarks/ws_bare.py) in the
same run (issue 25).

One echo server on Node's `ws` (tests/apps/servers/ws_node.js: cheap, so the generator is what is
measured) serves both. For each connection count N, in turn (A B, then B A the next round):

  profiler  `profiler run ws://... --pid PID --connections N --message hello --message-rate 1/s`
            (every message a row on disk, the sampler on)
  bare      benchmarks/ws_bare.py at the same N and connect rate

Each opens its N connections, then once all are held and SETTLE_S have passed, a WINDOW_S window
reads the messages answered (from connections.jsonl, or the bare client's own counts) and the CPU of
the generator's whole process tree (psutil: the profiler's orchestrator, sampler and load worker).
Goal: 10,000 connections at 1 message/s each with the generator under one core.

    python benchmarks/ws_connections.py --counts 2000,5000,10000 --json /tmp/ws.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
from _common import ROOT, free_port, machine_info, machine_steal, stop_process_group, tree_cpu_s  # type: ignore[import-not-found]

NODE_SERVER = ROOT / "tests" / "apps" / "servers" / "ws_node.js"
CONNECT_RATE = 500.0
SETTLE_S, WINDOW_S = 2.0, 10.0


def _last(path: Path) -> dict[str, Any] | None:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        try:
            return dict(json.loads(line))
        except ValueError:
            continue
    return None


def measure(kind: str, url: str, pid: int, n: int, work: Path) -> dict[str, Any]:
    ramp_s = n / CONNECT_RATE
    run_s = ramp_s + SETTLE_S + WINDOW_S + 10.0
    if kind == "profiler":
        out = work / f"profiler-{n}-{time.monotonic_ns()}"
        cmd = [sys.executable, "-m", "profiler", "run", url, "--pid", str(pid), "--connections", str(n),
               "--connect-rate", f"{CONNECT_RATE:g}", "--message", "hello", "--message-rate", "1/s",
               "--duration", f"{SETTLE_S + WINDOW_S + 6:g}s", "--no-pyspy", "--quiet", "--out", str(out)]  # fmt: skip
        counts = out / "connections.jsonl"
    else:
        counts = work / f"bare-{n}-{time.monotonic_ns()}.jsonl"
        cmd = [sys.executable, str(ROOT / "benchmarks" / "ws_bare.py"), url, str(n), f"{CONNECT_RATE:g}", f"{run_s:g}",
               str(counts)]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # fmt: skip
    root = psutil.Process(proc.pid)
    try:
        deadline = time.monotonic() + ramp_s * 3 + 60
        while time.monotonic() < deadline:
            last = _last(counts)
            if last is not None and last["held"] >= n:
                break
            time.sleep(0.25)
        else:
            return {"kind": kind, "n": n, "held": (_last(counts) or {}).get("held", 0), "error": "never held all"}
        time.sleep(SETTLE_S)
        first, cpu0, t0 = _last(counts) or {}, tree_cpu_s(root), time.monotonic()
        time.sleep(WINDOW_S)
        last, cpu1, t1 = _last(counts) or {}, tree_cpu_s(root), time.monotonic()
    finally:
        stop_process_group(proc)
    span = max(1e-9, last["t"] - first["t"])
    per_s = (last["answered"] - first["answered"]) / span
    cores = (cpu1 - cpu0) / (t1 - t0)
    return {"kind": kind, "n": n, "held": int(last["held"]), "answered_per_s": round(per_s, 1),
            "generator_cores": round(cores, 3), "per_core_s": round(per_s / cores, 1) if cores else None}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counts", default="2000,5000,10000")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    node = shutil.which("node")
    if node is None:
        raise SystemExit("node is missing: apt-get install nodejs node-ws")
    port = free_port()
    env = {**os.environ, "NODE_PATH": "/usr/share/nodejs"}
    server = subprocess.Popen(
        ["sh", "-c", f"ulimit -n 20000 2>/dev/null; exec {node} {NODE_SERVER} {port}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    time.sleep(1.0)
    url = f"ws://127.0.0.1:{port}/"
    results: list[dict[str, Any]] = []
    steal0 = machine_steal()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(args.rounds):
                for n in (int(c) for c in args.counts.split(",")):
                    order = ("profiler", "bare") if r % 2 == 0 else ("bare", "profiler")
                    pair = {k: measure(k, url, server.pid, n, Path(tmp)) for k in order}
                    ours, bare = pair["profiler"], pair["bare"]
                    ratio = (ours["per_core_s"] / bare["per_core_s"]
                             if ours.get("per_core_s") and bare.get("per_core_s") else None)  # fmt: skip
                    results += [ours, bare]
                    print(json.dumps({"round": r + 1, "n": n, "profiler": ours, "bare": bare,
                                      "ratio_per_core": round(ratio, 3) if ratio else None}), flush=True)  # fmt: skip
    finally:
        stop_process_group(server)
    steal1 = machine_steal()
    steal = (steal1[0] - steal0[0]) / max(1e-9, steal1[1] - steal0[1])
    summary = {"machine": machine_info(), "steal_pct": round(steal * 100, 1), "results": results}
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
