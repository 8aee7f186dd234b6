"""`profiler compare` of two runs against `profiler analyze` of one, side by side.

Two synthetic run folders of N requests each (the analyze_large writer, seeds 1 and 2, so the
two differ as two runs of one app do) are analysed once (report.json written), then each of
`--repeat` rounds times two fresh subprocesses in a seeded random order, interpreter start and
imports included:

  analyze   `profiler analyze A --quiet`                       (one folder, the whole report)
  compare   `profiler compare A B --quiet --fail-on p95:+10%`  (two folders' requests read, every
            matched stage's metrics bootstrapped 1000 times, the rules judged)

Goal: median(compare wall) / median(analyze wall) <= 2.0: the bootstrap must not cost more than
reading a second folder.

    python benchmarks/compare_speed.py                      # 200,000 requests per run, 5 rounds
    python benchmarks/compare_speed.py --requests 20000 --repeat 2
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from analyze_large import measure, profiler_command, write_run  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=200_000, help="requests per run (default 200,000)")
    p.add_argument("--repeat", type=int, default=5, help="rounds (default 5)")
    p.add_argument("--json", type=Path, default=None, help="write the results to this file")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        a, b = Path(tmp) / "a", Path(tmp) / "b"
        for folder, seed in ((a, 1), (b, 2)):
            folder.mkdir()
            write_run(folder, args.requests, seed, "desc")
            measure([*profiler_command(), "analyze", str(folder), "--quiet"])  # report.json in place
        cmds = {
            "analyze": [*profiler_command(), "analyze", str(a), "--quiet"],
            "compare": [*profiler_command(), "compare", str(a), str(b), "--quiet", "--fail-on", "p95:+10%"],
        }
        rng = random.Random(1)
        rounds = []
        for _ in range(args.repeat):
            order = list(cmds)
            rng.shuffle(order)
            rounds.append({name: measure(cmds[name]) for name in order})
    med = {name: statistics.median(r[name]["wall_s"] for r in rounds) for name in cmds}
    peak = {name: max(r[name]["peak_mb"] for r in rounds) for name in cmds}
    ratio = med["compare"] / med["analyze"]
    for i, r in enumerate(rounds, 1):
        print(f"round {i}: analyze {r['analyze']['wall_s']:.2f} s, compare {r['compare']['wall_s']:.2f} s")
    print(f"median analyze {med['analyze']:.2f} s ({peak['analyze']:.0f} MB), compare {med['compare']:.2f} s "
          f"({peak['compare']:.0f} MB): ratio {ratio:.2f} (goal <= 2.0)")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({"rounds": rounds, "median": med, "peak_mb": peak, "ratio": ratio}, indent=2))
    return 0 if ratio <= 2.0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
