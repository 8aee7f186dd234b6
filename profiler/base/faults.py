"""Faults on a run's timeline (`--fault KIND@TIME[+DURATION][:NAME]`): what is asked, checked as
it is parsed. Sending them is profiler/run/faults.py's; reading what they cost, analysis's.

- `restart@15s`: SIGTERM the launched target's process group, wait for it to exit (SIGKILL past
  RESTART_GRACE_S), start the same command again and wait until it answers (profiler/run/restart.py);
- `reload@15s`: the server's own graceful reload (SIGHUP to its master: gunicorn, nginx);
- `kill-worker@15s`: SIGKILL one worker of a pool (its master should start another);
- `pause@15s+3s:NAME`: SIGSTOP, then SIGCONT after the duration, a process of the target's tree
  whose name or command line holds NAME (its Redis, its database): a stalled dependency.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from profiler.base.durations import parse_duration
from profiler.base.errors import ConfigError

FaultKind = Literal["restart", "reload", "kill-worker", "pause"]
KINDS: tuple[FaultKind, ...] = ("restart", "reload", "kill-worker", "pause")
MAX_FAULTS = 20
_FIX = "e.g. --fault restart@15s, --fault reload@15s, --fault kill-worker@10s, --fault pause@15s+3s:redis-server"
_GRAMMAR = re.compile(r"^(?P<kind>[a-z-]+)@(?P<at>[^+:]+)(?:\+(?P<length>[^:]+))?(?::(?P<name>.+))?$")


@dataclass(frozen=True, slots=True)
class Fault:
    kind: FaultKind
    at_s: float  # seconds from the first stage's start
    duration_s: float = 0.0  # pause: how long the process is stopped
    name: str | None = None  # pause: which process of the tree

    def label(self) -> str:
        length = f"+{self.duration_s:g}s" if self.duration_s else ""
        return f"{self.kind}@{self.at_s:g}s{length}" + (f":{self.name}" if self.name else "")


def parse_fault(text: str) -> Fault:
    match = _GRAMMAR.match(text.strip())
    if match is None:
        raise ConfigError(f"--fault '{text}' is not KIND@TIME[+DURATION][:NAME].", _FIX)
    kind = match["kind"]
    if kind not in KINDS:
        raise ConfigError(f"--fault '{text}': unknown kind '{kind}'.", f"use one of {', '.join(KINDS)}")
    at = parse_duration(match["at"], "--fault")
    length = parse_duration(match["length"], "--fault") if match["length"] else 0.0
    name = match["name"]
    if kind == "pause" and (not length or not name):
        raise ConfigError(f"--fault '{text}': a pause needs a length and a process name.", "e.g. pause@15s+3s:redis")
    if kind != "pause" and (length or name):
        raise ConfigError(f"--fault '{text}': only a pause takes +DURATION and :NAME.", _FIX)
    return Fault(kind, at, length, name)


def parse_faults(texts: tuple[str, ...], run_s: float) -> tuple[Fault, ...]:
    """Each --fault, inside the run (its length: the stages' sum), in time order."""
    if len(texts) > MAX_FAULTS:
        raise ConfigError(f"more than {MAX_FAULTS} --fault.", "fewer faults: each is an event of its own")
    faults = tuple(sorted((parse_fault(t) for t in texts), key=lambda f: f.at_s))
    for f in faults:
        if f.at_s <= 0 or f.at_s + f.duration_s >= run_s:
            raise ConfigError(f"--fault {f.label()} is outside the run (0 to {run_s:g}s of load).",
                              "give a time inside the run, with room after it to see the recovery")  # fmt: skip
    return faults
