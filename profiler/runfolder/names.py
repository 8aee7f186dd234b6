"""Every file name in a run folder, spelled once. Readers, writers, benchmarks and tests use these.

meta.json          what was asked, the target, notices, how the run ended (records.Meta)
requests.csv       one row per request (records.REQUEST_COLUMNS), main and probe
stages.jsonl       start/end events of each load stage (records.StageStart, records.StageEnd)
connections.jsonl  a ws:// run's connections held and frames, twice a second (runfolder/connections.py)
samples.jsonl      process/machine (and GPU/RAPL) samples, one per tick (records.Sample)
sampler.json       what the sampler could read, and the cores the target may use (meta.SamplerInfo)
processes.jsonl    each process of the target's tree, first seen: name, command line (records.ProcessInfo)
loadgen-spec.json  the plan handed to the load worker, secrets masked
target.log, loadgen.log, sampler.log   the children's output
pyspy/             py-spy recordings: stage-N.txt, .gil.txt, .sources.json, .speedscope.json
report.json        the analysis, rebuilt at any time by `profiler analyze DIR`
report.html        the same for people, self-contained (`profiler report DIR --html` rebuilds it)
gate.json          a gate's verdict and each check's result, when the run was gated
"""

from __future__ import annotations

from pathlib import Path

# The run folder's format. 1: no `format_version` in meta.json (profiler 0.1.0); 2: typed meta,
# SLO stored as numbers, Server-Timing stored parsed (handoff slots); 3: each request's route
# (method and name) in requests.csv; 4: its request bytes, request and body keys and cache verdict
# (records.CACHE_COLUMNS). `analyze` reads all four.
FORMAT_VERSION = 4

META = "meta.json"
REQUESTS = "requests.csv"
# requests.csv read, checked and stored by columns (Parquet), by the first analysis of the run (at
# its end); rebuilt from requests.csv whenever that changed. What `analyze` scans: docs/run-folder.md.
REQUESTS_COLUMNAR = "requests.parquet"
STAGES = "stages.jsonl"
HANDOFFS = "handoffs.jsonl"
SAMPLES = "samples.jsonl"
CONNECTIONS = "connections.jsonl"  # a WebSocket run's connections held, twice a second (runfolder/connections.py)
METRICS = "metrics.jsonl"  # every reading of the --metrics-url expositions
TARGET_ROOT = "target.pid"  # a --fault restart's current root pid, for the sampler to follow ...
TARGET_DOWN = "restarting"  # ... or this while the target is down
FAULTS = "faults.jsonl"  # each --fault as it was sent: when, to which process, and whether it took
SAMPLER_INFO = "sampler.json"
PROCESSES = "processes.jsonl"
LOADGEN_SPEC = "loadgen-spec.json"
REPORT = "report.json"
REPORT_HTML = "report.html"
GATE = "gate.json"
TARGET_LOG = "target.log"
LOADGEN_LOG = "loadgen.log"
SAMPLER_LOG = "sampler.log"
PYSPY_DIR = "pyspy"
CATEGORIES = "categories.json"  # the project's additions to the category table, as the run found them
PYSPY_LOG = "py-spy.log"


def pyspy_stacks(folder: Path, stage: int, gil: bool = False) -> Path:
    """Raw collapsed stacks of a profiled stage (the --gil half when `gil`)."""
    return folder / PYSPY_DIR / f"stage-{stage}{'.gil' if gil else ''}.txt"


def pyspy_sources(stacks: Path) -> Path:
    """The source lines of the leaf frames, saved beside the stacks."""
    return stacks.with_name(f"{stacks.stem}.sources.json")


def pyspy_threads(stacks: Path) -> Path:
    """Each thread's CPU time over the recording, saved beside the stacks."""
    return stacks.with_name(f"{stacks.stem}.threads.json")


def pyspy_speedscope(stacks: Path) -> Path:
    """The flame graph of the stacks (speedscope's JSON format)."""
    return stacks.with_name(f"{stacks.stem}.speedscope.json")


def speedscope_relative(stage: int) -> str:
    """The flame graph's path inside the run folder, as the report names it."""
    return f"{PYSPY_DIR}/stage-{stage}.speedscope.json"


def pyspy_recordings(folder: Path) -> list[tuple[int, Path]]:
    """(stage, stacks file) of every profiled stage recorded in the run folder, --gil halves apart."""
    found: list[tuple[int, Path]] = []
    for path in sorted((folder / PYSPY_DIR).glob("stage-*.txt")):
        stage = path.name.removeprefix("stage-").removesuffix(".txt")
        if stage.isdigit():
            found.append((int(stage), path))
    return found
