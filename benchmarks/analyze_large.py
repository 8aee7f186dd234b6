"""How long `profiler analyze` takes, and how much memory it needs, on a run of 1,000,000 requests.

A synthetic but realistic run folder is written first (seeded, so every invocation analyses the
same data):

  meta.json      status "completed", the config of a `profiler run` (url, SLO p95=300ms), sampler
                 info (ncpu 2, interval 0.1 s), target info; no py-spy stage
  stages.jsonl   7 closed-model stages of 1, 2, 4, ... 64 users, start and end events; equal
                 lengths chosen so that the stages hold N requests at the throughput below
  requests.csv   REQUEST_COLUMNS rows written by csv.writer with the worker's number formats, in
                 completion order within each stage. Main requests: throughput that saturates
                 near 8.5x the 1-user rate (100 rps at 1 user), latency = Server-Timing total
                 (features ~2.1 ms + model ~7.3 ms + ~0.5 ms) + lognormal queueing that follows
                 Little's law + a small network term, with a few slow outliers; 0.1-0.5% HTTP 500
                 and a few connection resets; `Server-Timing` on ~97% of the successful rows, by
                 default `features;dur=2.104, model;dur=7.298;desc="infer", total;dur=9.911`
                 (three decimals and a quoted desc, as profiler.handoff's middleware writes
                 them; `--timing-style plain` drops the desc). Probe rows: 1% of N, evenly
                 spread over the run.
  samples.jsonl  10 Hz over the whole span, in the sampler's line format (see the docstring of
                 profiler/sampling/process.py): target cpu/rss/threads/fds/sockets/ctx/per_process,
                 loadgen, machine.

Then `profiler analyze DIR --quiet` runs as a subprocess `--repeat` times (default 3): wall time
measured here, peak memory (max RSS) from `/usr/bin/time -v` when present, else from
getrusage(RUSAGE_CHILDREN). A separate child process then times the phases in-process:
importing the analysis, `read_run`, `build_report`, and serialising + writing report.json (what
`reanalyse` does after build_report), with its resident memory (VmRSS) and peak (VmHWM) after
each. `--profile` adds cProfile's top functions for read_run and build_report.

Goal: `profiler analyze` on 1,000,000 requests in under 5 s wall time and under 300 MB peak
memory (median wall over the repeats; the largest peak).

    python benchmarks/analyze_large.py                          # 1,000,000 requests, 3 repeats
    python benchmarks/analyze_large.py --requests 200000 --profile
    python benchmarks/analyze_large.py --keep /tmp/run-1m --json out.json   # keep (and reuse) the folder

No network traffic; the folder goes to a temporary directory that is removed unless --keep.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, machine_info  # noqa: E402

GOAL_WALL_S = 5.0
GOAL_PEAK_MB = 300.0
MB = 2**20

T0 = 1_700_000_000.0  # a fixed epoch: the same seed gives byte-identical folders
USERS = (1, 2, 4, 8, 16, 32, 64)
# Throughput relative to one user: near-linear, then flat at ~8.5x (a target that saturates).
RELATIVE_RPS = (1.0, 1.96, 3.8, 6.6, 8.1, 8.4, 8.5)
RPS_ONE_USER = 100.0  # ~10 ms of server time per request at one user
SERVICE_MS = 9.9
PROBE_SHARE = 0.01
TIMED_SHARE = 0.97  # of the successful main requests, those carrying Server-Timing
TARGET_PID = 424242
URL = "http://127.0.0.1:8000/predict"
GENERATOR_VERSION = 2  # bump when the folder's contents change, so that --keep does not reuse an old one


# ------------------------------------------------------------------ the synthetic run folder


def _stage_plan(n_main: int) -> tuple[list[int], float]:
    """Requests per stage and the (equal) stage length that gives them at RELATIVE_RPS."""
    total_rel = sum(RELATIVE_RPS)
    counts = [int(n_main * r / total_rel) for r in RELATIVE_RPS]
    counts[-1] += n_main - sum(counts)
    duration = n_main / (RPS_ONE_USER * total_rel)
    return counts, duration


def _main_rows(
    rng: random.Random, stage: int, start: float, duration: float, count: int, timing_style: str
) -> list[tuple[float, tuple[Any, ...]]]:
    """(completion time, row) for the main requests of one stage."""
    users = USERS[stage]
    rps = RPS_ONE_USER * RELATIVE_RPS[stage]
    median_latency = users / rps * 1000.0  # Little's law: what the closed loop settles at
    queue_median = max(0.0, median_latency - SERVICE_MS - 0.4)
    queue_mu = math.log(queue_median) if queue_median > 0.05 else None
    error_rate = 0.001 + 0.0007 * stage  # 0.1% at one user to 0.5% at 64
    lognorm = rng.lognormvariate
    rand = rng.random
    expo = rng.expovariate
    step = duration / max(count, 1)
    quoted = timing_style == "desc"
    out: list[tuple[float, tuple[Any, ...]]] = []
    append = out.append
    for k in range(count):
        t = start + (k + rand()) * step
        u = rand()
        if u < error_rate * 0.02:  # a connection reset now and then
            latency = 0.2 + expo(2.0)
            lat = f"{latency:.3f}"
            append((t + latency / 1000.0, (f"{t:.6f}", lat, lat, 0, 0, "ConnectionResetError", stage, "main", "", "")))
            continue
        features = lognorm(0.742, 0.25)  # median 2.1 ms
        model = lognorm(1.988, 0.2)  # median 7.3 ms
        total = features + model + 0.3 + expo(5.0)
        queue = lognorm(queue_mu, 0.55) if queue_mu is not None else expo(8.0)
        latency = total + queue + 0.25 + expo(10.0)
        if rand() < 0.002:  # slow outliers: a GC pause, a cold cache
            latency *= 4.0 + 6.0 * rand()
        ttfb = latency - 0.03 - 0.1 * rand()
        if u < error_rate:
            status, nbytes, error, timing = 500, 21, "HTTP 500", ""
        else:
            status, nbytes, error = 200, 17 + int(rand() * 4), ""
            if rand() < TIMED_SHARE:
                # Three decimals, as profiler.handoff's ServerTimingMiddleware writes them.
                if quoted:
                    timing = f'features;dur={features:.3f}, model;dur={model:.3f};desc="infer", total;dur={total:.3f}'
                else:
                    timing = f"features;dur={features:.3f}, model;dur={model:.3f}, total;dur={total:.3f}"
            else:
                timing = ""
        append(
            (
                t + latency / 1000.0,
                (f"{t:.6f}", f"{latency:.3f}", f"{ttfb:.3f}", status, nbytes, error, stage, "main", "", timing),
            )
        )
    return out


def _probe_rows(
    rng: random.Random, windows: list[tuple[float, float]], n_probe: int
) -> dict[int, list[tuple[float, tuple[Any, ...]]]]:
    """(completion time, row) of probe requests, evenly spread over the run, by stage."""
    first, last = windows[0][0], windows[-1][1]
    gap = (last - first) / max(n_probe, 1)
    out: dict[int, list[tuple[float, tuple[Any, ...]]]] = {i: [] for i in range(len(windows))}
    stage = 0
    for k in range(n_probe):
        t = first + (k + 0.5) * gap
        while stage < len(windows) - 1 and t >= windows[stage][1]:
            stage += 1
        # The probe slows as the target gets busier (it waits for the same event loop).
        latency = rng.lognormvariate(math.log(1.2 + 0.6 * stage), 0.4)
        row = (f"{t:.6f}", f"{latency:.3f}", f"{latency - 0.02:.3f}", 200, 2, "", stage, "probe", "", "")
        out[stage].append((t + latency / 1000.0, row))
    return out


def _sample_line(rng: random.Random, t: float, stage: int | None, k: int, ctx: list[int]) -> str:
    """One samples.jsonl line as profiler/sampling/process.py writes it."""
    level = RELATIVE_RPS[stage] / RELATIVE_RPS[-1] if stage is not None else 0.0
    users = USERS[stage] if stage is not None else 0
    cpu = 0.0 if k == 0 else max(0.0, min(100.0, 99.0 * level + rng.gauss(0.0, 2.5) + (0.5 if stage is None else 0)))
    rss = int((78.0 + 4.0 * k / 20_000 + 3.0 * level) * MB) + rng.randrange(0, 64) * 4096
    threads = 3 + min(40, users)
    sockets = 2 + users
    ctx[0] += int(8 + 400 * level * rng.random())
    ctx[1] += int(1 + 60 * level * rng.random())
    loadgen = max(0.0, 4.0 + 30.0 * level + rng.gauss(0.0, 2.0)) if stage is not None else 0.0
    machine = min(100.0, (cpu + loadgen + 9.0 + rng.gauss(0.0, 1.5)) / 2.0)
    line = {
        "t": round(t, 4),
        "target": {
            "cpu": round(cpu, 2),
            "rss": rss,
            "threads": threads,
            "procs": 1,
            "fds": sockets + 9,
            "sockets": sockets,
            "ctx_vol": ctx[0],
            "ctx_invol": ctx[1],
            "per_process": {str(TARGET_PID): {"cpu": round(cpu, 2), "rss": rss}},
        },
        "loadgen": {"cpu": round(loadgen, 2), "rss": 61 * MB + rng.randrange(0, 256) * 4096, "threads": 2, "procs": 1},
        "machine": {"cpu": round(max(0.0, machine), 2), "steal": 0.0, "ncpu": 2},
    }
    return json.dumps(line, separators=(",", ":"))


def write_run(folder: Path, n: int, seed: int, timing_style: str) -> dict[str, Any]:
    """Write the synthetic run folder; returns what was written (counts, span)."""
    from profiler.config import RunConfig, parse_slo
    from profiler.record import META, REQUEST_COLUMNS, REQUESTS, SAMPLES, STAGES, write_json_atomic
    from profiler.session import config_meta

    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    n_probe = round(n * PROBE_SHARE)
    n_main = n - n_probe
    counts, duration = _stage_plan(n_main)
    started_at = T0
    ready = 1.2
    first_stage = T0 + ready + 0.3
    windows: list[tuple[float, float]] = []
    t = first_stage
    for _ in USERS:
        windows.append((t, t + duration))
        t += duration + 0.004  # the worker's own gap between stages
    ended_at = windows[-1][1] + 0.6

    config = RunConfig(
        url=URL,
        out=folder,
        launch="python examples/demo_app.py --port 8000",
        duration_s=duration * len(USERS),
        max_users=USERS[-1],
        slo=parse_slo("p95=300ms"),
        gpu=False,
    )
    plan = [{"index": i, "users": u, "rate": None, "planned_s": duration} for i, u in enumerate(USERS)]
    meta = {
        "profiler_version": "synthetic",
        "started_at": started_at,
        "ended_at": ended_at,
        "status": "completed",
        "stop_reason": "completed",
        "config": config_meta(config),
        "target": {
            "pid": TARGET_PID,
            "command": config.launch,
            "attached": False,
            "ready_after_s": ready,
            "exit_code": None,  # still running when the run ended (we stopped it afterwards)
        },
        "notices": [],
        "host": {"python": "3.11.7", "platform": "Linux-synthetic"},
        "profiled_stages": [],
        "plan": plan,
        "sampler": {
            "interval_s": 0.1,
            "ncpu": 2,
            "target_pid": TARGET_PID,
            "gpu": {"available": False, "notice": "GPU sampling off (--no-gpu)."},
            "rapl": {"available": False, "notice": "RAPL energy counters not readable.", "max_range_uj": {}},
        },
        "benchmark": {
            "generator": "benchmarks/analyze_large.py",
            "version": GENERATOR_VERSION,
            "requests": n,
            "seed": seed,
            "timing": timing_style,
        },
    }

    with (folder / STAGES).open("w") as fh:
        for i, (s, e) in enumerate(windows):
            start_ev = {
                "event": "start",
                "index": i,
                "users": USERS[i],
                "rate": None,
                "t": s,
                "planned_s": duration,
                "profiled": False,
            }
            end_ev = {"event": "end", "index": i, "t": e, "requests": counts[i], "stop_reason": None}
            fh.write(json.dumps(start_ev) + "\n" + json.dumps(end_ev) + "\n")

    probes = _probe_rows(rng, windows, n_probe)
    with (folder / REQUESTS).open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(REQUEST_COLUMNS)
        for i, (s, _e) in enumerate(windows):
            rows = _main_rows(rng, i, s, duration, counts[i], timing_style)
            rows.extend(probes[i])
            rows.sort(key=lambda r: r[0])  # the worker appends rows as requests complete
            writer.writerows(r for _, r in rows)
            del rows

    n_samples = 0
    ctx = [0, 0]
    with (folder / SAMPLES).open("w") as fh:
        k = 0
        t = started_at + ready + 0.1
        stage_i = 0
        while t <= ended_at:
            while stage_i < len(windows) and t > windows[stage_i][1]:
                stage_i += 1
            in_stage = stage_i if stage_i < len(windows) and t >= windows[stage_i][0] else None
            fh.write(_sample_line(rng, t + rng.uniform(-0.002, 0.004), in_stage, k, ctx) + "\n")
            k += 1
            t = started_at + ready + 0.1 * (k + 1)
        n_samples = k
    write_json_atomic(folder / META, meta)
    return {
        "requests": n,
        "main": n_main,
        "probe": n_probe,
        "per_stage": counts,
        "stage_s": duration,
        "span_s": ended_at - started_at,
        "samples": n_samples,
        "requests_csv_mb": (folder / REQUESTS).stat().st_size / MB,
        "samples_jsonl_mb": (folder / SAMPLES).stat().st_size / MB,
    }


def _reusable(folder: Path, n: int, seed: int, timing_style: str) -> dict[str, Any] | None:
    """The folder's description when --keep points at a folder this script wrote with the same
    settings (generating 1M rows takes a while)."""
    try:
        meta = json.loads((folder / "meta.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None
    mark = meta.get("benchmark") or {}
    wanted = {"version": GENERATOR_VERSION, "requests": n, "seed": seed, "timing": timing_style}
    if any(mark.get(k) != v for k, v in wanted.items()):
        return None
    return {
        "requests": n,
        "reused": True,
        "requests_csv_mb": (folder / "requests.csv").stat().st_size / MB,
        "samples_jsonl_mb": (folder / "samples.jsonl").stat().st_size / MB,
    }


# ------------------------------------------------------------------ measuring


def profiler_command() -> list[str]:
    """The `profiler` console script of this environment, else `python -m profiler`."""
    script = Path(sys.executable).parent / "profiler"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    found = shutil.which("profiler")
    return [found] if found else [sys.executable, "-m", "profiler"]


_MAXRSS = re.compile(r"Maximum resident set size \(kbytes\):\s*(\d+)")


def time_analyze(folder: Path) -> dict[str, Any]:
    """One `profiler analyze DIR --quiet` as a subprocess: wall time and peak RSS."""
    cmd = [*profiler_command(), "analyze", str(folder), "--quiet"]
    gnu_time = Path("/usr/bin/time")
    use_time = gnu_time.is_file() and os.access(gnu_time, os.X_OK)
    if use_time:
        cmd = [str(gnu_time), "-v", *cmd]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"`{' '.join(cmd)}` failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    peak_mb: float | None = None
    source = "getrusage(RUSAGE_CHILDREN)"
    if use_time:
        m = _MAXRSS.search(proc.stderr)
        if m:
            peak_mb = int(m.group(1)) / 1024.0
            source = "/usr/bin/time -v"
    if peak_mb is None:
        import resource

        # The largest child so far: fine here, since each analyze is the largest child we run.
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    return {"wall_s": wall, "peak_mb": peak_mb, "peak_source": source}


def _vm(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def phases(folder: Path, profile: bool, top: int) -> dict[str, Any]:
    """Run in a fresh child (`--phases DIR`): the analysis step by step, in-process."""
    out: dict[str, Any] = {"rss_start_mb": _vm("VmRSS")}
    t0 = time.perf_counter()
    from profiler.record import REPORT, read_run, write_json_atomic
    from profiler.report.build import build_report

    out["import_s"] = time.perf_counter() - t0
    out["rss_after_import_mb"] = _vm("VmRSS")
    profiles: dict[str, str] = {}

    def timed(name: str, fn: Any, *args: Any) -> Any:
        if profile:
            import cProfile
            import io
            import pstats

            prof = cProfile.Profile()
            t = time.perf_counter()
            result = prof.runcall(fn, *args)
            out[f"{name}_s_profiled"] = time.perf_counter() - t
            buf = io.StringIO()
            pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(top)
            profiles[name] = buf.getvalue()
            return result
        t = time.perf_counter()
        result = fn(*args)
        out[f"{name}_s"] = time.perf_counter() - t
        return result

    run = timed("read_run", read_run, folder)
    out["rss_after_read_mb"] = _vm("VmRSS")
    out["hwm_after_read_mb"] = _vm("VmHWM")
    report = timed("build_report", build_report, run)
    out["rss_after_build_mb"] = _vm("VmRSS")
    out["hwm_after_build_mb"] = _vm("VmHWM")
    t = time.perf_counter()
    write_json_atomic(folder / REPORT, report.model_dump(mode="json", by_alias=True))
    out["write_report_s"] = time.perf_counter() - t
    out["hwm_end_mb"] = _vm("VmHWM")
    out["requests_read"] = sum(r.count + len(r.probe_latency) for r in run.requests.values())
    out["report_requests"] = report.load.requests
    if profiles:
        out["profiles"] = profiles
    return out


def run_phases_child(folder: Path, profile: bool, top: int) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--phases", str(folder), "--top", str(top)]
    if profile:
        cmd.append("--profile")
    proc = subprocess.run(cmd, cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"phase timing failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=1_000_000, help="requests in the run (default 1,000,000)")
    p.add_argument("--keep", type=Path, default=None, help="write the run folder here and keep it (reused if same)")
    p.add_argument("--json", type=Path, default=None, help="write the results to this file")
    p.add_argument("--repeat", type=int, default=3, help="timed `profiler analyze` runs (default 3)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--timing-style",
        choices=("desc", "plain"),
        default="desc",
        help='Server-Timing with a quoted desc="infer" on the model entry (default), or without',
    )
    p.add_argument("--profile", action="store_true", help="also cProfile read_run and build_report (top functions)")
    p.add_argument("--top", type=int, default=15, help="functions listed per profile (default 15)")
    p.add_argument("--phases", type=Path, default=None, help=argparse.SUPPRESS)  # internal: the phase child
    args = p.parse_args(argv)
    if args.phases is not None:
        print(json.dumps(phases(args.phases, args.profile, args.top)))
        return 0
    if args.requests < 100 or args.repeat < 1:
        p.error("--requests must be >= 100 and --repeat >= 1")

    tmp: tempfile.TemporaryDirectory[str] | None = None
    if args.keep is not None:
        folder = args.keep
    else:
        tmp = tempfile.TemporaryDirectory(prefix="analyze-large-")
        folder = Path(tmp.name) / "run"
    try:
        written = _reusable(folder, args.requests, args.seed, args.timing_style) if args.keep else None
        if written is None:
            if folder.exists() and any(folder.iterdir()):
                if not (folder / "meta.json").exists() or not _is_ours(folder):
                    raise SystemExit(f"{folder} is not empty and was not written by this script; choose another --keep")
                shutil.rmtree(folder)
            t = time.perf_counter()
            written = write_run(folder, args.requests, args.seed, args.timing_style)
            written["generate_s"] = time.perf_counter() - t
            print(
                f"wrote {args.requests:,} requests ({written['requests_csv_mb']:.0f} MB csv, "
                f"{written['samples']:,} samples) in {written['generate_s']:.1f} s to {folder}",
                file=sys.stderr,
            )
        else:
            print(f"reusing {folder}", file=sys.stderr)

        runs = []
        for i in range(args.repeat):
            r = time_analyze(folder)
            runs.append(r)
            print(f"analyze {i + 1}/{args.repeat}: {r['wall_s']:.2f} s, peak {r['peak_mb']:.0f} MB", file=sys.stderr)
        ph = run_phases_child(folder, profile=False, top=args.top)
        prof = run_phases_child(folder, profile=True, top=args.top) if args.profile else None
        report = json.loads((folder / "report.json").read_text())
    finally:
        if tmp is not None:
            tmp.cleanup()

    walls = [r["wall_s"] for r in runs]
    peaks = [r["peak_mb"] for r in runs]
    summary = {
        "median_wall_s": statistics.median(walls),
        "min_wall_s": min(walls),
        "max_wall_s": max(walls),
        "max_peak_mb": max(peaks),
        "goal_wall_s": GOAL_WALL_S,
        "goal_peak_mb": GOAL_PEAK_MB,
        "wall_met": statistics.median(walls) < GOAL_WALL_S,
        "memory_met": max(peaks) < GOAL_PEAK_MB,
    }
    summary["met"] = summary["wall_met"] and summary["memory_met"]

    print()
    print(f"{'run':>3} {'wall s':>7} {'peak MB':>8}")
    for i, r in enumerate(runs, 1):
        print(f"{i:>3} {r['wall_s']:7.2f} {r['peak_mb']:8.0f}")
    print(f"peak memory from {runs[0]['peak_source']}")
    print()
    print("phases, in one fresh process:")
    print(f"  import analysis      {ph['import_s']:6.2f} s   rss {ph['rss_after_import_mb']:5.0f} MB")
    print(
        f"  read_run             {ph['read_run_s']:6.2f} s   rss {ph['rss_after_read_mb']:5.0f} MB"
        f"  peak {ph['hwm_after_read_mb']:5.0f} MB"
    )
    print(
        f"  build_report         {ph['build_report_s']:6.2f} s   rss {ph['rss_after_build_mb']:5.0f} MB"
        f"  peak {ph['hwm_after_build_mb']:5.0f} MB"
    )
    print(f"  write report.json    {ph['write_report_s']:6.2f} s                  peak {ph['hwm_end_mb']:5.0f} MB")
    print(f"  requests read: {ph['requests_read']:,} (main in report: {ph['report_requests']:,})")
    traits = [t.get("id") for t in report.get("traits", []) if isinstance(t, dict)]
    valid = report.get("validity", {}).get("valid")
    print(
        f"  report: status {report['run']['status']}, {len(report['load']['stages'])} stages,"
        f" valid {valid}, traits {traits}"
    )
    if prof is not None:
        for name in ("read_run", "build_report"):
            print()
            print(f"cProfile of {name} ({prof[f'{name}_s_profiled']:.2f} s under the profiler), by own time:")
            print(_trim_profile(prof["profiles"][name]))
    print()
    print(
        f"goal < {GOAL_WALL_S:g} s and < {GOAL_PEAK_MB:g} MB for {args.requests:,} requests: "
        f"median {summary['median_wall_s']:.2f} s ({'met' if summary['wall_met'] else 'MISSED'}), "
        f"peak {summary['max_peak_mb']:.0f} MB ({'met' if summary['memory_met'] else 'MISSED'})"
    )
    if args.requests != 1_000_000:
        print("(the goal is stated for 1,000,000 requests)")

    if args.json is not None:
        result = {
            "benchmark": "analyze_large",
            "requests": args.requests,
            "seed": args.seed,
            "timing_style": args.timing_style,
            "folder": written,
            "machine": machine_info(),
            "runs": runs,
            "phases": ph,
            "profile": prof,
            "summary": summary,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


def _is_ours(folder: Path) -> bool:
    try:
        return bool(json.loads((folder / "meta.json").read_text()).get("benchmark"))
    except (OSError, json.JSONDecodeError):
        return False


def _trim_profile(text: str) -> str:
    """pstats output from its column header on (the preamble names files and totals only)."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if "ncalls" in line:
            return "\n".join(ln for ln in lines[i:] if ln.strip())
    return text


if __name__ == "__main__":
    sys.exit(main())
