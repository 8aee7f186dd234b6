"""faults.jsonl: one line per --fault as the run sent it (profiler/run/faults.py writes it, the
analysis reads it): its kind, when it began and ended (epoch s), the process it acted on, and
what went wrong sending it, if anything; a restart adds its own figures."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from profiler.runfolder.names import FAULTS
from profiler.runfolder.records import finite_number


@dataclass(frozen=True, slots=True)
class RestartFigures:
    """A restart's own figures (run/restart.py says how each is taken)."""

    stopped_after_s: float  # SIGTERM until the root process exited (the drain)
    killed: bool  # it did not exit in the grace time: SIGKILLed
    exit_code: int | None
    pid_after: int | None  # the new root; None: it could not be started again
    ready_after_s: float | None  # started again until it answered; None: it never did

    @classmethod
    def parse(cls, d: object) -> RestartFigures | None:
        if not isinstance(d, dict) or (stopped := finite_number(d.get("stopped_after_s"))) is None:
            return None
        code, pid = d.get("exit_code"), d.get("pid_after")
        return cls(stopped, bool(d.get("killed")), code if isinstance(code, int) else None,
                   pid if isinstance(pid, int) else None, finite_number(d.get("ready_after_s")))  # fmt: skip


@dataclass(frozen=True, slots=True)
class FaultRecord:
    kind: str
    label: str  # as asked: reload@15s, pause@15s+3s:redis-server
    at: float  # epoch s, when it was sent
    until: float  # epoch s, when it ended (a pause's SIGCONT; else the same as `at`)
    pid: int | None
    process: str  # the process's name and command line, as seen (masked)
    error: str | None = None  # why it could not be sent (the process had gone), or a restart failed
    restart: RestartFigures | None = None

    def line(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":")) + "\n"

    @classmethod
    def parse(cls, d: dict[str, Any]) -> FaultRecord | None:
        at, until = finite_number(d.get("at")), finite_number(d.get("until"))
        if at is None or until is None or not isinstance(d.get("kind"), str):
            return None
        pid = d.get("pid")
        return cls(str(d["kind"]), str(d.get("label") or d["kind"]), at, max(at, until),
                   pid if isinstance(pid, int) else None, str(d.get("process") or ""),
                   str(d["error"]) if d.get("error") else None, RestartFigures.parse(d.get("restart")))  # fmt: skip


def read_faults(folder: Path) -> tuple[FaultRecord, ...]:
    """The faults a run sent, in time order (a damaged line is left out)."""
    path = folder / FAULTS
    if not path.exists():
        return ()
    out = []
    for raw in path.read_text(errors="replace").splitlines():
        try:
            d = json.loads(raw)
        except json.JSONDecodeError:
            continue
        if isinstance(d, dict) and (rec := FaultRecord.parse(d)) is not None:
            out.append(rec)
    return tuple(sorted(out, key=lambda r: r.at))
