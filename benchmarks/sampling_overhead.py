"""What our recording and sampling cost the TARGET, as a ratio of its throughput.

One target process is started once (by default `examples/cpu_bound.py`: a CPU-bound app whose
throughput is limited by its own CPU, so anything the measurement does shows up as lost target
throughput only when it takes CPU the target would have used). The same closed-model load is then
run in alternating rounds against it:

  (a) bare: the load worker with spec `"bare": true` (plain Locust requests, none of our
      recording), no probe, no sampler process;
  (b) full: the load worker with normal recording (per-request timing, requests.csv, stage
      bookkeeping; probe off so the request mix is identical) plus the process sampler
      (`SamplerProcess`, 0.1 s interval) on the target's pid.

The worker is driven exactly as the product drives it: a spec JSON with a one-stage plan, run
as `python -m profiler.load.worker SPEC`, reading its JSON progress lines from stdout; each
round's figure is the `stage_end` message's `rps`. A short warm-up round is discarded.

Goal: full >= 0.97 x bare (median of the per-pair ratios).

`--ablate` cycles four modes instead (bare, full, record = recording without the sampler,
sampler = bare worker plus the sampler) to tell which of the two costs dominates.

    python benchmarks/sampling_overhead.py                       # 6 rounds of 8 s at 16 users
    python benchmarks/sampling_overhead.py --app examples/demo_app.py --json out.json

Everything goes to 127.0.0.1 only; run outputs go to a temporary folder that is removed.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from profiler.base.config import free_port  # noqa: E402
from profiler.base.procutil import stop_process_group  # noqa: E402
from profiler.sampling.launcher import SAMPLER_INFO, SamplerProcess  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_busy, start_target, start_worker, tree_cpu_s, wait_ready, write_spec  # noqa: E402

GOAL = 0.97
# Which rounds run the worker with our recording, and which add the sampler process.
# "record" and "sampler" only run with --ablate, to split the cost between the two.
RECORDED = {"full", "record"}
SAMPLED = {"full", "sampler"}


@dataclass
class Round:
    index: int
    mode: str  # "bare", "full", "warmup", or with --ablate "record" / "sampler"
    users: int
    duration_s: float
    requests: int = 0
    rps: float = 0.0
    p50_ms: float | None = None  # the full worker's own figure; bare records no latencies
    # CPU in percent of one core, measured from the first progress tick to stage_end
    target_cpu: float = 0.0
    worker_cpu: float = 0.0
    sampler_cpu: float | None = None
    machine_cpu: float = 0.0  # percent of all cores
    other_cpu: float = 0.0  # percent of one core used by anything else: high means a noisy round
    samples: int | None = None  # lines the sampler wrote
    target_cpu_ms_per_req: float = 0.0
    wall_s: float = 0.0
    messages: list[str] = field(default_factory=list)


def run_round(r: Round, url: str, target: psutil.Process, workdir: Path, interval_s: float, gpu: bool) -> Round:
    folder = workdir / f"round-{r.index:02d}-{r.mode}"
    folder.mkdir()
    sampler = None
    if r.mode in SAMPLED:
        sampler = SamplerProcess(target.pid, folder, interval_s, gpu=gpu)
        # It writes sampler.json once set up and about to sample: start the load after that.
        deadline = time.monotonic() + 15
        while not (folder / SAMPLER_INFO).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    spec = write_spec(folder, url, r.users, r.duration_s, bare=r.mode not in RECORDED)
    t_start = time.monotonic()
    worker = start_worker(spec, folder)
    wproc = psutil.Process(worker.pid)
    sproc = psutil.Process(sampler.proc.pid) if sampler is not None else None
    first: tuple[float, float, float, float, tuple[float, float]] | None = None
    end_msg: dict[str, Any] | None = None
    try:
        assert worker.stdout is not None
        for raw in worker.stdout:
            try:
                msg = json.loads(raw)
            except json.JSONDecodeError:
                continue
            kind = msg.get("type")
            if kind == "tick" and first is None:
                first = (time.monotonic(), tree_cpu_s(target), tree_cpu_s(wproc), tree_cpu_s(sproc), machine_busy())
            elif kind == "stage_end":
                end_msg = msg
                if first is not None:
                    now = time.monotonic()
                    span = max(now - first[0], 1e-9)
                    r.target_cpu = 100.0 * (tree_cpu_s(target) - first[1]) / span
                    r.worker_cpu = 100.0 * (tree_cpu_s(wproc) - first[2]) / span
                    if sproc is not None:
                        r.sampler_cpu = 100.0 * (tree_cpu_s(sproc) - first[3]) / span
                    busy, total = machine_busy()
                    r.machine_cpu = 100.0 * (busy - first[4][0]) / max(total - first[4][1], 1e-9)
                    ours = r.target_cpu + r.worker_cpu + (r.sampler_cpu or 0.0)
                    r.other_cpu = max(0.0, r.machine_cpu * (psutil.cpu_count() or 1) - ours)
            elif kind == "done":
                r.messages.append(f"done: {msg.get('reason')}")
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            stop_process_group(worker, grace_s=(0.1, 5.0))
        if sampler is not None:
            sampler.stop()
    r.wall_s = time.monotonic() - t_start
    if end_msg is None:
        tail = (folder / "loadgen.log").read_text(errors="replace").strip().splitlines()[-5:]
        raise SystemExit(f"round {r.index} ({r.mode}): the worker gave no stage_end. Log: {' | '.join(tail)}")
    r.requests = int(end_msg["requests"])
    r.rps = float(end_msg["rps"])
    if r.rps > 0:
        r.target_cpu_ms_per_req = 10.0 * r.target_cpu / r.rps  # (cpu% / 100) core-seconds per second / rps, in ms
    if r.mode in RECORDED:
        r.p50_ms = float(end_msg.get("p50") or 0.0)
        samples = folder / "samples.jsonl"
        r.samples = sum(1 for _ in samples.open()) if samples.exists() else 0
    return r


def summarise(rounds: list[Round], max_other: float = 15.0) -> dict[str, Any]:
    bare = [r for r in rounds if r.mode == "bare"]
    full = [r for r in rounds if r.mode == "full"]
    pairs = list(zip(bare, full, strict=False))
    ratios = [b.rps / a.rps for a, b in pairs if a.rps > 0]
    # Pairs in which nothing else took more than max_other % of a core in either round.
    clean = [b.rps / a.rps for a, b in pairs if a.rps > 0 and max(a.other_cpu, b.other_cpu) <= max_other]
    mean_bare = statistics.fmean(r.rps for r in bare) if bare else 0.0
    mean_full = statistics.fmean(r.rps for r in full) if full else 0.0
    median_ratio = statistics.median(ratios) if ratios else 0.0
    summary: dict[str, Any] = {
        "pair_ratios": ratios,
        "median_pair_ratio": median_ratio,
        "ratio_of_means": mean_full / mean_bare if mean_bare else 0.0,
        "mean_rps_bare": mean_bare,
        "mean_rps_full": mean_full,
        # Round-to-round noise of the baseline itself, to read the ratio against.
        "bare_spread": (max(r.rps for r in bare) / min(r.rps for r in bare) - 1.0) if bare else 0.0,
        "mean_target_cpu_bare": statistics.fmean(r.target_cpu for r in bare) if bare else 0.0,
        "mean_target_cpu_full": statistics.fmean(r.target_cpu for r in full) if full else 0.0,
        "mean_worker_cpu_bare": statistics.fmean(r.worker_cpu for r in bare) if bare else 0.0,
        "mean_worker_cpu_full": statistics.fmean(r.worker_cpu for r in full) if full else 0.0,
        "mean_sampler_cpu": statistics.fmean(r.sampler_cpu or 0.0 for r in full) if full else 0.0,
        "mean_target_cpu_ms_per_req_bare": statistics.fmean(r.target_cpu_ms_per_req for r in bare) if bare else 0.0,
        "mean_target_cpu_ms_per_req_full": statistics.fmean(r.target_cpu_ms_per_req for r in full) if full else 0.0,
        "max_other_cpu": max((r.other_cpu for r in rounds), default=0.0),
        "max_other_allowed": max_other,
        "clean_pair_ratios": clean,
        "median_clean_pair_ratio": statistics.median(clean) if clean else None,
        "goal": GOAL,
        "met": median_ratio >= GOAL,
    }
    extra = sorted({r.mode for r in rounds} - {"bare", "full"})
    if extra:
        # Ablation rounds: each mode's mean throughput against the bare mean.
        summary["ablation_ratio_of_means"] = {
            m: statistics.fmean(r.rps for r in rounds if r.mode == m) / mean_bare if mean_bare else 0.0
            for m in ["full", *extra]
        }
    return summary


def print_table(rounds: list[Round], summary: dict[str, Any]) -> None:
    head = (
        f"{'round':>5} {'mode':<7} {'requests':>8} {'rps':>8} {'target%':>8} {'tgt ms/req':>10}"
        f" {'worker%':>8} {'sampler%':>8} {'machine%':>8} {'other%':>7}"
    )
    print(head)
    print("-" * len(head))
    for r in rounds:
        if r.mode == "warmup":
            continue
        sampler = f"{r.sampler_cpu:8.1f}" if r.sampler_cpu is not None else f"{'-':>8}"
        print(
            f"{r.index:>5} {r.mode:<7} {r.requests:>8} {r.rps:8.1f} {r.target_cpu:8.1f}"
            f" {r.target_cpu_ms_per_req:10.2f} {r.worker_cpu:8.1f}"
            f" {sampler} {r.machine_cpu:8.1f} {r.other_cpu:7.1f}"
        )
    print()
    ratios = ", ".join(f"{x:.3f}" for x in summary["pair_ratios"])
    print(f"per-pair full/bare: {ratios}")
    print(f"median pair ratio:  {summary['median_pair_ratio']:.3f}")
    print(
        f"ratio of means:     {summary['ratio_of_means']:.3f}"
        f"  ({summary['mean_rps_full']:.1f} / {summary['mean_rps_bare']:.1f} rps)"
    )
    if summary["clean_pair_ratios"]:
        print(
            f"quiet pairs only:   median {summary['median_clean_pair_ratio']:.3f} over"
            f" {len(summary['clean_pair_ratios'])} pair(s) with other% <= {summary['max_other_allowed']:g}"
        )
    else:
        print(f"quiet pairs only:   none (every pair had a round with other% > {summary['max_other_allowed']:g})")
    print(f"other CPU:          max {summary['max_other_cpu']:.0f}% of a core (anything else running: noise)")
    print(f"bare spread:        {summary['bare_spread']:.1%} (max/min - 1 over bare rounds)")
    for mode, ratio in summary.get("ablation_ratio_of_means", {}).items():
        print(f"ablation {mode + '/bare:':<13} {ratio:.3f} (ratio of means)")
    verdict = "MET" if summary["met"] else "MISSED"
    print(f"goal full >= {GOAL:.2f}x bare: {verdict}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--app", type=Path, default=ROOT / "examples" / "cpu_bound.py", help="example app to target")
    p.add_argument("--path", default="/predict", help="request path (default /predict)")
    p.add_argument("--users", type=int, default=16)
    p.add_argument("--duration", type=float, default=8.0, help="seconds per measured round")
    p.add_argument("--rounds", type=int, default=6, help="measured rounds, alternating bare, full, ...")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of a discarded bare round first (0: none)")
    p.add_argument("--interval", type=float, default=0.1, help="sampler interval in seconds")
    p.add_argument("--gpu", action="store_true", help="let the sampler read GPUs as well (off by default)")
    p.add_argument(
        "--ablate",
        action="store_true",
        help="cycle bare, full, record (recording, no sampler), sampler (bare worker + sampler) to split the cost",
    )
    p.add_argument(
        "--max-other",
        type=float,
        default=15.0,
        help="a pair counts as quiet when nothing else used more than this %% of a core (default 15)",
    )
    p.add_argument("--json", type=Path, default=None, help="write the results to this file")
    args = p.parse_args(argv)
    if args.rounds < 2:
        p.error("--rounds must be at least 2 (one bare and one full)")
    if args.users < 1 or args.duration <= 0:
        p.error("--users must be >= 1 and --duration > 0")

    port = free_port()
    url = f"http://127.0.0.1:{port}{args.path}"
    target_proc = start_target(args.app, port)
    rounds: list[Round] = []
    try:
        wait_ready(url, target_proc, timeout_s=30)
        target = psutil.Process(target_proc.pid)
        with tempfile.TemporaryDirectory(prefix="sampling-overhead-") as tmp:
            workdir = Path(tmp)
            plan: list[tuple[str, float]] = []
            if args.warmup > 0:
                plan.append(("warmup", args.warmup))
            cycle = ("bare", "full", "record", "sampler") if args.ablate else ("bare", "full")
            plan += [(cycle[i % len(cycle)], args.duration) for i in range(args.rounds)]
            for i, (mode, duration) in enumerate(plan):
                # The warm-up is a bare round whose figures are thrown away.
                run_mode = "bare" if mode == "warmup" else mode
                r = run_round(
                    Round(index=i, mode=run_mode, users=args.users, duration_s=duration),
                    url,
                    target,
                    workdir,
                    args.interval,
                    args.gpu,
                )
                r.mode = mode
                rounds.append(r)
                print(f"round {i} {mode:<7} {r.rps:8.1f} rps  target {r.target_cpu:5.1f}%", file=sys.stderr)
    finally:
        stop_process_group(target_proc, grace_s=(3.0, 2.0))

    measured = [r for r in rounds if r.mode != "warmup"]
    summary = summarise(measured, args.max_other)
    print()
    print_table(measured, summary)
    if args.json is not None:
        result = {
            "benchmark": "sampling_overhead",
            "app": str(args.app),
            "path": args.path,
            "users": args.users,
            "duration_s": args.duration,
            "rounds": args.rounds,
            "ablate": args.ablate,
            "warmup_s": args.warmup,
            "sampler_interval_s": args.interval,
            "machine": {
                "cpus": psutil.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
            },
            "results": [asdict(r) for r in measured],
            "summary": summary,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
