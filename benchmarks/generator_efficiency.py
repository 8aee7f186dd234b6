"""Load generator efficiency, side by side in one run on one trivial target (benchmarks/trivial_server.js,
Node: 200 "ok" at once, counting what it served): requests per second sent by

  bare-1      `locust --headless` with a FastHttpUser (benchmarks/bare_locustfile.py), one process
  profiler-1  `profiler run URL --pid PID` (our recording of every request, the sampler on), one process
  bare-2      `locust --headless --processes 2`
  profiler-2  `profiler run ... --workers 2` (a Locust master and two workers)

at the same users. Goals: profiler-1 >= 0.95x bare-1 (what recording every request costs), and
profiler-2 / profiler-1 (what a second generator process adds on this machine: on 2 cores shared
with the target, little).

Interleaved, because this machine is a virtual one whose neighbours take CPU in bursts of seconds
(its CPU steal swung from 0 to 23% within minutes, and one generator's 10 s runs by 40% between
consecutive rounds): both generators of a comparison run at once, and every process of each is
stopped (SIGSTOP) while the other's turn lasts. Turns alternate A B B A ..., each WINDOW_S long after
SETTLE_S to resume, and the target's own count of requests served gives each turn's throughput, so
the two see the same machine within a second of each other. Every process of a generator pauses in
the other's turn: the profiler's sampler and orchestrator cost it only in its own.

    python benchmarks/generator_efficiency.py --json /tmp/generator.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil
from _common import ROOT, free_port, machine_info, machine_steal, stop_process_group, wait_ready  # type: ignore[import-not-found]

USERS = 32
TURNS = 24  # per generator and comparison: 12 A B B A quartets
WINDOW_S, SETTLE_S = 1.0, 0.15
WARMUP_S = 3.0  # both running after the profiler's first request, before the first turn
LIMIT_S = 120  # each generator's own time limit: longer than the turns (they are stopped by us)
COMPARISONS = (("profiler-1", "bare-1"), ("profiler-2", "bare-2"), ("profiler-2", "profiler-1"))


def start(name: str, url: str, pid: int, work: Path) -> tuple[subprocess.Popen[bytes], Path | None]:
    """One generator, running until stopped; the profiler's run folder (to see its load begin)."""
    kind, n = name.split("-")
    if kind == "bare":
        cmd = [sys.executable, "-m", "locust", "-f", str(ROOT / "benchmarks" / "bare_locustfile.py"), "--headless",
               "-u", str(USERS), "-r", str(USERS * 10), "-t", f"{LIMIT_S}s", "--host", url.rstrip("/"),
               "--only-summary", "--processes", n]  # fmt: skip
        out = None
    else:
        out = work / f"{name}-{time.monotonic_ns()}"
        cmd = [sys.executable, "-m", "profiler", "run", url, "--pid", str(pid), "--users", str(USERS), "--stages", "1",
               "--duration", f"{LIMIT_S}s", "--no-pyspy", "--no-probe", "--workers", n, "--out", str(out),
               "--quiet"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    return proc, out


def family(proc: subprocess.Popen[bytes]) -> list[psutil.Process]:
    """The generator's processes now (a profiler run starts its worker and sampler after a while)."""
    try:
        root = psutil.Process(proc.pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def signal_all(procs: list[psutil.Process], sig: int) -> None:
    for p in procs:
        try:
            p.send_signal(sig)
        except psutil.Error:
            pass


def served(url: str) -> int:
    with urllib.request.urlopen(url + "__served", timeout=5) as resp:
        return int(resp.read())


def interleave(url: str, pid: int, a: str, b: str, work: Path) -> dict[str, object]:
    """Both generators started, then turns A B B A ...: each turn's requests per second."""
    gens = {name: start(name, url, pid, work) for name in (a, b)}
    rps: dict[str, list[float]] = {a: [], b: []}
    try:
        deadline = time.monotonic() + 60
        while any(out is not None and not (out / "requests.csv").exists() for _, out in gens.values()):
            if time.monotonic() > deadline or any(p.poll() is not None for p, _ in gens.values()):
                raise SystemExit(f"{a} or {b} did not start sending")
            time.sleep(0.2)
        time.sleep(WARMUP_S)
        for proc, _ in gens.values():
            signal_all(family(proc), signal.SIGSTOP)
        s0, t0 = machine_steal()
        for i in range(TURNS * 2):
            name = (a, b, b, a)[i % 4]
            procs = family(gens[name][0])
            signal_all(procs, signal.SIGCONT)
            time.sleep(SETTLE_S)
            c0, w0 = served(url), time.perf_counter()
            time.sleep(WINDOW_S)
            c1, w1 = served(url), time.perf_counter()
            signal_all(procs, signal.SIGSTOP)
            rps[name].append((c1 - c0) / (w1 - w0))
        s1, t1 = machine_steal()
    finally:
        for proc, _ in gens.values():
            procs = family(proc)
            signal_all(procs, signal.SIGCONT)
            signal_all(procs, signal.SIGKILL)
            proc.wait(timeout=10)
    ratio = statistics.fmean(rps[a]) / statistics.fmean(rps[b])
    # A's turn against the B turn next to it (A B | B A: each A has one B neighbour).
    paired = [x / y for x, y in zip(rps[a], rps[b], strict=True) if y > 0]
    return {
        "a": a,
        "b": b,
        "ratio": ratio,
        "paired_median": statistics.median(paired),
        "rps": rps,
        "steal_pct": 100.0 * (s1 - s0) / max(t1 - t0, 1e-9),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3, help="interleaved runs of each comparison")
    p.add_argument("--json", type=Path, default=None, help="write the results to this file")
    p.add_argument("--only", choices=[f"{a}/{b}" for a, b in COMPARISONS], action="append",
                   help="run this comparison only (repeatable)")  # fmt: skip
    args = p.parse_args(argv)
    comparisons = [(a, b) for a, b in COMPARISONS if args.only is None or f"{a}/{b}" in args.only]
    if shutil.which("node") is None:
        raise SystemExit("node is needed for the trivial target (apt-get install nodejs)")
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    target = subprocess.Popen(["node", str(ROOT / "benchmarks" / "trivial_server.js"), str(port)],
                              start_new_session=True)  # fmt: skip
    runs: list[dict[str, object]] = []
    try:
        wait_ready(url, target, 10.0)
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(args.rounds):
                for a, b in comparisons:
                    run = interleave(url, target.pid, a, b, Path(tmp))
                    runs.append(run)
                    mean = {k: round(statistics.fmean(v)) for k, v in run["rps"].items()}  # type: ignore[attr-defined]
                    print(f"round {r + 1} {a} / {b} = {run['ratio']:.3f} (paired median {run['paired_median']:.3f}; "
                          f"{mean}; steal {run['steal_pct']:.1f}%)", flush=True)  # fmt: skip
    finally:
        stop_process_group(target, grace_s=(0.5, 5.0))
    summary: dict[str, object] = {"users": USERS, "turns": TURNS, "window_s": WINDOW_S, "runs": runs}
    for a, b in comparisons:
        ratios = [float(run["ratio"]) for run in runs if (run["a"], run["b"]) == (a, b)]  # type: ignore[arg-type]
        summary[f"{a}/{b}"] = {"median": statistics.median(ratios), "rounds": ratios}
        print(f"{a} / {b}: median {statistics.median(ratios):.3f} of {[round(x, 3) for x in ratios]}")
    summary["machine"] = machine_info()
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
