"""Wall time and verdicts of a default `profiler run` (no --duration) on each example app.

Issue goal: a default run reaches its verdict in under a minute of wall time on a 2-core machine,
py-spy stage included. For each example this runs the real CLI exactly as a user would:

    profiler run 'http://127.0.0.1:{port}/predict' --launch 'python examples/NAME.py --port {port}'

and prints the wall time, how the run ended, and the traits found next to the expected one.

    python benchmarks/default_run.py [--only cpu_bound,io_bound] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXPECTED = {
    "cpu_bound": "cpu-bound",
    "io_bound": "io-bound",
    "blocked_loop": "event-loop-blocked",
    "concurrency_capped": "concurrency-capped",
    "memory_leak": "memory-growth",
    "sessions": "stateful-sessions",
    "streaming": "streaming-responses",
    "cold_start": "cold-start",
    "tail_heavy": "tail-heavy",
    "errors_under_load": "errors-under-load",
    "retrograde": "retrograde-scaling",
    "demo_app": "dominant-handoff",
}


def run_one(name: str, folder: Path) -> dict[str, object]:
    out = folder / name
    cmd = [
        sys.executable,
        "-m",
        "profiler",
        "run",
        "http://127.0.0.1:{port}/predict",
        "--launch",
        f"{sys.executable} {ROOT / 'examples' / name}.py --port {{port}}",
        "--out",
        str(out),
        "--quiet",
    ]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    wall = time.monotonic() - t0
    report = json.loads((out / "report.json").read_text()) if (out / "report.json").exists() else {}
    traits = [t["id"] for t in report.get("traits", [])]
    return {
        "app": name,
        "wall_s": round(wall, 1),
        "exit": proc.returncode,
        "status": report.get("run", {}).get("status"),
        "stages": len(report.get("load", {}).get("stages", [])),
        "expected": EXPECTED[name],
        "found": EXPECTED[name] in traits,
        "traits": traits,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", help="comma-separated example names")
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    names = args.only.split(",") if args.only else list(EXPECTED)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            row = run_one(name, Path(tmp))
            rows.append(row)
            print(
                f"{row['app']:<20} {row['wall_s']:>6.1f}s  exit {row['exit']}  {row['status']:<10} "
                f"stages {row['stages']}  {'OK ' if row['found'] else 'MISS'} {row['expected']:<22} {row['traits']}",
                flush=True,
            )
    worst = max(float(r["wall_s"]) for r in rows)  # type: ignore[arg-type]
    print(f"slowest: {worst:.1f}s (goal < 60 s); verdicts found: {sum(bool(r['found']) for r in rows)}/{len(rows)}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
