"""What a run is asked to do: one frozen value, built and validated from command-line text.

Parsing lives here (not in the CLI) so that every bad input becomes a `ConfigError` with a fix,
and so the same rules apply to tests and to the CLI.
"""

from __future__ import annotations

import ipaddress
import math
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from profiler.base.durations import read_duration
from profiler.base.errors import ConfigError
from profiler.base.faults import Fault
from profiler.base.pricing import DEFAULT_WATTS_PER_CORE, Shape
from profiler.base.secrets import mask_url
from profiler.base.servertiming import TOKEN_CHARS
from profiler.base.websocket import WS_SCHEMES, WsConfig

DEFAULT_DURATION_S = 42.0
DEFAULT_MAX_USERS = 64
# Spare capacity kept at the peak, as a fraction of the fleet's capacity: the fleet is sized to run
# at most (1 - headroom) of it (analysis/plan.py's fleet_size, the one formula).
DEFAULT_HEADROOM = 0.30
DEFAULT_MEMORY_LIMIT_MB = 2048.0  # what a leak's time-to-limit is projected against
DEFAULT_REQUEST_TIMEOUT_S = 30.0
DEFAULT_PYSPY_RATE = 100
DEFAULT_PYSPY_SECONDS = 5.0
MIB = 2**20
PROBE_PATH = "/__profiler_probe__"

# Bounds on options. Past them a value is a typo, not a plan: 10^20 users made 68 stages of a
# fraction of a second, an infinite timeout or SLO broke the saved meta.json and the report.
MAX_USERS = 100_000  # concurrent users: one load generator process holds them all
MAX_RATE = 1_000_000.0  # arrivals per second
MAX_SLO_MS = 3_600_000.0  # an hour: a latency objective beyond it is no objective
MAX_TIMEOUT_S = 3_600.0  # --timeout and --ready-timeout
MAX_DURATION_S = 86_400.0  # a day of load
MIN_STAGE_S = 0.5  # shorter stages hold too few requests, and too few samples, to say anything
# option: (RunConfig field, lowest, highest); the lows repeat the CLI's own, which nan slips past.
OPTION_BOUNDS: dict[str, tuple[str, float, float]] = {
    "--ready-timeout": ("ready_timeout_s", 0.1, MAX_TIMEOUT_S),
    "--duration": ("duration_s", 1.0, MAX_DURATION_S),
    "--timeout": ("request_timeout_s", 0.1, MAX_TIMEOUT_S),
    "--interval": ("sample_interval_s", 0.01, 10.0),
    "--peak-rps": ("peak_rps", 0.001, MAX_RATE * 1000),
    "--headroom": ("headroom", 0.0, 0.9),
    "--pyspy-seconds": ("pyspy_seconds", 2.0, 600.0),
    "--memory-limit": ("memory_limit_mb", 1.0, float(2**30)),  # MiB: a pebibyte
}


@dataclass(frozen=True, slots=True)
class Slo:
    """A latency objective such as p95 <= 300 ms."""

    percentile: float
    threshold_ms: float

    def label(self) -> str:
        return f"p{self.percentile:g}<={self.threshold_ms:g}ms"


@dataclass(frozen=True, slots=True)
class ShapeStep:
    """One step of a load shape (`--shape 20s:2,6s:40`, or a locustfile's LoadTestShape): held for
    `duration_s` at `users` (closed model) or `rate` arrivals per second (open model)."""

    duration_s: float
    users: int | None = None
    rate: float | None = None


@dataclass(frozen=True, slots=True)
class RunConfig:
    url: str
    out: Path
    launch: str | None = None
    pid: int | None = None
    cwd: Path | None = None
    ready_timeout_s: float = 30.0
    duration_s: float = DEFAULT_DURATION_S
    users: tuple[int, ...] = ()
    max_users: int = DEFAULT_MAX_USERS
    stage_count: int | None = None
    rates: tuple[float, ...] = ()
    shape: tuple[ShapeStep, ...] = ()  # a timeline of steps instead of a capacity ladder (docs/transients.md)
    faults: tuple[Fault, ...] = ()  # --fault: signals on the run's timeline (base/faults.py)
    max_inflight: int = 1000
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S
    sample_interval_s: float = 0.1
    probe: bool = True
    probe_path: str = PROBE_PATH
    probe_rate: float = 10.0
    early_stop: bool = True
    max_requests: int = 2_000_000
    allow_remote: bool = False
    slo: Slo | None = None
    peak_rps: float | None = None
    peak_connections: int | None = None  # a ws:// run's fleet is sized for this many held at once
    headroom: float = DEFAULT_HEADROOM
    pyspy: bool = True
    pyspy_rate: int = DEFAULT_PYSPY_RATE
    pyspy_seconds: float = DEFAULT_PYSPY_SECONDS
    pyspy_gil: bool = False
    pyspy_native: bool = False  # py-spy --native: C frames below the Python ones
    memory_limit_mb: float = DEFAULT_MEMORY_LIMIT_MB
    gpu: bool = True
    locustfile: Path | None = None  # the user's own Locust users instead of one URL
    scenario: Path | None = None  # a scenario file's requests instead of one URL
    workers: int = 1  # load generator processes on this machine (Locust master and workers past 1)
    expect_workers: int = 0  # workers started elsewhere (`profiler worker --master`) to wait for
    master_host: str = "127.0.0.1"  # the master's listening address (0.0.0.0 for workers elsewhere)
    master_port: int = 0  # 0: a free port
    metrics_urls: tuple[str, ...] = ()  # Prometheus expositions read during the run (`--metrics-url`)
    price_per_hour: float | None = None  # --price: one instance, per hour
    catalog: tuple[Shape, ...] = ()  # --catalog: instance shapes and their prices
    watts_per_core: float = DEFAULT_WATTS_PER_CORE  # the energy estimate's power per busy core
    websocket: WsConfig | None = None  # a ws:// or wss:// URL: `users` are the connections held

    @property
    def open_model(self) -> bool:
        return bool(self.rates) or any(s.rate is not None for s in self.shape)

    @property
    def observed(self) -> bool:
        """Whether the target's processes are on this machine to sample (--launch or --pid):
        a target reached by its URL alone is seen only through its answers and --metrics-url."""
        return self.launch is not None or self.pid is not None


def free_port() -> int:
    """A port that was free a moment ago on 127.0.0.1 (for `{port}` in --launch and the URL)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def is_loopback_host(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except (OSError, UnicodeError):  # UnicodeError: a name idna cannot encode (a label too long)
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def check_host(host: str, url: str) -> None:
    """A host name DNS can carry: labels of 1 to 63 characters, 253 in all (RFC 1035), that idna
    can encode. Checked here, because getaddrinfo reports it as a UnicodeError traceback."""
    try:
        ipaddress.ip_address(host.strip("[]"))
        return
    except ValueError:
        pass
    try:
        encoded = host.rstrip(".").encode("idna")
    except UnicodeError:
        encoded = b""
    if not encoded or len(encoded) > 253 or any(not 1 <= len(label) <= 63 for label in encoded.split(b".")):
        raise ConfigError(
            f"the host of '{mask_url(url)}' is not a valid name.",
            "each dot-separated part of a host name has 1 to 63 characters, e.g. http://127.0.0.1:8000/predict",
        )


def validate_url(url: str, allow_remote: bool) -> str:
    # Every message shows the URL masked: it may carry a password or a ?token=.
    shown = mask_url(url)
    try:
        parts = urlsplit(url)
    except ValueError as e:
        raise ConfigError(f"'{shown}' is not a valid URL ({e}).", "e.g. http://127.0.0.1:8000/predict") from None
    if parts.scheme not in ("http", "https", *WS_SCHEMES) or not parts.hostname:
        raise ConfigError(
            f"'{shown}' is not an http(s) or ws(s) URL.",
            "give the full address of the endpoint, e.g. http://127.0.0.1:8000/predict or ws://127.0.0.1:8000/chat",
        )
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is not None and not 1 <= port <= 65535:
        raise ConfigError(f"'{shown}' has an invalid port.", "use a number from 1 to 65535")
    check_host(parts.hostname, url)
    if not allow_remote and not is_loopback_host(parts.hostname):
        raise ConfigError(
            f"'{parts.hostname}' is not a loopback address; refusing to send load to another machine.",
            "profile a local copy (127.0.0.1), or pass --allow-remote if you own that host",
        )
    return url


def validate_metrics_url(url: str) -> str:
    """A `--metrics-url`: an http(s) address of a Prometheus exposition. It is only read (one GET a
    second), never loaded, so another host needs no --allow-remote."""
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"--metrics-url '{mask_url(url)}' is not an http(s) URL.",
            "give the address of a Prometheus exposition, e.g. http://127.0.0.1:9100/metrics",
        )
    return url


def _parse_list(
    text: str, what: str, kind: type[float] | type[int], noun: str, example: str, high: float
) -> tuple[float, ...]:
    try:
        values = tuple(kind(v) for v in text.replace(" ", "").split(",") if v)
    except ValueError:
        raise ConfigError(f"{what} '{text}' is not a list of {noun}.", f"e.g. {what} {example}") from None
    lowest = 1 if kind is int else 0
    if not values or any(not (lowest <= v <= high) or v == 0 for v in values):  # nan fails too
        ceiling = f" and <= {_number(high)}" if high < math.inf else ""
        raise ConfigError(
            f"{what} '{text}' must hold numbers {'>= 1' if kind is int else '> 0'}{ceiling}.", f"e.g. {what} {example}"
        )
    return values


def _number(x: float) -> str:
    """A bound as people write it: 100,000 rather than 1e+05."""
    return f"{x:,.0f}" if x >= 1000 and x == int(x) else f"{x:g}"


def parse_int_list(text: str, what: str, high: float = math.inf) -> tuple[int, ...]:
    return tuple(int(v) for v in _parse_list(text, what, int, "whole numbers", "1,2,4,8", high))


def parse_float_list(text: str, what: str, high: float = math.inf) -> tuple[float, ...]:
    return _parse_list(text, what, float, "numbers", "10,20,40", high)


def parse_users(text: str) -> tuple[int, ...]:
    return parse_int_list(text, "--users", MAX_USERS)


def parse_rates(text: str) -> tuple[float, ...]:
    return parse_float_list(text, "--rate", MAX_RATE)


def check_option(option: str, value: float | None) -> float | None:
    """A number option within OPTION_BOUNDS (None: not given)."""
    _field, low, high = OPTION_BOUNDS[option]
    if value is not None and not low <= value <= high:  # nan and inf fail too
        raise ConfigError(
            f"{option} {value:g} is out of range.", f"use a number from {_number(low)} to {_number(high)}"
        )
    return value


def check_options(config: RunConfig) -> RunConfig:
    """Every number option of the run within its bounds (the lists and the SLO are checked as
    they are parsed; stage lengths by `load.plan.check_plan`)."""
    for option, (field, _low, _high) in OPTION_BOUNDS.items():
        check_option(option, getattr(config, field))
    return config


def validate_probe_path(path: str) -> str:
    if not path.startswith("/"):
        raise ConfigError(f"--probe-path '{path}' does not start with '/'.", "e.g. --probe-path /health")
    return path


_CONTROL_CHARS = re.compile("[\x00-\x08\x0a-\x1f\x7f]")  # HTAB is allowed in a header value


def parse_header(text: str) -> tuple[str, str]:
    # No message repeats a header's text or value: a mistyped 'Authorization Bearer x' would put
    # the token on the terminal, and in CI logs.
    name, sep, value = text.partition(":")
    name = name.strip()
    if not sep or not re.fullmatch(f"[{TOKEN_CHARS}]+", name):
        raise ConfigError(
            "a --header is not 'Name: value' (its text is not shown: it may hold a secret).",
            "e.g. --header 'Authorization: Bearer x'",
        )
    if _CONTROL_CHARS.search(value):
        # A CR/LF would split the request's header block: every request would fail or smuggle.
        raise ConfigError(
            f"--header '{name}' has a line break or control character in its value.",
            "give the value on one line, without CR, LF or other control characters",
        )
    return name, value.strip()


def parse_body(text: str | None) -> bytes | None:
    """`@file.json` reads a file; anything else is the literal body."""
    if text is None:
        return None
    if text.startswith("@"):
        path = Path(text[1:])
        try:
            return path.read_bytes()
        except OSError as e:
            raise ConfigError(
                f"cannot read body file '{path}': {e.strerror or e}.",
                "check the path after @ (relative to the current folder)",
            ) from None
    return text.encode()


_PLAIN_NUMBER = re.compile(r"[0-9]*\.?[0-9]+")


def parse_ms(text: str, what: str) -> float:
    """A latency in milliseconds: a plain number is milliseconds (as in k6 thresholds); with a
    unit it is read by the one duration parser (`300ms`, `0.3s`, `1m`)."""
    raw = text.replace(" ", "")
    if _PLAIN_NUMBER.fullmatch(raw):
        return float(raw)
    try:
        return read_duration(raw, what) * 1000.0
    except ConfigError:
        raise ConfigError(f"{what} '{text}' is not a duration.", "write e.g. 300ms or 0.3s") from None


def parse_slo(text: str | None) -> Slo | None:
    """`p95=300ms`, `p99=1s`, `p50=80` (milliseconds when no unit)."""
    if text is None:
        return None
    m = re.match(r"^\s*p([0-9]+(?:\.[0-9]+)?)\s*[=<]=?\s*(.+)$", text)
    if not m:
        raise ConfigError(f"SLO '{text}' is not of the form pNN=DURATION.", "e.g. --slo p95=300ms")
    pct = float(m.group(1))
    if not 0 < pct < 100 or (pct == 100):
        raise ConfigError(f"SLO percentile p{m.group(1)} is out of range.", "use p50 to p99.9")
    threshold = parse_ms(m.group(2), "SLO threshold")
    if threshold <= 0:
        raise ConfigError("SLO threshold must be above zero.", "e.g. --slo p95=300ms")
    if not threshold <= MAX_SLO_MS:  # a long run of digits reads as inf
        raise ConfigError("SLO threshold is over an hour.", "give a latency up to 3600s, e.g. --slo p95=300ms")
    return Slo(pct, threshold)


def substitute_port(url: str, launch: str | None) -> tuple[str, str | None]:
    """Replace `{port}` in the URL and launch command with one free port."""
    if "{port}" not in url and (launch is None or "{port}" not in launch):
        return url, launch
    port = str(free_port())
    return url.replace("{port}", port), (launch.replace("{port}", port) if launch else None)
