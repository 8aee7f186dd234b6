"""Soak: the profiler's own footprint over a long run at steady load.

Goals (issue 9; an hour for issue 22), at steady load: the profiler's own memory growth under 20 MB;
the run folder's bytes per request; every request on disk (requests.csv rows = requests counted).
It runs the real CLI as a user would, one stage of steady closed-model load on the test app:

    profiler run 'http://127.0.0.1:{port}/fast' --launch 'python tests/apps/basic_app.py --port {port}'
        --users 4 --stages 1 --duration 600 --no-early-stop --no-pyspy --max-requests 100000000 --quiet

and every --interval seconds reads, with psutil, the RSS of each of the profiler's own processes
apart: the orchestrator (the CLI), the load worker and the sampler (the target is the user's, not
ours). Growth is a process's RSS at the end of the load minus its RSS one warm-up after the load
began (a minute, or a quarter of a shorter run): imports, Locust's start and the first buffers
are not growth. The analysis at the end reads the whole folder; its peak is printed apart.

Requests: main rows in requests.csv, against the load worker's own counts in stages.jsonl (the
requests each stage started, and its closing `finish` line: started and written) and the report's
`load.requests`. All must be equal.

    python benchmarks/soak.py                     # 10 minutes
    python benchmarks/soak.py --minutes 60 --users 2 --json soak-60m.json   # the hour of docs/benchmarks.md
    python benchmarks/soak.py --minutes 1 --json soak.json

Run it on an otherwise idle machine; the folder goes to a temporary directory unless --keep.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from _common import ROOT, machine_info

from profiler.runfolder.names import REPORT, REQUESTS, STAGES
from profiler.runfolder.records import KIND_MAIN, Finish, StageEnd, parse_stage_event

APP = ROOT / "tests" / "apps" / "basic_app.py"
MB = 1e6
ROLES = {"profiler.load.worker": "load worker", "profiler.sampling.process": "sampler"}


@dataclass
class Rss:
    """RSS samples (seconds since start, bytes) of the profiler's processes, by role."""

    series: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    load_began: float | None = None
    load_ended: float | None = None

    def add(self, t: float, role: str, rss: int) -> None:
        self.series.setdefault(role, []).append((t, rss))


def sample(root: psutil.Process, t: float, rss: Rss) -> None:
    try:
        rss.add(t, "orchestrator", root.memory_info().rss)
        children = root.children(recursive=True)
    except psutil.Error:
        return
    loading = False
    for child in children:
        try:
            cmd = " ".join(child.cmdline())
            role = next((name for marker, name in ROLES.items() if marker in cmd), None)
            if role is not None:
                rss.add(t, role, child.memory_info().rss)
                loading = loading or role == "load worker"
        except psutil.Error:
            continue
    if loading:
        rss.load_began = t if rss.load_began is None else rss.load_began
        rss.load_ended = t


def run_profiler(out: Path, minutes: float, users: int, interval_s: float) -> tuple[int, Rss, float]:
    cmd = [sys.executable, "-m", "profiler", "run", "http://127.0.0.1:{port}/fast"]
    cmd += ["--launch", f"{sys.executable} {APP} --port {{port}}", "--users", str(users), "--stages", "1"]
    cmd += ["--duration", f"{minutes * 60:g}", "--no-early-stop", "--no-pyspy", "--max-requests", "100000000"]
    cmd += ["--quiet", "--out", str(out)]
    rss = Rss()
    started = time.monotonic()
    with (out.parent / "profiler-stderr.txt").open("wb") as err:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err)
        root = psutil.Process(proc.pid)
        while proc.poll() is None:
            sample(root, time.monotonic() - started, rss)
            try:
                proc.wait(timeout=interval_s)
            except subprocess.TimeoutExpired:
                continue
    return proc.returncode, rss, time.monotonic() - started


def growth(rss: Rss, warmup_s: float) -> dict[str, dict[str, float | None]]:
    """Per role: RSS one warm-up into the load, at its end, the growth between, and the peak."""
    out: dict[str, dict[str, float | None]] = {}
    began, ended = rss.load_began or 0.0, rss.load_ended or 0.0
    for role, points in rss.series.items():
        during = [(t, v) for t, v in points if began + warmup_s <= t <= ended]
        first, last = (during[0][1], during[-1][1]) if during else (None, None)
        out[role] = {
            "rss_after_warmup_mb": round(first / MB, 1) if first is not None else None,
            "rss_at_end_mb": round(last / MB, 1) if last is not None else None,
            "growth_mb": round((last - first) / MB, 1) if first is not None and last is not None else None,
            "peak_mb": round(max(v for _, v in points) / MB, 1),
        }
    return out


def count_requests(folder: Path) -> dict[str, Any]:
    """Main requests as the worker counted them, as the report counts them, and rows on disk."""
    started = written = None
    stage_started = 0
    for line in (folder / STAGES).read_text().splitlines():
        try:
            event = parse_stage_event(json.loads(line))
        except ValueError:
            continue
        if isinstance(event, StageEnd):
            stage_started += event.started if event.started is not None else event.requests
        elif isinstance(event, Finish):
            started, written = event.started, event.written
    with (folder / REQUESTS).open(newline="") as fh:
        reader = csv.reader(fh)
        kind = next(reader).index("kind")
        rows = sum(1 for row in reader if len(row) > kind and row[kind] == KIND_MAIN)
    report = json.loads((folder / REPORT).read_text())
    counts = {"stages_started": stage_started, "finish_started": started, "finish_written": written}
    counts |= {"report_requests": report["load"]["requests"], "csv_main_rows": rows}
    counts["all_equal"] = len(set(counts.values())) == 1
    return counts


def folder_bytes(folder: Path) -> dict[str, int]:
    sizes = {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*") if p.is_file()}
    return dict(sorted(sizes.items(), key=lambda kv: -kv[1]))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=10.0, help="minutes of load (default 10)")
    p.add_argument("--users", type=int, default=4)
    p.add_argument("--interval", type=float, default=5.0, help="seconds between RSS samples")
    p.add_argument("--keep", type=Path, help="keep the run folder here (must not exist)")
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    warmup_s = min(60.0, args.minutes * 60 / 4)
    with tempfile.TemporaryDirectory() as tmp:
        out = args.keep if args.keep is not None else Path(tmp) / "soak"
        code, rss, wall = run_profiler(out, args.minutes, args.users, args.interval)
        result: dict[str, Any] = {"machine": machine_info(), "minutes": args.minutes, "users": args.users}
        result |= {"exit": code, "wall_s": round(wall, 1), "warmup_s": warmup_s}
        result["rss"] = growth(rss, warmup_s)
        result["requests"] = count_requests(out)
        sizes = folder_bytes(out)
        requests = result["requests"]["csv_main_rows"]
        result["folder"] = {"bytes": sum(sizes.values()), "files": sizes}
        result["folder"]["bytes_per_request"] = round(sum(sizes.values()) / max(requests, 1), 1)
    report(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    worst = max((r["growth_mb"] or 0.0) for r in result["rss"].values())
    return 0 if code == 0 and result["requests"]["all_equal"] and worst < 20 else 1


def report(result: dict[str, Any]) -> None:
    print(f"{result['minutes']:g} min at {result['users']} users: exit {result['exit']}, wall {result['wall_s']} s")
    print(f"RSS (MB), warm-up {result['warmup_s']:g} s:  after warm-up -> end of load = growth   (peak)")
    for role, r in result["rss"].items():
        print(
            f"  {role:<13} {r['rss_after_warmup_mb']!s:>8} -> {r['rss_at_end_mb']!s:>8} = {r['growth_mb']!s:>6}"
            f"   ({r['peak_mb']})"
        )
    folder = result["folder"]
    top = ", ".join(f"{name} {size / MB:.1f} MB" for name, size in list(folder["files"].items())[:4])
    print(f"run folder: {folder['bytes'] / MB:.1f} MB, {folder['bytes_per_request']} bytes/request ({top})")
    req = result["requests"]
    print(
        f"requests: stages.jsonl {req['stages_started']}, finish {req['finish_started']}/{req['finish_written']}, "
        f"report {req['report_requests']}, requests.csv {req['csv_main_rows']}: "
        + ("equal" if req["all_equal"] else "NOT EQUAL")
    )


if __name__ == "__main__":
    sys.exit(main())
