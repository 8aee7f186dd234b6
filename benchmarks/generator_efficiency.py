"""Load generator efficiency, side by side in one run on one trivial target (benchmarks/trivial_server.js,
Node: 200 "ok" at once): requests per second completed by

  bare-1      `locust --headless` with a FastHttpUser (benchmarks/bare_locustfile.py), one process
  profiler-1  `profiler run URL --pid PID` (our recording of every request), one process
  bare-2      `locust --headless --processes 2`
  profiler-2  `profiler run ... --workers 2` (a Locust master and two workers)

at the same users, each for the same time, in rounds of a seeded random order. Goals: profiler-1
>= 0.95x bare-1 (what recording every request costs), and the ratio profiler-2 / profiler-1 (what a
second generator process adds on this machine: on 2 cores shared with the target, little).

Each measurement records the machine's CPU steal (the hypervisor's share of its CPU time) while it
ran. On a virtual machine whose neighbours take CPU in bursts, one generator's rounds swing by 40%,
so ratios are also given pairwise (the two generators of one round) over the quiet rounds only:
steal under QUIET_STEAL_PCT in both.

    python benchmarks/generator_efficiency.py --json /tmp/generator.json
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import ROOT, free_port, machine_info, machine_steal, stop_process_group, wait_ready  # type: ignore[import-not-found]

USERS, SECONDS = 32, 10
QUIET_STEAL_PCT = 2.0  # as the cpu-steal validity warning's line


def bare(url: str, processes: int) -> float:
    cmd = [sys.executable, "-m", "locust", "-f", str(ROOT / "benchmarks" / "bare_locustfile.py"), "--headless",
           "-u", str(USERS), "-r", str(USERS * 10), "-t", f"{SECONDS}s", "--host", url.rstrip("/"),
           "--only-summary"]  # fmt: skip
    if processes > 1:
        cmd += ["--processes", str(processes)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=SECONDS + 60, check=False)
    # The summary's last "Aggregated" line of the request table (the one with "|" columns): its first
    # number is every request sent in the run (the percentile table's line starts with a latency).
    lines = (done.stdout + done.stderr).splitlines()
    line = [x for x in lines if x.strip().startswith("Aggregated") and "|" in x][-1]
    return int(line.split()[1]) / SECONDS


def profiler(url: str, pid: int, workers: int, work: Path) -> float:
    out = work / f"profiler{workers}-{random.random():.6f}"
    subprocess.run(
        [sys.executable, "-m", "profiler", "run", url, "--pid", str(pid), "--users", str(USERS), "--stages", "1",
         "--duration", f"{SECONDS}s", "--no-pyspy", "--no-probe", "--workers", str(workers), "--out", str(out),
         "--quiet"],
        cwd=ROOT, capture_output=True, timeout=SECONDS + 120, check=False,
    )  # fmt: skip
    report = json.loads((out / "report.json").read_text())
    stage = report["load"]["stages"][0]
    return float(stage["requests"]) / float(stage["measured_s"])  # sent and answered in the stage


def pairs(results: dict[str, list[float]], a: str, b: str, steal: dict[str, list[float]] | None = None) -> list[float]:
    """a / b in each round (the two measured within a minute of each other); given `steal`, only the
    rounds where neither measurement lost QUIET_STEAL_PCT or more to the hypervisor."""
    quiet = (
        [sx < QUIET_STEAL_PCT and sy < QUIET_STEAL_PCT for sx, sy in zip(steal[a], steal[b], strict=True)]
        if steal
        else None
    )
    return [
        x / y
        for i, (x, y) in enumerate(zip(results[a], results[b], strict=True))
        if y > 0 and (quiet is None or quiet[i])
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--json", type=Path, default=None, help="write the results to this file")
    args = p.parse_args(argv)
    if shutil.which("node") is None:
        raise SystemExit("node is needed for the trivial target (apt-get install nodejs)")
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    target = subprocess.Popen(["node", str(ROOT / "benchmarks" / "trivial_server.js"), str(port)],
                              start_new_session=True)  # fmt: skip
    results: dict[str, list[float]] = {"bare-1": [], "profiler-1": [], "bare-2": [], "profiler-2": []}
    steal: dict[str, list[float]] = {k: [] for k in results}
    rng = random.Random(11)
    try:
        wait_ready(url, target, 10.0)
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            for r in range(args.rounds):
                order = list(results)
                rng.shuffle(order)
                for name in order:
                    kind, n = name.split("-")
                    s0, t0 = machine_steal()
                    rps = bare(url, int(n)) if kind == "bare" else profiler(url, target.pid, int(n), work)
                    s1, t1 = machine_steal()
                    results[name].append(rps)
                    steal[name].append(100.0 * (s1 - s0) / max(t1 - t0, 1e-9))
                    print(f"round {r + 1} {name}: {rps:.0f} rps (steal {steal[name][-1]:.1f}%)", flush=True)
    finally:
        stop_process_group(target, grace_s=(0.5, 5.0))
    median = {k: statistics.median(v) for k, v in results.items()}
    summary = {
        "users": USERS,
        "seconds": SECONDS,
        "rounds": results,
        "median_rps": median,
        "steal_pct": steal,
        "profiler_vs_bare_1": median["profiler-1"] / median["bare-1"],
        "profiler_vs_bare_2": median["profiler-2"] / median["bare-2"],
        "workers_2_vs_1": median["profiler-2"] / median["profiler-1"],
        "pairwise_median": {
            "profiler_vs_bare_1": statistics.median(pairs(results, "profiler-1", "bare-1")),
            "profiler_vs_bare_2": statistics.median(pairs(results, "profiler-2", "bare-2")),
        },
        "quiet_pairs": {
            "profiler_vs_bare_1": pairs(results, "profiler-1", "bare-1", steal),
            "profiler_vs_bare_2": pairs(results, "profiler-2", "bare-2", steal),
        },
        "machine": machine_info(),
    }
    print(json.dumps({k: v for k, v in summary.items() if k != "machine"}, indent=2))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
