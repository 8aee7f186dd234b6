"""The command line's options, declared once and shared by the commands that take them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from profiler.base.config import (
    DEFAULT_DURATION_S,
    DEFAULT_HEADROOM,
    DEFAULT_MEMORY_LIMIT_MB,
    DEFAULT_PYSPY_RATE,
    DEFAULT_PYSPY_SECONDS,
    DEFAULT_REQUEST_TIMEOUT_S,
    PROBE_PATH,
)
from profiler.base.pricing import DEFAULT_WATTS_PER_CORE

Launch = Annotated[
    str | None, typer.Option("--launch", help="Command that starts the target; it is stopped at the end.")
]
Pid = Annotated[
    int | None,
    typer.Option(
        "--pid",
        help="Attach to a running target (and its worker processes) instead. With neither --pid nor --launch "
        "the target is reached by its URL alone: its processes are not sampled (see --metrics-url).",
        min=1,
    ),
]
Cwd = Annotated[Path | None, typer.Option("--cwd", help="Working folder for --launch.")]
Stages = Annotated[int | None, typer.Option("--stages", help="Number of stages from 1 user to the top.", min=1, max=50)]
Method = Annotated[str, typer.Option("--method", "-X", help="HTTP method.")]
Header = Annotated[list[str] | None, typer.Option("--header", "-H", help="'Name: value', repeatable.")]
Body = Annotated[str | None, typer.Option("--body", "-d", help="Request body, or @file.json.")]
NoEarlyStop = Annotated[bool, typer.Option("--no-early-stop", help="Run every stage even once saturated.")]
MaxRequests = Annotated[int, typer.Option("--max-requests", help="Hard cap on requests in the run.", min=1)]
NoPyspy = Annotated[bool, typer.Option("--no-pyspy", help="Do not attach py-spy.")]
NoGpu = Annotated[bool, typer.Option("--no-gpu", help="Do not sample GPUs.")]
AllowRemote = Annotated[bool, typer.Option("--allow-remote", help="Allow a target that is not on this machine.")]
Locustfile = Annotated[
    Path | None,
    typer.Option(
        "--locustfile",
        "-f",
        help="Run your own locustfile's users (tasks, weights, wait_time, on_start) instead of one URL;"
        " the URL gives their host.",
    ),
]
Workers = Annotated[
    int | None,
    typer.Option(
        "--workers",
        min=1,
        max=64,
        help="Load generator processes on this machine: past 1, a Locust master and N workers "
        "(default: a quarter of the cores, at least 1; the target needs the rest).",
    ),
]
ExpectWorkers = Annotated[
    int,
    typer.Option(
        "--expect-workers",
        min=0,
        max=1000,
        help="Also wait for N workers started elsewhere with `profiler worker --master HOST:PORT`.",
    ),
]
MasterHost = Annotated[
    str,
    typer.Option("--master-host", help="Address the master listens on for workers (0.0.0.0: other machines too)."),
]
Sweep = Annotated[
    list[str] | None,
    typer.Option(
        "--sweep",
        help="NAME=V1,V2: relaunch the target once per value of the {NAME} placeholder of --launch (one or two "
        "placeholders), the same load plan each time, and compare capacity per core and per GB (sweep.json).",
    ),
]
MetricsUrl = Annotated[
    list[str] | None,
    typer.Option(
        "--metrics-url",
        help="A Prometheus exposition to read each second during the run (the app's /metrics, node exporter, "
        "DCGM exporter); repeatable. Its process CPU, memory and GPU figures stand in for a target whose "
        "processes are not on this machine.",
    ),
]
MasterPort = Annotated[int, typer.Option("--master-port", min=0, max=65535, help="The master's port (0: a free one).")]
Scenario = Annotated[
    Path | None,
    typer.Option(
        "--scenario",
        help="Run a scenario file's weighted requests (login step, think time, ${ENV} headers; docs/scenarios.md).",
    ),
]

TIME = "e.g. 30s, 2m, 1m30s, 500ms; a plain number is seconds"

Duration = Annotated[
    str | None,
    typer.Option(
        "--duration",
        help=f"Time of load in all (default {DEFAULT_DURATION_S:g}s), split equally over the stages; {TIME}.",
        metavar="TIME",
    ),
]
Timeout = Annotated[
    str,
    typer.Option("--timeout", help=f"Time before one request counts as failed; {TIME}.", metavar="TIME"),
]
DEFAULT_TIMEOUT = f"{DEFAULT_REQUEST_TIMEOUT_S:g}s"
ReadyTimeout = Annotated[
    str, typer.Option("--ready-timeout", help=f"Time to wait for the target to answer; {TIME}.", metavar="TIME")
]
Interval = Annotated[str, typer.Option("--interval", help=f"Time between process samples; {TIME}.", metavar="TIME")]
PyspySeconds = Annotated[
    str,
    typer.Option("--pyspy-seconds", help=f"Length of the extra stage profiled by py-spy; {TIME}.", metavar="TIME"),
]
DEFAULT_PYSPY = f"{DEFAULT_PYSPY_SECONDS:g}s"
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No live view and no tables; the report is still saved.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print the result as JSON to stdout instead of tables.")]
Out = Annotated[Path | None, typer.Option("--out", "-o", help="Run folder to create (default runs/DATE-TIME).")]
Slo = Annotated[str | None, typer.Option("--slo", help="Latency objective for capacity, e.g. p95=300ms.")]
PeakRps = Annotated[
    float | None, typer.Option("--peak-rps", help="Peak traffic to size for: instances needed.", min=0.001)
]
PeakConnections = Annotated[
    int | None,
    typer.Option(
        "--peak-connections",
        help="ws:// URLs: connections held at the peak to size the fleet for.",
        min=1,
        max=1_000_000_000,
    ),
]
MemoryLimit = Annotated[
    float, typer.Option("--memory-limit", help="Memory limit (MiB) to project a leak's time-to-limit against.", min=1.0)
]
HEADROOM_HELP = "Spare capacity kept at the peak, a fraction of the fleet's capacity (0.3: it runs at most 70% busy)."
Headroom = Annotated[float, typer.Option("--headroom", help=HEADROOM_HELP, min=0.0, max=0.9)]
HeadroomOverride = Annotated[
    float | None, typer.Option("--headroom", help=HEADROOM_HELP + " Default: the run's.", min=0.0, max=0.9)
]
Price = Annotated[
    str | None,
    typer.Option("--price", help="One instance's price, 0.17/h or 124/month: the plan's cost (none is invented)."),
]
Catalog = Annotated[
    Path | None,
    typer.Option("--catalog", help="A TOML file of instance shapes and prices: the plan picks the cheapest that fits."),
]
WattsPerCore = Annotated[
    float | None,
    typer.Option(
        "--watts-per-core",
        help=f"Power of one busy core for the energy estimate where RAPL cannot measure (default {DEFAULT_WATTS_PER_CORE:g} W).",
        min=0.1,
        max=1000.0,
    ),
]
Users = Annotated[
    str | None,
    typer.Option("--users", help="Top of the 1,2,4.. ladder (e.g. 32), or the exact stages (e.g. 1,4,16)."),
]
Connections = Annotated[
    str | None,
    typer.Option(
        "--connections",
        help="ws:// URLs: the connections held in each stage (e.g. 100,1000,5000; "
        "default 10,100,1000), each reached at --connect-rate and then held.",
    ),
]
Message = Annotated[
    str | None,
    typer.Option(
        "--message",
        help="ws:// URLs: the frame each connection sends (TEXT or @file; the first frame "
        "back is its answer). Default: a ping, whose pong every server sends.",
    ),
]
MessageRate = Annotated[
    str | None,
    typer.Option(
        "--message-rate",
        help="ws:// URLs: messages (or pings) per connection per second (default 1/s; 0: connections held idle).",
    ),
]
ConnectRate = Annotated[
    str | None,
    typer.Option(
        "--connect-rate", help="ws:// URLs: new connections opened per second while a stage ramps up (default 200/s)."
    ),
]
Rate = Annotated[
    str | None,
    typer.Option("--rate", help="Open model: arrivals per second, one or a list of stages (e.g. 20,40,80)."),
]
Shape = Annotated[
    str | None,
    typer.Option(
        "--shape",
        help="A timeline instead of a ladder: DURATION:USERS steps (e.g. 20s:2,6s:40,30s:2) or DURATION:RATE/s "
        "(e.g. 20s:10/s,5s:200/s); each step change is an event with its recovery (docs/transients.md).",
    ),
]
Faults = Annotated[
    list[str] | None,
    typer.Option(
        "--fault",
        help="A fault on the run's timeline, repeatable: restart@15s (SIGTERM the launched target, start it "
        "again, wait until it answers), reload@15s (the server's SIGHUP), kill-worker@15s "
        "(SIGKILL a pool worker), pause@15s+3s:NAME (SIGSTOP a process of the target's tree, e.g. redis-server). "
        "Each is an event with its cost and recovery (docs/transients.md).",
    ),
]
Probe = Annotated[bool, typer.Option("--no-probe", help=f"Do not send the light probe requests to {PROBE_PATH}.")]
ProbePath = Annotated[str, typer.Option("--probe-path", help="Cheap path for the probe (a 404 is fine).")]
PyspyRate = Annotated[int, typer.Option("--pyspy-rate", help="py-spy samples per second.", min=1, max=1000)]
PyspyGil = Annotated[
    bool,
    typer.Option(
        "--pyspy-gil",
        help="Also measure the share of time the GIL is held (second half of the py-spy stage runs with --gil).",
    ),
]
PyspyNative = Annotated[
    bool,
    typer.Option(
        "--pyspy-native",
        help="Record native (C) frames too (py-spy --native): names the C code below a Python call, "
        "e.g. sqlite3_step under execute; costs the target more (see docs/benchmarks.md).",
    ),
]

# The gate: checks, forbidden traits, a baseline and its rules, and where to write the verdict.
Check = Annotated[
    list[str] | None,
    typer.Option("--check", help="SLO to gate on, repeatable: e.g. 'p95<250ms', 'error_rate<1%', 'p95@32users<300ms'."),
]
ForbidTrait = Annotated[
    list[str] | None, typer.Option("--forbid-trait", help="Fail the gate when this trait is found, e.g. memory-growth.")
]
Baseline = Annotated[
    Path | None, typer.Option("--baseline", help="A saved run folder to compare with (see `profiler compare`).")
]
FailOn = Annotated[
    list[str] | None,
    typer.Option("--fail-on", help="Fail when a figure worsens against the baseline, repeatable: e.g. 'p95:+10%'."),
]
Junit = Annotated[Path | None, typer.Option("--junit", help="Write the checks as JUnit XML, one test case each.")]
Markdown = Annotated[
    Path | None,
    typer.Option("--markdown", help="Write a Markdown summary (also appended to $GITHUB_STEP_SUMMARY when set)."),
]
ConfigFile = Annotated[
    Path | None,
    typer.Option("--config", help="Gate settings file (default: the nearest profiler.toml or [tool.profiler])."),
]
Gate = Annotated[
    bool, typer.Option("--gate", help="Judge the run with the checks of the project's [tool.profiler] (or --check).")
]

__all__ = [
    "DEFAULT_HEADROOM",
    "DEFAULT_MEMORY_LIMIT_MB",
    "DEFAULT_PYSPY_RATE",
]
