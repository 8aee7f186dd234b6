"""`profiler run`'s options, as the command line gave them (`RunOptions`, typed field by field),
made into one checked RunConfig.

Every check that needs no target runs here, before anything starts: a bad option, a scenario
file that does not parse, a locustfile without users are each one usage line (exit 2).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from profiler.base.config import (
    DEFAULT_DURATION_S,
    DEFAULT_MAX_USERS,
    RunConfig,
    ShapeStep,
    check_options,
    parse_body,
    parse_header,
    parse_int_list,
    parse_rates,
    parse_slo,
    parse_users,
    substitute_port,
    validate_metrics_url,
    validate_probe_path,
    validate_url,
)
from profiler.base.durations import parse_duration
from profiler.base.errors import ConfigError
from profiler.base.faults import parse_faults
from profiler.base.pricing import DEFAULT_WATTS_PER_CORE, load_catalog, parse_price
from profiler.base.websocket import (
    DEFAULT_CONNECT_RATE,
    DEFAULT_CONNECTIONS,
    DEFAULT_MESSAGE_RATE,
    MAX_CONNECT_RATE,
    MAX_CONNECTIONS,
    MAX_MESSAGE_RATE,
    WsConfig,
    is_websocket,
    parse_message,
    parse_rate,
)
from profiler.load.plan import check_plan, parse_shape
from profiler.load.scenario import load_scenario
from profiler.load.userfile import check_locustfile


@dataclass(frozen=True)
class RunOptions:
    """`profiler run`'s options as typed on the command line, before any is parsed or checked: the
    names are the command's parameters, and every one is given where the command builds this (the
    defaults are the command's own, in its signature), so mypy checks each name and type."""

    url: str
    launch: str | None
    pid: int | None
    cwd: Path | None
    out: Path | None
    ready_timeout: str
    duration: str | None
    users: str | None
    stages: int | None
    rate: str | None
    connections: str | None
    message: str | None
    message_rate: str | None
    connect_rate: str | None
    shape: str | None
    fault: tuple[str, ...]
    method: str
    header: tuple[str, ...]
    body: str | None
    timeout: str
    interval: str
    no_probe: bool
    probe_path: str
    no_early_stop: bool
    max_requests: int
    slo: str | None
    peak_rps: float | None
    peak_connections: int | None
    headroom: float
    no_pyspy: bool
    pyspy_rate: int
    pyspy_seconds: str
    pyspy_gil: bool
    pyspy_native: bool
    memory_limit: float
    no_gpu: bool
    allow_remote: bool
    locustfile: Path | None
    scenario: Path | None
    workers: int | None
    expect_workers: int
    master_host: str
    master_port: int
    metrics_url: tuple[str, ...]
    sweep: tuple[str, ...]
    price: str | None
    catalog: Path | None
    watts_per_core: float | None


def default_out() -> Path:
    return Path("runs") / time.strftime("%Y%m%d-%H%M%S")


def users_option(text: str | None) -> tuple[tuple[int, ...], int]:
    """`--users 32`: the top of the ladder; `--users 1,4,16`: the exact stages."""
    parsed = parse_users(text) if text is not None else ()
    return (parsed, DEFAULT_MAX_USERS) if len(parsed) != 1 else ((), parsed[0])


def seconds(text: str | None, option: str) -> float | None:
    return parse_duration(text, option) if text is not None else None


def same_port(metrics_url: str, url: str) -> str:
    """`{port}` in a --metrics-url is the target's port, as chosen for its URL (an app's own /metrics)."""
    if "{port}" not in metrics_url:
        return metrics_url
    try:
        port = urlsplit(url).port
    except ValueError:
        port = None
    return metrics_url.replace("{port}", str(port)) if port is not None else metrics_url


def default_workers() -> int:
    """What the machine can spare for load: a quarter of its cores, at least one process."""
    return max(1, (os.cpu_count() or 1) // 4)


def checked(config: RunConfig) -> RunConfig:
    """Options in range, stages long enough, and the users' source sound, before anything starts."""
    config = check_plan(check_options(config))
    if config.locustfile is not None or config.scenario is not None:
        source = "--locustfile" if config.locustfile is not None else "--scenario"
        if config.locustfile is not None and config.scenario is not None:
            raise ConfigError("--locustfile and --scenario cannot be combined.", "give the one that holds your users")
        if config.open_model:
            raise ConfigError(f"--rate works with one URL, not with {source}.", "use --users: its users set the pace")
        if config.body is not None or config.headers:
            raise ConfigError(
                f"--body and --header apply to one URL, not to {source}.", f"put them in the {source} file"
            )
    if (config.workers > 1 or config.expect_workers) and config.open_model:
        raise ConfigError("--rate runs in one process: --workers and --expect-workers need --users.",
                          "use --users, or drop --workers")  # fmt: skip
    if config.scenario is not None:
        load_scenario(config.scenario)
    if config.locustfile is not None:
        found = check_locustfile(config.locustfile)
        if found.shape and not config.shape:
            asked = config.users or config.max_users != DEFAULT_MAX_USERS or config.stage_count
            if asked or config.duration_s != DEFAULT_DURATION_S:
                raise ConfigError(f"{config.locustfile.name} has a LoadTestShape, which sets the load and the length.",
                                  "drop --users, --stages and --duration, or give --shape to run another")  # fmt: skip
            length = sum(s.duration_s for s in found.shape)
            config = check_plan(dataclasses.replace(config, shape=found.shape, duration_s=length))
        # The run's length is known now (the file's shape, or --duration): its faults must fall inside it.
        config = dataclasses.replace(
            config, faults=parse_faults(tuple(f.label() for f in config.faults), config.duration_s)
        )
    if config.faults and config.launch is None and config.pid is None:
        raise ConfigError("--fault needs the target's processes here.", "use --launch or --pid")
    return config


SWEEP_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SWEEP_VALUE = re.compile(r"^[A-Za-z0-9_.:+-]+$")  # goes into a command line: no spaces, quotes or shell syntax
MAX_SWEEP_AXES, MAX_SWEEP_POINTS = 2, 12


def parse_sweep(texts: tuple[str, ...]) -> dict[str, list[str]]:
    """`--sweep workers=1,2,4` (one or two of them): each placeholder and its values."""
    axes: dict[str, list[str]] = {}
    for text in texts:
        name, sep, values = text.partition("=")
        items = [v.strip() for v in values.split(",") if v.strip()]
        if not sep or not SWEEP_NAME.match(name.strip()) or not items:
            raise ConfigError(f"--sweep '{text}' is not NAME=V1,V2.", "e.g. --sweep workers=1,2,4")
        bad = next((v for v in items if not SWEEP_VALUE.match(v)), None)
        if bad is not None:
            raise ConfigError(f"--sweep value '{bad}' has characters a command line would mangle.",
                              "use letters, digits and . _ : + - only")  # fmt: skip
        if name.strip() in axes:
            raise ConfigError(f"--sweep {name.strip()} is given twice.", "give each placeholder once")
        axes[name.strip()] = list(dict.fromkeys(items))
    if len(axes) > MAX_SWEEP_AXES or math.prod(len(v) for v in axes.values()) > MAX_SWEEP_POINTS:
        raise ConfigError(f"--sweep asks for more than {MAX_SWEEP_POINTS} configurations or {MAX_SWEEP_AXES} placeholders.",
                          "sweep fewer values: each configuration is a whole run")  # fmt: skip
    return axes


def sweep_runs(a: RunOptions) -> tuple[dict[str, list[str]], list[tuple[dict[str, str], RunConfig]]]:
    """Every configuration of `--sweep`, each a whole checked RunConfig with its own sub-folder and
    port, all checked before the first starts."""
    axes = parse_sweep(a.sweep)
    template = a.launch
    if template is None:
        raise ConfigError("--sweep relaunches the target for each value: it needs --launch.",
                          "e.g. --launch 'gunicorn -w {workers} app:app -b 127.0.0.1:{port}' --sweep workers=1,2")  # fmt: skip
    for name in axes:
        if "{" + name + "}" not in template:
            raise ConfigError(f"--sweep {name}: the --launch command has no {{{name}}} placeholder.",
                              f"put {{{name}}} where its value goes, e.g. -w {{{name}}}")  # fmt: skip
    root = a.out or default_out()
    runs = []
    for combo in itertools.product(*axes.values()):
        values = dict(zip(axes, combo, strict=True))
        launch = template
        for name, value in values.items():
            launch = launch.replace("{" + name + "}", value)
        sub = root / "_".join(f"{k}-{v}" for k, v in values.items())
        runs.append((values, run_config(dataclasses.replace(a, launch=launch, out=sub, sweep=()))))
    return axes, runs


_WS_ONLY = ("--connections", "--message", "--message-rate", "--connect-rate", "--peak-connections")


def websocket_option(a: RunOptions, shape: tuple[ShapeStep, ...]) -> tuple[WsConfig | None, tuple[int, ...]]:
    """A ws:// URL's connections and messages (docs/connections.md), and its stages of connections;
    (None, ()) for an http(s) URL, which none of the WebSocket options fit."""
    given = [o for o, v in zip(_WS_ONLY, (a.connections, a.message, a.message_rate, a.connect_rate,
                                          a.peak_connections), strict=True) if v is not None]  # fmt: skip
    if not is_websocket(a.url):
        if given:
            raise ConfigError(f"{given[0]} applies to a ws:// or wss:// URL.",
                              "give the WebSocket endpoint, e.g. ws://127.0.0.1:8000/chat, or drop it")  # fmt: skip
        return None, ()
    clash = next((o for o, v in (("--users", a.users), ("--rate", a.rate), ("--stages", a.stages),
                                 ("--body", a.body), ("--locustfile", a.locustfile), ("--scenario", a.scenario))
                  if v is not None), None)  # fmt: skip
    if clash is not None:
        raise ConfigError(f"{clash} does not apply to a ws:// URL: its load is connections held.",
                          "give --connections (e.g. 100,1000) and --message, or an http(s) URL")  # fmt: skip
    if a.method.upper() != "GET" or (a.workers or 1) > 1 or a.expect_workers:
        raise ConfigError("a ws:// run opens its connections with GET from one generator process.",
                          "drop --method and --workers")  # fmt: skip
    message, binary = parse_message(a.message)
    ws = WsConfig(message=message, binary=binary,
                  message_rate=parse_rate(a.message_rate, "--message-rate", DEFAULT_MESSAGE_RATE, MAX_MESSAGE_RATE, True),
                  connect_rate=parse_rate(a.connect_rate, "--connect-rate", DEFAULT_CONNECT_RATE, MAX_CONNECT_RATE,
                                          False))  # fmt: skip
    if any(s.rate is not None for s in shape):
        raise ConfigError("a ws:// --shape gives connections held, not arrival rates.",
                          "write its steps as DURATION:CONNECTIONS, e.g. --shape 10s:100,5s:2000,10s:100")  # fmt: skip
    if shape:
        return ws, ()
    return ws, parse_int_list(a.connections, "--connections", MAX_CONNECTIONS) if a.connections else DEFAULT_CONNECTIONS


def shape_option(a: RunOptions) -> tuple[ShapeStep, ...]:
    """`--shape`'s steps; it sets the load and the length, so nothing else may."""
    if a.shape is None:
        return ()
    if a.users is not None or a.rate is not None or a.stages is not None or a.duration:
        raise ConfigError("--shape sets the load and the length itself: it cannot be combined with --users, "
                          "--rate, --stages or --duration.", "put each step's users or rate and length in --shape")  # fmt: skip
    return parse_shape(a.shape)


def exclusive(a: RunOptions) -> None:
    """Options that cannot go together."""
    if a.launch is not None and a.pid is not None:
        raise ConfigError(
            "give one of --launch or --pid, not both.",
            "--launch 'uvicorn app:app --port 8000' starts the app; --pid 4242 attaches to it",
        )
    if a.users is not None and a.rate is not None:
        raise ConfigError("--users and --rate cannot be combined.", "--users is the closed model, --rate the open one")


def run_config(a: RunOptions) -> RunConfig:
    """The RunConfig of `profiler run`'s arguments (its parameters by name), checked."""
    exclusive(a)
    url, launch = substitute_port(a.url, a.launch)
    shape = shape_option(a)
    length = sum(s.duration_s for s in shape) if shape else seconds(a.duration, "--duration") or DEFAULT_DURATION_S
    user_list, max_users = users_option(a.users)
    ws, connections = websocket_option(a, shape)
    user_list = connections if ws is not None else user_list
    return checked(
        RunConfig(
            url=validate_url(url, a.allow_remote),
            out=a.out or default_out(),
            launch=launch,
            pid=a.pid,
            cwd=a.cwd,
            ready_timeout_s=parse_duration(a.ready_timeout, "--ready-timeout"),
            users=user_list,
            max_users=max_users,
            stage_count=a.stages,
            rates=parse_rates(a.rate) if a.rate is not None else (),
            shape=shape,
            # A locustfile's LoadTestShape sets the length: its faults are checked once it is read (checked()).
            faults=parse_faults(a.fault, math.inf if a.locustfile and not shape and not a.duration else length),
            duration_s=length,
            method=a.method.upper(),
            headers=tuple(parse_header(h) for h in a.header),
            body=parse_body(a.body),
            request_timeout_s=parse_duration(a.timeout, "--timeout"),
            sample_interval_s=parse_duration(a.interval, "--interval"),
            # A WebSocket server has no HTTP route to probe: its round trips are the pings' (docs/connections.md).
            probe=not a.no_probe and ws is None,
            probe_path=validate_probe_path(a.probe_path),
            early_stop=not a.no_early_stop,
            max_requests=a.max_requests,
            allow_remote=a.allow_remote,
            slo=parse_slo(a.slo),
            peak_rps=a.peak_rps,
            peak_connections=a.peak_connections,
            headroom=a.headroom,
            pyspy=not a.no_pyspy,
            pyspy_rate=a.pyspy_rate,
            pyspy_seconds=parse_duration(a.pyspy_seconds, "--pyspy-seconds"),
            pyspy_gil=a.pyspy_gil,
            pyspy_native=a.pyspy_native,
            memory_limit_mb=a.memory_limit,
            gpu=not a.no_gpu,
            locustfile=a.locustfile,
            scenario=a.scenario,
            workers=1 if ws is not None else a.workers if a.workers is not None else default_workers(),
            expect_workers=a.expect_workers,
            master_host=a.master_host,
            master_port=a.master_port,
            metrics_urls=tuple(validate_metrics_url(same_port(u, url)) for u in a.metrics_url),
            price_per_hour=parse_price(a.price),
            catalog=load_catalog(a.catalog),
            watts_per_core=a.watts_per_core or DEFAULT_WATTS_PER_CORE,
            websocket=ws,
        )
    )
