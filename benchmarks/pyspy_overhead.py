"""What attaching py-spy costs the TARGET, as a ratio of its throughput.

py-spy records in its default blocking mode (`PySpyRecording`: --idle --subprocesses
--full-filenames): the target is paused for every sample, so stacks are consistent but the
target loses time. This measures how much, side by side in one invocation. One target process is
started once (by default `examples/cpu_bound.py`, whose throughput is limited by its own CPU and
the GIL, so time taken from it shows up as lost requests), then rounds alternate:

  (a) off:    the load worker alone (normal recording, a one-stage closed plan, probe off,
              `profile_s` null), no sampler;
  (b) py-spy: the same load with `py-spy record --rate R` attached to the target for the round,
              started through `profiler.sampling.pyspy.PySpyRecording` just before the worker and
              stopped (SIGINT, it writes its file) right after the stage ends.

The worker is driven as the product drives it (spec JSON, `python -m profiler.load.worker SPEC`,
JSON progress lines on stdout); each round's figure is the `stage_end` message's `rps`. CPU is
read with psutil from the worker's first progress tick to `stage_end`: the target, the worker,
py-spy itself, and the whole machine. Reported per rate: the per-pair ratios py-spy/off (each
py-spy round against the off round just before it), their median, and the ratio of means.
`--rates 50,100,200` cycles off, 50, off, 100, off, 200, ... to compare rates in one run
(`--rounds` is rounded up so that every rate gets the same number of pairs).
`--native` adds rounds with `py-spy --native` (C frames unwound too: `profiler run --pyspy-native`):
off, py-spy, off, py-spy --native, ...; each is paired with the off round before it, and the ratio
of the two median pair ratios is what --native costs beyond plain py-spy.

There is no pass/fail goal: the figure is what the report's design relies on (the worker comment
says "py-spy costs the target 7-13% at 100 Hz"), which is why `profiler run` profiles a dedicated
extra stage (`profile_s`, marked `profiled` in the report) and takes capacity and scaling only from
the unprofiled stages.

If py-spy cannot run here (not installed, not permitted to trace), one line says why and the
script exits 0.

    python benchmarks/pyspy_overhead.py                          # 6 rounds of 6 s at 8 users, --rate 100
    python benchmarks/pyspy_overhead.py --rates 50,100,200 --rounds 12 --json out.json
    python benchmarks/pyspy_overhead.py --native --rounds 24

Everything goes to 127.0.0.1 only; round folders go to a temporary directory that is removed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    ROOT,
    free_port,
    machine_busy,
    machine_info,
    start_target,
    start_worker,
    stop_process_group,
    tree_cpu_s,
    wait_ready,
    write_spec,
)

from profiler.analysis.attribution.stacks import parse_collapsed  # noqa: E402
from profiler.base.errors import PySpyUnavailable  # noqa: E402
from profiler.sampling.pyspy import PySpyRecording, probe_access  # noqa: E402


@dataclass
class Round:
    index: int
    mode: str  # "off", "pyspy" or "warmup"
    rate: int | None  # py-spy's sampling rate, None when off
    native: bool = False  # py-spy --native: C frames unwound too
    users: int = 8
    duration_s: float = 6.0
    requests: int = 0
    rps: float = 0.0
    p50_ms: float = 0.0
    # CPU in percent of one core, from the first progress tick to stage_end
    target_cpu: float = 0.0
    worker_cpu: float = 0.0
    pyspy_cpu: float | None = None
    machine_cpu: float = 0.0  # percent of all cores
    other_cpu: float = 0.0  # percent of one core used by anything else: high means a noisy round
    target_cpu_ms_per_req: float = 0.0
    pyspy_samples: int | None = None  # stack samples in py-spy's output (all threads)
    pyspy_behind: int | None = None  # py-spy's "behind in sampling" warnings
    wall_s: float = 0.0
    messages: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"py-spy@{self.variant}" if self.mode == "pyspy" else self.mode

    @property
    def variant(self) -> str:
        """The py-spy setting this round ran: its rate, `+native` with --native."""
        return f"{self.rate}{'+native' if self.native else ''}"


def run_round(r: Round, url: str, target: psutil.Process, workdir: Path) -> Round:
    folder = workdir / f"round-{r.index:02d}-{r.mode}{r.variant if r.rate else ''}"
    folder.mkdir()
    rec: PySpyRecording | None = None
    if r.mode == "pyspy":
        assert r.rate is not None
        # Longer than the round: it is stopped with SIGINT right after stage_end.
        rec = PySpyRecording(
            target.pid, folder / "pyspy.txt", duration_s=int(r.duration_s) + 60, rate=r.rate, native=r.native
        )
        rec.start()  # PySpyUnavailable propagates: checked once up front, so this is unexpected
    spec = write_spec(folder, url, r.users, r.duration_s)
    t_start = time.monotonic()
    worker = start_worker(spec, folder)
    wproc = psutil.Process(worker.pid)
    # PySpyRecording keeps its Popen private; its pid is what psutil needs.
    pproc = psutil.Process(rec._proc.pid) if rec is not None and rec._proc is not None else None
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
                if rec is not None and not rec.running:
                    rec.wait(timeout=5)  # exited early: raises PySpyUnavailable with py-spy's reason
                first = (time.monotonic(), tree_cpu_s(target), tree_cpu_s(wproc), tree_cpu_s(pproc), machine_busy())
            elif kind == "stage_end":
                end_msg = msg
                if first is not None:
                    span = max(time.monotonic() - first[0], 1e-9)
                    r.target_cpu = 100.0 * (tree_cpu_s(target) - first[1]) / span
                    r.worker_cpu = 100.0 * (tree_cpu_s(wproc) - first[2]) / span
                    if pproc is not None:
                        r.pyspy_cpu = 100.0 * (tree_cpu_s(pproc) - first[3]) / span
                    busy, total = machine_busy()
                    r.machine_cpu = 100.0 * (busy - first[4][0]) / max(total - first[4][1], 1e-9)
                    ours = r.target_cpu + r.worker_cpu + (r.pyspy_cpu or 0.0)
                    r.other_cpu = max(0.0, r.machine_cpu * (psutil.cpu_count() or 1) - ours)
                if rec is not None:
                    rec.stop()  # right away: py-spy should not outlive the measured stage
            elif kind == "done":
                r.messages.append(f"done: {msg.get('reason')}")
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            stop_process_group(worker, grace_s=(0.1, 5.0))
        if rec is not None and rec.running:
            rec.stop()
    r.wall_s = time.monotonic() - t_start
    if end_msg is None:
        tail = (folder / "loadgen.log").read_text(errors="replace").strip().splitlines()[-5:]
        raise SystemExit(f"round {r.index} ({r.label}): the worker gave no stage_end. Log: {' | '.join(tail)}")
    r.requests = int(end_msg["requests"])
    r.rps = float(end_msg["rps"])
    r.p50_ms = float(end_msg.get("p50") or 0.0)
    if r.rps > 0:
        r.target_cpu_ms_per_req = 10.0 * r.target_cpu / r.rps  # (cpu% / 100) core-s per s / rps, in ms
    if rec is not None:
        r.pyspy_samples = parse_collapsed(rec.read_stacks()).total_samples
        r.pyspy_behind = sum(1 for line in rec.log.splitlines() if "behind in sampling" in line)
    return r


def preflight(pid: int, workdir: Path, rate: int) -> str | None:
    """None when py-spy can record `pid` here; else the one-line reason."""
    if probe_access(pid) == "denied":
        return f"py-spy: not permitted to read process {pid} (ptrace access denied)."
    rec = PySpyRecording(pid, workdir / "preflight.txt", duration_s=1, rate=rate)
    try:
        rec.start()
        rec.wait(timeout=15)
    except PySpyUnavailable as e:
        return str(e)
    return None


def summarise(rounds: list[Round], variants: list[str], max_other: float) -> dict[str, Any]:
    off = [r for r in rounds if r.mode == "off"]
    by_rate: dict[str, Any] = {}
    for variant in variants:
        # Each py-spy round is paired with the off round just before it.
        pairs = [
            (rounds[i - 1], r)
            for i, r in enumerate(rounds)
            if r.mode == "pyspy" and r.variant == variant and i > 0 and rounds[i - 1].mode == "off"
        ]
        ratios = [b.rps / a.rps for a, b in pairs if a.rps > 0]
        clean = [b.rps / a.rps for a, b in pairs if a.rps > 0 and max(a.other_cpu, b.other_cpu) <= max_other]
        mean_off = statistics.fmean(a.rps for a, _ in pairs) if pairs else 0.0
        mean_on = statistics.fmean(b.rps for _, b in pairs) if pairs else 0.0
        on = [b for _, b in pairs]
        # The target is stopped while py-spy reads it, so its CPU share falls by the time it was
        # paused; with unchanged CPU per request that is the throughput lost, and it varies less
        # from round to round than rps does on a shared machine.
        cpu_ratios = [b.target_cpu / a.target_cpu for a, b in pairs if a.target_cpu > 0]
        by_rate[variant] = {
            "pairs": len(pairs),
            "pair_ratios": ratios,
            "median_pair_ratio": statistics.median(ratios) if ratios else None,
            "ratio_of_means": mean_on / mean_off if mean_off else None,
            "mean_rps_off": mean_off,
            "mean_rps_pyspy": mean_on,
            "mean_pyspy_cpu": statistics.fmean(b.pyspy_cpu or 0.0 for b in on) if on else None,
            "mean_target_cpu_off": statistics.fmean(a.target_cpu for a, _ in pairs) if pairs else None,
            "mean_target_cpu_pyspy": statistics.fmean(b.target_cpu for b in on) if on else None,
            "mean_target_cpu_ms_per_req_off": statistics.fmean(a.target_cpu_ms_per_req for a, _ in pairs)
            if pairs
            else None,
            "mean_target_cpu_ms_per_req_pyspy": statistics.fmean(b.target_cpu_ms_per_req for b in on) if on else None,
            "mean_p50_ms_off": statistics.fmean(a.p50_ms for a, _ in pairs) if pairs else None,
            "mean_p50_ms_pyspy": statistics.fmean(b.p50_ms for b in on) if on else None,
            "pyspy_samples_per_s": statistics.fmean((b.pyspy_samples or 0) / b.duration_s for b in on) if on else None,
            "pyspy_behind_warnings": sum(b.pyspy_behind or 0 for b in on),
            "target_cpu_pair_ratios": cpu_ratios,
            "median_target_cpu_ratio": statistics.median(cpu_ratios) if cpu_ratios else None,
            "clean_pair_ratios": clean,
            "median_clean_pair_ratio": statistics.median(clean) if clean else None,
        }
    native = {
        v: s["median_pair_ratio"] / by_rate[v.removesuffix("+native")]["median_pair_ratio"]
        for v, s in by_rate.items()
        if v.endswith("+native")
        and s["median_pair_ratio"]
        and by_rate.get(v.removesuffix("+native"), {}).get("median_pair_ratio")
    }
    return {
        "by_rate": by_rate,
        # --native's throughput against plain py-spy at the same rate: the ratio of their median pair ratios.
        "native_vs_plain": native,
        "off_spread": (max(r.rps for r in off) / min(r.rps for r in off) - 1.0) if off else 0.0,
        "max_other_cpu": max((r.other_cpu for r in rounds), default=0.0),
        "max_other_allowed": max_other,
    }


def print_table(rounds: list[Round], summary: dict[str, Any]) -> None:
    head = (
        f"{'round':>5} {'mode':<11} {'requests':>8} {'rps':>8} {'p50 ms':>7} {'target%':>8} {'tgt ms/req':>10}"
        f" {'worker%':>8} {'py-spy%':>8} {'machine%':>8} {'other%':>7}"
    )
    print(head)
    print("-" * len(head))
    for r in rounds:
        pyspy = f"{r.pyspy_cpu:8.1f}" if r.pyspy_cpu is not None else f"{'-':>8}"
        print(
            f"{r.index:>5} {r.label:<11} {r.requests:>8} {r.rps:8.1f} {r.p50_ms:7.1f} {r.target_cpu:8.1f}"
            f" {r.target_cpu_ms_per_req:10.2f} {r.worker_cpu:8.1f} {pyspy} {r.machine_cpu:8.1f} {r.other_cpu:7.1f}"
        )
    print()
    for rate, s in summary["by_rate"].items():
        ratios = ", ".join(f"{x:.3f}" for x in s["pair_ratios"])
        flags = f"--rate {rate.removesuffix('+native')}" + (" --native" if rate.endswith("+native") else "")
        print(f"py-spy {flags}: {s['pairs']} pair(s)")
        print(f"  per-pair py-spy/off: {ratios}")
        if s["median_pair_ratio"] is not None:
            print(f"  median pair ratio:   {s['median_pair_ratio']:.3f}  (cost {1 - s['median_pair_ratio']:.1%})")
            print(
                f"  ratio of means:      {s['ratio_of_means']:.3f}"
                f"  ({s['mean_rps_pyspy']:.1f} / {s['mean_rps_off']:.1f} rps)"
            )
            print(
                f"  py-spy's own CPU:    {s['mean_pyspy_cpu']:.1f}% of a core;"
                f" {s['pyspy_samples_per_s']:.0f} stack samples/s recorded"
                f"; 'behind' warnings: {s['pyspy_behind_warnings']}"
            )
            print(
                f"  target CPU:          {s['mean_target_cpu_off']:.1f}% off, {s['mean_target_cpu_pyspy']:.1f}% py-spy"
                f" ({s['mean_target_cpu_ms_per_req_off']:.2f} vs {s['mean_target_cpu_ms_per_req_pyspy']:.2f} ms/req);"
                f" median pair ratio {s['median_target_cpu_ratio']:.3f}"
            )
        if s["clean_pair_ratios"]:
            print(
                f"  quiet pairs only:    median {s['median_clean_pair_ratio']:.3f} over"
                f" {len(s['clean_pair_ratios'])} pair(s) with other% <= {summary['max_other_allowed']:g}"
            )
        else:
            print(
                f"  quiet pairs only:    none (every pair had a round with other% > {summary['max_other_allowed']:g})"
            )
    for variant, ratio in summary["native_vs_plain"].items():
        print(f"--native at {variant.removesuffix('+native')} Hz vs plain py-spy: {ratio:.3f} (median pair ratios)")
    print(f"off spread:   {summary['off_spread']:.1%} (max/min - 1 over off rounds: round-to-round noise)")
    print(f"other CPU:    max {summary['max_other_cpu']:.0f}% of a core (anything else running: noise)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--app", type=Path, default=ROOT / "examples" / "cpu_bound.py", help="example app to target")
    p.add_argument("--path", default="/predict", help="request path (default /predict)")
    p.add_argument("--users", type=int, default=8)
    p.add_argument("--duration", type=float, default=6.0, help="seconds per measured round")
    p.add_argument("--rounds", type=int, default=6, help="measured rounds, alternating off, py-spy, ...")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of a discarded off round first (0: none)")
    p.add_argument("--rate", type=int, default=100, help="py-spy sampling rate in Hz (default 100)")
    p.add_argument("--rates", default=None, help="several rates to compare, e.g. 50,100,200 (overrides --rate)")
    p.add_argument(
        "--max-other",
        type=float,
        default=15.0,
        help="a pair counts as quiet when nothing else used more than this %% of a core (default 15)",
    )
    p.add_argument(
        "--native",
        action="store_true",
        help="also rounds with py-spy --native at each rate (cycle: off, py-spy, off, py-spy --native)",
    )
    p.add_argument("--json", type=Path, default=None, help="write the results to this file")
    args = p.parse_args(argv)
    try:
        rates = [int(x) for x in args.rates.split(",")] if args.rates else [args.rate]
    except ValueError:
        p.error("--rates takes integers separated by commas, e.g. 50,100,200")
    if any(r < 1 or r > 1000 for r in rates):
        p.error("py-spy rates must be between 1 and 1000 Hz")
    if args.rounds < 2:
        p.error("--rounds must be at least 2 (one off and one py-spy)")
    if args.users < 1 or args.duration <= 0:
        p.error("--users must be >= 1 and --duration > 0")
    cycle: list[tuple[str, int | None, bool]] = []
    for rate in rates:
        cycle += [("off", None, False), ("pyspy", rate, False)]
        if args.native:
            cycle += [("off", None, False), ("pyspy", rate, True)]
    n_rounds = -(-args.rounds // len(cycle)) * len(cycle)

    port = free_port()
    url = f"http://127.0.0.1:{port}{args.path}"
    target_proc = start_target(args.app, port)
    rounds: list[Round] = []
    try:
        wait_ready(url, target_proc, timeout_s=30)
        target = psutil.Process(target_proc.pid)
        with tempfile.TemporaryDirectory(prefix="pyspy-overhead-") as tmp:
            workdir = Path(tmp)
            reason = preflight(target.pid, workdir, rates[0])
            if reason is not None:
                print(f"skipped: {reason}")
                return 0
            plan: list[tuple[str, int | None, bool, float]] = []
            if args.warmup > 0:
                plan.append(("warmup", None, False, args.warmup))
            plan += [(*cycle[i % len(cycle)], args.duration) for i in range(n_rounds)]
            for i, (mode, rate, native, duration) in enumerate(plan):
                run_mode = "off" if mode == "warmup" else mode  # the warm-up is an off round, thrown away
                try:
                    r = run_round(Round(i, run_mode, rate, native, args.users, duration), url, target, workdir)
                except PySpyUnavailable as e:
                    print(f"skipped: {e}")
                    return 0
                r.mode = mode
                rounds.append(r)
                cpu = f"  py-spy {r.pyspy_cpu:5.1f}%" if r.pyspy_cpu is not None else ""
                print(
                    f"round {i} {r.label:<11} {r.rps:8.1f} rps  target {r.target_cpu:5.1f}%{cpu}",
                    file=sys.stderr,
                )
    finally:
        stop_process_group(target_proc, grace_s=(3.0, 2.0))

    measured = [r for r in rounds if r.mode != "warmup"]
    variants = [f"{rate}{suffix}" for rate in rates for suffix in ("", "+native") if suffix == "" or args.native]
    summary = summarise(measured, variants, args.max_other)
    print()
    print_table(measured, summary)
    if args.json is not None:
        result = {
            "benchmark": "pyspy_overhead",
            "app": str(args.app),
            "path": args.path,
            "users": args.users,
            "duration_s": args.duration,
            "rounds": n_rounds,
            "rates": rates,
            "native": args.native,
            "warmup_s": args.warmup,
            "machine": machine_info(),
            "results": [asdict(r) for r in measured],
            "summary": summary,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
