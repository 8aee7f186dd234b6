"""What a WebSocket run is asked to do (`ws://` and `wss://` URLs): the connections held in stages,
the message each connection sends and how often, and how fast connections are opened.

A run of connections is the closed model with one user per connection (docs/connections.md): the
stages are the connections held, each reached at `connect_rate` new connections a second and
then held. Parsing lives here so that every bad input is a ConfigError with a fix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from profiler.base.errors import ConfigError

WS_SCHEMES = ("ws", "wss")
DEFAULT_CONNECTIONS = (10, 100, 1000)
DEFAULT_MESSAGE_RATE = 1.0  # per connection per second: a chat or a game's heartbeat
DEFAULT_CONNECT_RATE = 200.0  # new connections a second while a stage ramps up
MAX_CONNECTIONS = 100_000  # one generator process holds them all
MAX_MESSAGE_RATE = 1000.0
MAX_CONNECT_RATE = 10_000.0
MAX_MESSAGE_BYTES = 1 << 20  # a message is a frame, not a file upload


@dataclass(frozen=True, slots=True)
class WsConfig:
    """The WebSocket half of a run's config: None on a RunConfig of an http(s) URL."""

    # The frame each connection sends; None: a ping, whose pong every server sends (RFC 6455 5.5.2),
    # so a round trip is measured on any server without knowing its protocol.
    message: bytes | None = None
    message_rate: float = DEFAULT_MESSAGE_RATE  # per connection per second; 0: connections held idle
    connect_rate: float = DEFAULT_CONNECT_RATE
    binary: bool = False  # send the message as a binary frame (a file that is not UTF-8 text)

    @property
    def gap_s(self) -> float | None:
        """Seconds between one connection's messages; None when it sends none."""
        return 1.0 / self.message_rate if self.message_rate > 0 else None

    def ramp_s(self, before: int, after: int) -> float:
        """How long a stage takes to go from `before` connections to `after` at the connect rate."""
        return abs(after - before) / self.connect_rate


def is_websocket(url: str) -> bool:
    return url.partition(":")[0].lower() in WS_SCHEMES


def parse_rate(text: str | None, option: str, default: float, high: float, allow_zero: bool) -> float:
    """`1`, `1/s` or `0.5/s`: a number per second within (0 or above 0, high]."""
    if text is None:
        return default
    raw = text.replace(" ", "").removesuffix("/s")
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    low_ok = value >= 0 if allow_zero else value > 0
    if not (low_ok and value <= high):  # nan fails too
        floor = "0" if allow_zero else "above 0"
        raise ConfigError(f"{option} '{text}' is not a rate from {floor} to {high:g} a second.",
                          f"e.g. {option} 1/s")  # fmt: skip
    return value


def parse_message(text: str | None) -> tuple[bytes | None, bool]:
    """`--message TEXT` or `--message @file`; (bytes, binary) where binary means not UTF-8 text."""
    if text is None:
        return None, False
    if text.startswith("@"):
        path = Path(text[1:])
        try:
            data = path.read_bytes()
        except OSError as e:
            raise ConfigError(f"cannot read message file '{path}': {e.strerror or e}.",
                              "check the path after @ (relative to the current folder)") from None  # fmt: skip
    else:
        data = text.encode()
    if not data:
        raise ConfigError("--message is empty.", "give the text each connection sends, or leave --message out to ping")
    if len(data) > MAX_MESSAGE_BYTES:
        raise ConfigError(f"--message is {len(data):,} bytes, over the {MAX_MESSAGE_BYTES:,} a message may hold.",
                          "send a smaller frame")  # fmt: skip
    try:
        data.decode("utf-8")
        return data, False
    except UnicodeDecodeError:
        return data, True
