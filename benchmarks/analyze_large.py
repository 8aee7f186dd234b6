"""`profiler analyze` of 1M, 3M and 10M requests, against polars' bare read of the same file.

For each size (`--sizes`), a synthetic but realistic run folder (format 2) is written first,
seeded so every invocation analyses the same data, and only through the package's own writers (profiler.runfolder):

  meta.json      Meta (status "completed", SLO p95<=300ms, sampler info: ncpu 2, 0.1 s; target
                 info; no py-spy stage), written by write_json_atomic once the rest is on disk
  stages.jsonl   StageLog: 7 closed-model stages of 1, 2, 4, ... 64 users, StageStart/StageEnd;
                 equal lengths chosen so that the stages hold N requests at the throughput below
  requests.csv   RequestLog (+ handoffs.jsonl: it parses each Server-Timing header into handoff
                 slots, as the load worker does), rows in completion order within each stage.
                 Main requests: throughput that saturates near 8.5x the 1-user rate (100 rps at
                 1 user), latency = Server-Timing total (features ~2.1 ms + model ~7.3 ms +
                 ~0.5 ms) + lognormal queueing that follows Little's law + a small network term,
                 a few slow outliers; 0.1-0.5% HTTP 500 and a few connection resets;
                 Server-Timing on ~97% of the successful rows, by default
                 `features;dur=2.104, model;dur=7.298;desc="infer", total;dur=9.911` (as
                 profiler.handoff's middleware writes it; `--timing-style plain` drops the desc).
                 Probe rows: 1% of N, evenly spread over the run.
  samples.jsonl  Sample lines at 10 Hz over the whole span: target (with per_process), loadgen,
                 machine.

Then, for each size: the first analysis (`profiler analyze DIR --quiet` with no requests.parquet:
it builds the file, as a run's own analysis does at its end), timed and its peak taken; then each
of `--repeat` rounds (default 3) runs two fresh subprocesses back to back, in a seeded random order:

  bare      `python -c BARE_SCRIPT requests.csv`: import polars, read the whole CSV with polars'
            own defaults (eager), keep kind == "main", per stage count, mean, p50, p90, p95, p99
            and max of latency_ms
  analyze   `profiler analyze DIR --quiet` (requests.parquet in place, as after a run)

both timed here (wall, interpreter start and imports included) with their peak memory (max RSS)
from `/usr/bin/time -v` when present, else from the child's own rusage (os.wait4). One more child
then times the analysis in-process: import, read_run, build_report, writing report.json. Bytes
on disk per request: requests.csv's, requests.parquet's and the whole folder's.

Goal (issue 22), at the largest size (10M requests, an hour at ~3k rps): median(analyze wall) /
median(bare wall) <= 1.0 and analyze peak memory <= 300 MB; from the smallest size to the largest,
time and peak grow at most linearly with the requests. Exit 1 when a goal is missed.

    python benchmarks/analyze_large.py                                  # 1M, 3M, 10M
    python benchmarks/analyze_large.py --sizes 20000,60000 --repeat 1   # a quick check
    python benchmarks/analyze_large.py --keep /tmp/al --json out.json   # keep (and reuse) run-N folders

No network traffic; the folder goes to a temporary directory that is removed unless --keep.
"""

from __future__ import annotations

import argparse
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
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

# Only the file names here: the phase child times importing the analysis itself.
from profiler.runfolder.names import META, REPORT, REQUESTS, REQUESTS_COLUMNAR, SAMPLES  # noqa: E402

if TYPE_CHECKING:
    from profiler.runfolder.records import Sample

GOAL_RATIO = 1.0  # at the largest size (10M requests by default)
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
LAUNCH = "python examples/demo_app.py --port 8000"
FLUSH_ROWS = 10_000  # RequestLog rows buffered between flushes, as the worker does it
BENCHMARK = "analyze_large"
GENERATOR_VERSION = "3"  # bump when the folder's contents change, so that --keep does not reuse an old one

Row = tuple[float, float, float, int, int, str, int, str, str, str]  # RequestLog.add's arguments

# The bare read: what the engine does at the least, as its own fresh interpreter.
BARE_SCRIPT = """\
import sys
import polars as pl
lat = pl.col("latency_ms")
pl.read_csv(sys.argv[1]).filter(pl.col("kind") == "main").group_by("stage").agg(
    lat.count().alias("n"),
    lat.mean().alias("mean"),
    *(lat.quantile(q, "linear").alias(f"p{round(q * 100)}") for q in (0.5, 0.9, 0.95, 0.99)),
    lat.max().alias("max"),
).sort("stage")
"""


# ------------------------------------------------------------------ the synthetic run folder


def _stage_plan(n_main: int) -> tuple[list[int], float]:
    """Requests per stage and the (equal) stage length that gives them at RELATIVE_RPS."""
    total_rel = sum(RELATIVE_RPS)
    counts = [int(n_main * r / total_rel) for r in RELATIVE_RPS]
    counts[-1] += n_main - sum(counts)
    return counts, n_main / (RPS_ONE_USER * total_rel)


def _main_rows(
    rng: random.Random, stage: int, start: float, duration: float, count: int, timing_style: str
) -> list[tuple[float, Row]]:
    """(completion time, row) for the main requests of one stage."""
    users = USERS[stage]
    rps = RPS_ONE_USER * RELATIVE_RPS[stage]
    median_latency = users / rps * 1000.0  # Little's law: what the closed loop settles at
    queue_median = max(0.0, median_latency - SERVICE_MS - 0.4)
    queue_mu = math.log(queue_median) if queue_median > 0.05 else None
    error_rate = 0.001 + 0.0007 * stage  # 0.1% at one user to 0.5% at 64
    lognorm, rand, expo = rng.lognormvariate, rng.random, rng.expovariate
    step = duration / max(count, 1)
    quoted = timing_style == "desc"
    out: list[tuple[float, Row]] = []
    append = out.append
    for k in range(count):
        t = start + (k + rand()) * step
        u = rand()
        if u < error_rate * 0.02:  # a connection reset now and then
            latency = 0.2 + expo(2.0)
            append((t + latency / 1000.0, (t, latency, latency, 0, 0, "ConnectionResetError", stage, "main", "", "")))
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
            status, nbytes, error, timing = 200, 17 + int(rand() * 4), "", ""
            if rand() < TIMED_SHARE:
                # Three decimals, as profiler.handoff's ServerTimingMiddleware writes them.
                desc = ';desc="infer"' if quoted else ""
                timing = f"features;dur={features:.3f}, model;dur={model:.3f}{desc}, total;dur={total:.3f}"
        append((t + latency / 1000.0, (t, latency, ttfb, status, nbytes, error, stage, "main", "", timing)))
    return out


def _probe_rows(
    rng: random.Random, windows: list[tuple[float, float]], n_probe: int
) -> dict[int, list[tuple[float, Row]]]:
    """(completion time, row) of probe requests, evenly spread over the run, by stage."""
    first, last = windows[0][0], windows[-1][1]
    gap = (last - first) / max(n_probe, 1)
    out: dict[int, list[tuple[float, Row]]] = {i: [] for i in range(len(windows))}
    stage = 0
    for k in range(n_probe):
        t = first + (k + 0.5) * gap
        while stage < len(windows) - 1 and t >= windows[stage][1]:
            stage += 1
        # The probe slows as the target gets busier (it waits for the same event loop).
        latency = rng.lognormvariate(math.log(1.2 + 0.6 * stage), 0.4)
        out[stage].append((t + latency / 1000.0, (t, latency, latency - 0.02, 200, 2, "", stage, "probe", "", "")))
    return out


def _sample(rng: random.Random, t: float, stage: int | None, k: int, ctx: list[int]) -> Sample:
    """One samples.jsonl record, with values like the sampler's on a 2-core machine."""
    from profiler.runfolder.records import MachineSample, ProcessSample, Sample, TreeSample

    level = RELATIVE_RPS[stage] / RELATIVE_RPS[-1] if stage is not None else 0.0
    users = USERS[stage] if stage is not None else 0
    cpu = 0.0 if k == 0 else max(0.0, min(100.0, 99.0 * level + rng.gauss(0.0, 2.5) + (0.5 if stage is None else 0)))
    cpu = round(cpu, 2)
    rss = int((78.0 + 4.0 * k / 20_000 + 3.0 * level) * MB) + rng.randrange(0, 64) * 4096
    sockets = 2 + users
    ctx[0] += int(8 + 400 * level * rng.random())
    ctx[1] += int(1 + 60 * level * rng.random())
    loadgen = max(0.0, 4.0 + 30.0 * level + rng.gauss(0.0, 2.0)) if stage is not None else 0.0
    machine = min(100.0, (cpu + loadgen + 9.0 + rng.gauss(0.0, 1.5)) / 2.0)
    return Sample(
        t=round(t, 4),
        target=TreeSample(
            cpu,
            rss,
            3 + min(40, users),
            1,
            fds=sockets + 9,
            sockets=sockets,
            ctx_vol=ctx[0],
            ctx_invol=ctx[1],
            per_process=[ProcessSample(TARGET_PID, cpu, rss)],
        ),
        loadgen=TreeSample(round(loadgen, 2), 61 * MB + rng.randrange(0, 256) * 4096, 2, 1),
        machine=MachineSample(round(max(0.0, machine), 2), 0.0, 2),
    )


def _marker(n: int, seed: int, timing_style: str) -> dict[str, str]:
    """meta.json's `host`: says the folder is this script's, and with which settings."""
    return {
        "benchmark": BENCHMARK,
        "version": GENERATOR_VERSION,
        "requests": str(n),
        "seed": str(seed),
        "timing": timing_style,
    }


def write_run(folder: Path, n: int, seed: int, timing_style: str) -> dict[str, Any]:
    """Write the synthetic run folder; returns what was written (counts, span)."""
    from profiler.base.config import DEFAULT_PYSPY_SECONDS, DEFAULT_REQUEST_TIMEOUT_S, PROBE_PATH
    from profiler.runfolder.atomic import write_json_atomic
    from profiler.runfolder.meta import (
        GpuInfo,
        Meta,
        PlannedStage,
        RaplInfo,
        RecordedConfig,
        SamplerInfo,
        SloSetting,
        TargetMeta,
    )
    from profiler.runfolder.records import StageEnd, StageStart
    from profiler.runfolder.write import RequestLog, StageLog, prepare_folder

    rng = random.Random(seed)
    prepare_folder(folder)
    n_probe = round(n * PROBE_SHARE)
    n_main = n - n_probe
    counts, duration = _stage_plan(n_main)
    ready = 1.2
    windows: list[tuple[float, float]] = []
    t = T0 + ready + 0.3
    for _ in USERS:
        windows.append((t, t + duration))
        t += duration + 0.004  # the worker's own gap between stages
    ended_at = windows[-1][1] + 0.6

    stages = StageLog(folder)
    for i, (s, e) in enumerate(windows):
        stages.write(StageStart(i, USERS[i], None, s, duration, profiled=False))
        stages.write(StageEnd(i, e, counts[i], None))
    stages.close()

    probes = _probe_rows(rng, windows, n_probe)
    log = RequestLog(folder)
    for i, (s, _e) in enumerate(windows):
        rows = _main_rows(rng, i, s, duration, counts[i], timing_style)
        rows.extend(probes[i])
        rows.sort(key=lambda r: r[0])  # the worker appends rows as requests complete
        for _, row in rows:
            log.add(*row)
            if len(log.rows) >= FLUSH_ROWS:
                log.flush()
        del rows
    log.close()

    ctx = [0, 0]
    k = 0
    with (folder / SAMPLES).open("w") as fh:
        t = T0 + ready + 0.1
        stage_i = 0
        while t <= ended_at:
            while stage_i < len(windows) and t > windows[stage_i][1]:
                stage_i += 1
            in_stage = stage_i if stage_i < len(windows) and t >= windows[stage_i][0] else None
            fh.write(_sample(rng, t + rng.uniform(-0.002, 0.004), in_stage, k, ctx).line())
            k += 1
            t = T0 + ready + 0.1 * (k + 1)

    config = RecordedConfig(
        url=URL,
        launch=LAUNCH,
        ready_timeout_s=30.0,
        duration_s=duration * len(USERS),
        max_users=USERS[-1],
        request_timeout_s=DEFAULT_REQUEST_TIMEOUT_S,
        sample_interval_s=0.1,
        probe_path=PROBE_PATH,
        max_requests=2_000_000,
        slo=SloSetting(percentile=95, threshold_ms=300),
        pyspy_seconds=DEFAULT_PYSPY_SECONDS,
        gpu=False,
    )
    meta = Meta.new(profiler_version="synthetic", started_at=T0, config=config, host=_marker(n, seed, timing_style))
    meta.status = "completed"
    meta.ended_at = ended_at
    meta.stop_reason = "completed"
    # exit_code None: still running when the run ended (the session stops it afterwards).
    meta.target = TargetMeta(pid=TARGET_PID, command=LAUNCH, attached=False, ready_after_s=ready, exit_code=None)
    meta.plan = [PlannedStage(index=i, users=u, planned_s=duration) for i, u in enumerate(USERS)]
    meta.sampler = SamplerInfo(
        interval_s=0.1,
        ncpu=2,
        target_pid=TARGET_PID,
        gpu=GpuInfo(notice="GPU sampling off (--no-gpu)."),
        rapl=RaplInfo(notice="RAPL energy counters not readable."),
    )
    write_json_atomic(folder / META, meta.dump())  # last: a folder cut short is never reused
    return {
        "requests": n,
        "main": n_main,
        "probe": n_probe,
        "per_stage": counts,
        "stage_s": duration,
        "span_s": ended_at - T0,
        "samples": k,
        **_sizes(folder),
    }


def _sizes(folder: Path) -> dict[str, float]:
    return {
        "requests_csv_mb": (folder / REQUESTS).stat().st_size / MB,
        "samples_jsonl_mb": (folder / SAMPLES).stat().st_size / MB,
    }


def _marker_of(folder: Path) -> dict[str, Any] | None:
    """The marker in the folder's meta.json ({} when it has none), or None without a meta.json."""
    try:
        raw = json.loads((folder / META).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(raw, dict):
        return {}
    if isinstance(raw.get("benchmark"), dict):  # generator version 2 marked its folders there
        return {"benchmark": BENCHMARK, "version": "2"}
    host = raw.get("host")
    return host if isinstance(host, dict) else {}


# ------------------------------------------------------------------ measuring


def profiler_command() -> list[str]:
    """The `profiler` console script of this environment, else `python -m profiler`."""
    script = Path(sys.executable).parent / "profiler"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    found = shutil.which("profiler")
    return [found] if found else [sys.executable, "-m", "profiler"]


GNU_TIME = Path("/usr/bin/time")
USE_GNU_TIME = GNU_TIME.is_file() and os.access(GNU_TIME, os.X_OK)
PEAK_SOURCE = "/usr/bin/time -v" if USE_GNU_TIME else "the child's rusage (os.wait4)"
_MAXRSS = re.compile(r"Maximum resident set size \(kbytes\):\s*(\d+)")


def measure(cmd: list[str]) -> dict[str, float]:
    """One fresh subprocess: its wall time and peak RSS."""
    if USE_GNU_TIME:
        cmd = [str(GNU_TIME), "-v", *cmd]
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    if proc.returncode != 0:
        raise SystemExit(f"`{' '.join(cmd)[:200]}` failed ({proc.returncode}): {stderr.strip()[-2000:]}")
    m = _MAXRSS.search(stderr) if USE_GNU_TIME else None
    peak_kb = int(m.group(1)) if m else usage.ru_maxrss  # both in KiB on Linux
    return {"wall_s": wall, "peak_mb": peak_kb / 1024.0}


def _vm(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def phases(folder: Path) -> dict[str, float]:
    """Run in a fresh child (`--phases DIR`): the analysis step by step, in-process, with the
    peak memory (VmHWM) after each step."""
    out: dict[str, float] = {}
    t = time.perf_counter()
    from profiler.report.build import build_report
    from profiler.runfolder.atomic import write_json_atomic
    from profiler.runfolder.read import read_run

    out["import_s"], out["import_peak_mb"] = time.perf_counter() - t, _vm("VmHWM")
    t = time.perf_counter()
    run = read_run(folder)
    out["read_run_s"], out["read_run_peak_mb"] = time.perf_counter() - t, _vm("VmHWM")
    t = time.perf_counter()
    report = build_report(run)
    out["build_report_s"], out["build_report_peak_mb"] = time.perf_counter() - t, _vm("VmHWM")
    t = time.perf_counter()
    write_json_atomic(folder / REPORT, report.model_dump(mode="json", by_alias=True))
    out["write_s"], out["write_peak_mb"] = time.perf_counter() - t, _vm("VmHWM")
    return out


def run_phases_child(folder: Path) -> dict[str, float]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--phases", str(folder)]
    proc = subprocess.run(cmd, cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"phase timing failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    result: dict[str, float] = json.loads(proc.stdout)
    return result


def rounds(folder: Path, repeat: int, seed: int) -> list[dict[str, Any]]:
    """`repeat` rounds of bare and analyze back to back, which goes first drawn from `seed`."""
    commands = {
        "bare": [sys.executable, "-c", BARE_SCRIPT, str(folder / REQUESTS)],
        "analyze": [*profiler_command(), "analyze", str(folder), "--quiet"],
    }
    rng = random.Random(f"order-{seed}")
    out: list[dict[str, Any]] = []
    for i in range(repeat):
        order = ["bare", "analyze"]
        rng.shuffle(order)
        r: dict[str, Any] = {"round": i + 1, "first": order[0]}
        for name in order:
            r[name] = measure(commands[name])
        out.append(r)
        print(
            f"round {i + 1}/{repeat} ({order[0]} first): bare {r['bare']['wall_s']:.2f} s,"
            f" analyze {r['analyze']['wall_s']:.2f} s",
            file=sys.stderr,
        )
    return out


# ------------------------------------------------------------------ the command line


def one_size(n: int, folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Write (or reuse) the folder of `n` requests, time its first analysis (which builds
    requests.parquet, as a run's own analysis at its end does), then the rounds and the phases."""
    mark = _marker_of(folder)
    if mark is not None and mark == {**mark, **_marker(n, args.seed, args.timing_style)}:
        written: dict[str, Any] = {"requests": n, "reused": True}
        print(f"reusing {folder}", file=sys.stderr)
    else:
        if folder.exists() and any(folder.iterdir()):
            if mark is None or mark.get("benchmark") != BENCHMARK:
                raise SystemExit(f"{folder} is not empty and was not written by this script; choose another --keep")
            shutil.rmtree(folder)
        t = time.perf_counter()
        written = write_run(folder, n, args.seed, args.timing_style)
        written["generate_s"] = time.perf_counter() - t
        print(f"wrote {n:,} requests in {written['generate_s']:.1f} s to {folder}", file=sys.stderr)
    (folder / REQUESTS_COLUMNAR).unlink(missing_ok=True)
    first = measure([*profiler_command(), "analyze", str(folder), "--quiet"])
    written.update(_sizes(folder))
    runs = rounds(folder, args.repeat, args.seed)
    report = json.loads((folder / REPORT).read_text())

    def med(name: str, key: str) -> float:
        return statistics.median(r[name][key] for r in runs)

    disk = {f"{name}_bytes_per_request": (folder / name).stat().st_size / n for name in (REQUESTS, REQUESTS_COLUMNAR)}
    disk["folder_bytes_per_request"] = sum(f.stat().st_size for f in folder.iterdir() if f.is_file()) / n
    summary = {
        "requests": n,
        "median_bare_s": med("bare", "wall_s"),
        "median_analyze_s": med("analyze", "wall_s"),
        "median_bare_peak_mb": med("bare", "peak_mb"),
        "max_analyze_peak_mb": max(r["analyze"]["peak_mb"] for r in runs),
        "first_analyze_s": first["wall_s"],
        "first_analyze_peak_mb": first["peak_mb"],
        **disk,
        "main_requests_in_report": report["load"]["requests"],
        "traits": [t.get("id") for t in report.get("traits", []) if isinstance(t, dict)],
    }
    summary["ratio"] = summary["median_analyze_s"] / summary["median_bare_s"]
    summary["first_ratio"] = summary["first_analyze_s"] / summary["median_bare_s"]
    return {"folder": written, "rounds": runs, "phases": run_phases_child(folder), "summary": summary}


def print_table(results: list[dict[str, Any]]) -> None:
    print()
    print(
        f"{'requests':>11} {'bare s':>7} {'bare MB':>8} {'analyze s':>10} {'analyze MB':>11} {'ratio':>6}"
        f" {'1st s':>6} {'1st MB':>7} {'1st ratio':>9} {'csv B/req':>9} {'parquet B/req':>13}"
    )
    for r in results:
        s = r["summary"]
        print(
            f"{s['requests']:>11,} {s['median_bare_s']:7.2f} {s['median_bare_peak_mb']:8.0f}"
            f" {s['median_analyze_s']:10.2f} {s['max_analyze_peak_mb']:11.0f} {s['ratio']:6.2f}"
            f" {s['first_analyze_s']:6.2f} {s['first_analyze_peak_mb']:7.0f} {s['first_ratio']:9.2f}"
            f" {s['requests.csv_bytes_per_request']:9.1f} {s['requests.parquet_bytes_per_request']:13.1f}"
        )
    for r in results:
        ph = r["phases"]
        steps = ", ".join(f"{k} {ph[f'{k}_s']:.2f} s ({ph[f'{k}_peak_mb']:.0f} MB)" for k in PHASES)
        print(f"phases at {r['summary']['requests']:,}: {steps}")


PHASES = ("import", "read_run", "build_report", "write")


def growth(results: list[dict[str, Any]]) -> dict[str, float]:
    """The largest size against the smallest: requests, analyze time and peak memory, each as a multiple."""
    small, large = results[0]["summary"], results[-1]["summary"]
    return {
        "requests_x": large["requests"] / small["requests"],
        "time_x": large["median_analyze_s"] / small["median_analyze_s"],
        "peak_x": large["max_analyze_peak_mb"] / small["max_analyze_peak_mb"],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="1000000,3000000,10000000", help="requests per run folder, comma-separated")
    p.add_argument("--keep", type=Path, default=None, help="write the folders (run-N) here and keep them (reused)")
    p.add_argument("--json", type=Path, default=None, help="write the results to this file")
    p.add_argument("--repeat", type=int, default=3, help="rounds of bare read + analyze per size (default 3)")
    p.add_argument("--seed", type=int, default=1, help="the data's seed, and the order of each round")
    p.add_argument(
        "--timing-style",
        choices=("desc", "plain"),
        default="desc",
        help='Server-Timing with a quoted desc="infer" on the model entry (default), or without',
    )
    p.add_argument("--phases", type=Path, default=None, help=argparse.SUPPRESS)  # internal: the phase child
    args = p.parse_args(argv)
    if args.phases is not None:
        print(json.dumps(phases(args.phases)))
        return 0
    sizes = sorted(int(x) for x in args.sizes.split(","))
    if sizes[0] < 100 or args.repeat < 1:
        p.error("--sizes must be >= 100 and --repeat >= 1")
    from _common import machine_info  # psutil: not in the phase child, whose imports are timed

    machine = machine_info()
    tmp = tempfile.TemporaryDirectory(prefix="analyze-large-") if args.keep is None else None
    root = Path(tmp.name) if tmp is not None else args.keep
    try:
        results = [one_size(n, root / f"run-{n}", args) for n in sizes]
    finally:
        if tmp is not None:
            tmp.cleanup()
    print_table(results)
    print(f"peak memory from {PEAK_SOURCE}; machine: {machine['cpus']} CPUs, {machine['cpu_model']}")
    top, g = results[-1]["summary"], growth(results)
    met = top["ratio"] <= GOAL_RATIO and top["max_analyze_peak_mb"] <= GOAL_PEAK_MB
    linear = g["time_x"] <= g["requests_x"] and g["peak_x"] <= g["requests_x"]
    print(
        f"goal at {top['requests']:,}: analyze/bare <= {GOAL_RATIO:g}x and peak <= {GOAL_PEAK_MB:g} MB:"
        f" {top['ratio']:.2f}x, {top['max_analyze_peak_mb']:.0f} MB ({'met' if met else 'MISSED'});"
        f" {g['requests_x']:.0f}x the requests: {g['time_x']:.2f}x the time, {g['peak_x']:.2f}x the peak"
        f" ({'at most linear' if linear else 'MORE than linear'})"
    )
    if args.json is not None:
        out = {"benchmark": BENCHMARK, "seed": args.seed, "timing_style": args.timing_style, "machine": machine}
        out |= {"sizes": results, "growth": g, "goal": {"ratio": GOAL_RATIO, "peak_mb": GOAL_PEAK_MB, "met": met}}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return 0 if met and linear else 1


if __name__ == "__main__":
    sys.exit(main())
