"""The load generator process: the only place that imports Locust (and so gevent).

Run as `python -m profiler.load.worker SPEC.json` by `profiler.load.driver`. Importing Locust
monkey-patches the standard library with gevent, which is why it lives in its own process: the
orchestrator, the live view and the sampler stay on real threads with steady timing.

It writes request records and stage boundaries straight into the run folder (flushed twice a
second, so a crash loses at most the last half second) and prints one JSON progress line per
tick on stdout for the live view.
"""

from __future__ import annotations

# Locust must be imported before anything that pulls in ssl/urllib3 (RecursionError otherwise).
import locust  # noqa: F401  isort: skip

import base64
import csv
import json
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import gevent
import gevent.pool
from locust import constant, task
from locust.contrib.fasthttp import FastHttpSession, FastHttpUser
from locust.env import Environment

from profiler.stats import percentile
from profiler.load.plan import StageOutcome, StagePlan, saturation_reason
from profiler.record import FLAG_CHUNKED, FLAG_COOKIE, FLAG_EVENT_STREAM, REQUEST_COLUMNS, UNSENT

FLUSH_EVERY_S = 0.5
TICK_EVERY_S = 0.5


@dataclass
class Spec:
    url: str
    method: str
    headers: dict[str, str]
    body: bytes | None
    timeout_s: float
    plan: list[StagePlan]
    out_dir: Path
    probe_path: str | None
    probe_rate: float
    early_stop: bool
    max_requests: int
    max_inflight: int
    profile_s: float | None = None  # length of the extra stage run with py-spy attached
    bare: bool = False  # benchmarks only: plain Locust requests, none of our recording

    @classmethod
    def load(cls, path: Path) -> Spec:
        # "-": the spec comes on stdin, so headers and body (secrets) never touch the disk.
        raw = json.loads(sys.stdin.read() if str(path) == "-" else path.read_text())
        return cls(
            url=raw["url"],
            method=raw["method"],
            headers=dict(raw["headers"]),
            body=base64.b64decode(raw["body_b64"]) if raw.get("body_b64") else None,
            timeout_s=float(raw["timeout_s"]),
            plan=[StagePlan(**p) for p in raw["plan"]],
            out_dir=Path(raw["out_dir"]),
            probe_path=raw.get("probe_path"),
            probe_rate=float(raw.get("probe_rate", 10.0)),
            early_stop=bool(raw.get("early_stop", True)),
            max_requests=int(raw.get("max_requests", 2_000_000)),
            max_inflight=int(raw.get("max_inflight", 1000)),
            bare=bool(raw.get("bare", False)),
            profile_s=float(raw["profile_s"]) if raw.get("profile_s") else None,
        )


@dataclass
class Recorder:
    """Buffers request records and appends them to requests.csv."""

    path: Path
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    stage: int = 0
    total: int = 0
    stage_latencies: list[float] = field(default_factory=list)
    stage_errors: int = 0
    window: list[tuple[float, float, bool]] = field(default_factory=list)  # (end time, latency, error)

    def __post_init__(self) -> None:
        new = not self.path.exists()
        self._fh = self.path.open("a", newline="")
        self._csv = csv.writer(self._fh)
        if new:
            self._csv.writerow(REQUEST_COLUMNS)
            self._fh.flush()

    def add(
        self,
        start: float,
        latency: float,
        ttfb: float,
        status: int,
        nbytes: int,
        error: str,
        kind: str,
        flags: str,
        timing: str,
        stage: int | None = None,
    ) -> None:
        # A request belongs to the stage it was sent in (given by the caller), not the one it
        # finished in: a saturated stage's slowest answers arrive after it ends.
        stage = self.stage if stage is None else stage
        self.rows.append(
            (f"{start:.6f}", f"{latency:.3f}", f"{ttfb:.3f}", status, nbytes, error, stage, kind, flags, timing)
        )
        if kind == "main":
            self.total += 1
            failed = bool(error) or status == 0 or status >= 400
            if stage == self.stage and error != UNSENT:
                self.stage_latencies.append(latency)
            self.stage_errors += failed
            if error != UNSENT:
                self.window.append((time.time(), latency, failed))

    def flush(self) -> None:
        if self.rows:
            rows, self.rows = self.rows, []
            self._csv.writerows(rows)
            self._fh.flush()

    def close(self) -> None:
        self.flush()
        self._fh.close()


def _joined(headers: Any, name: str) -> str:
    """All values of a header that may be sent several times, joined as one list."""
    getter = getattr(headers, "getheaders", None) or getattr(headers, "get_all", None)
    if getter is not None:
        values = getter(name)
        return ", ".join(values) if values else ""
    return str(headers.get(name) or "")


class Worker:
    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        parts = urlsplit(spec.url)
        self.base = f"{parts.scheme}://{parts.netloc}"
        self.path = parts.path or "/"
        if parts.query:
            self.path += "?" + parts.query
        self.recorder = Recorder(spec.out_dir / "requests.csv")
        self.stages_fh = (spec.out_dir / "stages.jsonl").open("a")
        self.stopping = False
        self.stop_reason = "completed"
        self.env = Environment(user_classes=[], events=locust.events)
        self.parent = os.getppid()

    # -- one request, timed by us: Locust rounds its own figures and has no time to first byte
    def fire(self, client: FastHttpSession, path: str, kind: str, intended: float | None = None) -> None:
        spec = self.spec
        stage = self.recorder.stage
        wall = time.time()
        t0 = time.perf_counter()
        # In the open model, latency counts from the intended arrival, not from when we got to it:
        # that is what avoids coordinated omission.
        offset_ms = max(0.0, (wall - intended) * 1000.0) if intended is not None else 0.0
        headers = spec.headers if kind == "main" else {}
        body = spec.body if kind == "main" else None
        method = spec.method if kind == "main" else "GET"
        resp = client.request(method, path, data=body, headers=headers, stream=True, name=kind)  # type: ignore[arg-type]
        ttfb = (time.perf_counter() - t0) * 1000.0
        error = ""
        nbytes = 0
        status = int(getattr(resp, "status_code", 0) or 0)
        exc = getattr(resp, "error", None)
        if exc is not None and status == 0:
            error = type(exc).__name__
        else:
            try:
                content = resp.content
                nbytes = len(content) if content else 0
            except (OSError, ValueError, gevent.Timeout) as e:  # body cut off mid-stream
                error = type(e).__name__
        latency = (time.perf_counter() - t0) * 1000.0 + offset_ms
        timing = ""
        flags = ""
        headers_in = resp.headers
        if headers_in is not None:
            timing = _joined(headers_in, "Server-Timing")
            if _joined(headers_in, "Set-Cookie"):
                flags += FLAG_COOKIE
            if "chunked" in _joined(headers_in, "Transfer-Encoding").lower():
                flags += FLAG_CHUNKED
            if "text/event-stream" in _joined(headers_in, "Content-Type").lower():
                flags += FLAG_EVENT_STREAM
        if not error and status >= 400:
            error = f"HTTP {status}"
        start = intended if intended is not None else wall
        self.recorder.add(start, latency, ttfb + offset_ms, status, nbytes, error, kind, flags, timing, stage)
        if self.recorder.total >= spec.max_requests:
            self.stop("request limit reached")

    def stop(self, reason: str) -> None:
        if not self.stopping:
            self.stopping = True
            self.stop_reason = reason

    def emit(self, message: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()

    def new_session(self, concurrency: int) -> FastHttpSession:
        return FastHttpSession(
            base_url=self.base,
            request_event=self.env.events.request,
            user=None,
            concurrency=concurrency,
            network_timeout=self.spec.timeout_s,
            connection_timeout=self.spec.timeout_s,
            insecure=True,
        )

    def user_class(self) -> type[FastHttpUser]:
        worker = self

        class TargetUser(FastHttpUser):
            host = self.base
            wait_time = constant(0)
            concurrency = 1
            network_timeout = self.spec.timeout_s
            connection_timeout = self.spec.timeout_s
            insecure = True

            @task
            def hit(self) -> None:
                if worker.stopping:
                    gevent.sleep(0.05)
                    return
                if worker.spec.bare:
                    # What a plain Locust test does: the baseline our recording's cost is measured against.
                    worker.recorder.total += 1
                    self.client.request(worker.spec.method, worker.path, data=worker.spec.body)  # type: ignore[arg-type]
                    return
                worker.fire(self.client, worker.path, "main")

        return TargetUser

    # -- background greenlets
    def flusher(self) -> None:
        while True:
            gevent.sleep(FLUSH_EVERY_S)
            self.recorder.flush()
            if os.getppid() != self.parent:  # the orchestrator is gone: never load on unattended
                self.stop("profiler exited")

    def prober(self) -> None:
        assert self.spec.probe_path is not None
        client = self.new_session(concurrency=1)
        gap = 1.0 / self.spec.probe_rate
        while not self.stopping:
            t0 = time.monotonic()
            self.fire(client, self.spec.probe_path, "probe")
            gevent.sleep(max(0.0, gap - (time.monotonic() - t0)))

    def ticker(self, stage: StagePlan, started: float) -> None:
        while True:
            gevent.sleep(TICK_EVERY_S)
            now = time.time()
            window = [w for w in self.recorder.window if w[0] >= now - 2.0]
            self.recorder.window = window
            lat = sorted(w[1] for w in window)
            span = min(2.0, max(0.25, now - started))
            self.emit(
                {
                    "type": "tick",
                    "stage": stage.index,
                    "users": stage.users,
                    "rate": stage.rate,
                    "stage_elapsed": now - started,
                    "stage_duration": stage.duration_s,
                    "rps": len(window) / span,
                    "p50": percentile(lat, 50),
                    "p95": percentile(lat, 95),
                    "errors": sum(1 for w in window if w[2]),
                    "requests": self.recorder.total,
                }
            )

    def run_stage_closed(self, stage: StagePlan, runner: Any) -> None:
        assert stage.users is not None
        runner.start(stage.users, spawn_rate=max(stage.users * 4, 10))
        self.sleep_stage(stage)

    def run_stage_open(self, stage: StagePlan, client: FastHttpSession, pool: gevent.pool.Pool) -> None:
        assert stage.rate is not None
        gap = 1.0 / stage.rate
        start = time.time()
        n = 0
        while not self.stopping:
            intended = start + n * gap
            if intended >= start + stage.duration_s:
                break
            delay = intended - time.time()
            if delay > 0:
                gevent.sleep(delay)
            else:
                gevent.sleep(0)  # catching up: let the spawned requests start (and signals run)
            if pool.full():
                # The generator itself is out of slots: record the arrival as failed, never wait,
                # or the schedule would bend to the target (coordinated omission).
                self.recorder.add(intended, 0.0, 0.0, 0, 0, UNSENT, "main", "", "")
            else:
                pool.spawn(self.fire, client, self.path, "main", intended)
            n += 1

    def sleep_stage(self, stage: StagePlan) -> None:
        end = time.monotonic() + stage.duration_s
        while not self.stopping and time.monotonic() < end:
            gevent.sleep(min(0.1, max(0.0, end - time.monotonic())))

    def run_stage(
        self, stage: StagePlan, runner: Any, open_client: FastHttpSession | None, pool: gevent.pool.Pool, profiled: bool
    ) -> StageOutcome:
        spec = self.spec
        self.recorder.flush()
        self.recorder.stage = stage.index
        self.recorder.stage_latencies = []
        self.recorder.stage_errors = 0
        started = time.time()
        total_before = self.recorder.total
        self.stages_fh.write(
            json.dumps(
                {
                    "event": "start",
                    "index": stage.index,
                    "users": stage.users,
                    "rate": stage.rate,
                    "t": started,
                    "planned_s": stage.duration_s,
                    "profiled": profiled,
                }
            )
            + "\n"
        )
        self.stages_fh.flush()
        tick = gevent.spawn(self.ticker, stage, started)
        if runner is not None:
            self.run_stage_closed(stage, runner)
        else:
            assert open_client is not None
            self.run_stage_open(stage, open_client, pool)
        tick.kill()
        self.stage_ended = time.time()
        lat = sorted(self.recorder.stage_latencies)
        n = self.recorder.total - total_before if spec.bare else len(lat)
        return StageOutcome(
            stage.users,
            n / max(self.stage_ended - started, 1e-9),
            percentile(lat, 50),
            percentile(lat, 95),
            self.recorder.stage_errors / n if n else 0.0,
            n,
        )

    def end_stage(self, stage: StagePlan, outcome: StageOutcome, reason: str | None) -> None:
        self.stages_fh.write(
            json.dumps(
                {
                    "event": "end",
                    "index": stage.index,
                    "t": self.stage_ended,
                    "requests": outcome.requests,
                    "stop_reason": reason,
                }
            )
            + "\n"
        )
        self.stages_fh.flush()
        self.emit(
            {
                "type": "stage_end",
                "stage": stage.index,
                "users": stage.users,
                "rate": stage.rate,
                "rps": outcome.rps,
                "p50": outcome.p50_ms,
                "p95": outcome.p95_ms,
                "error_rate": outcome.error_rate,
                "requests": outcome.requests,
            }
        )

    def run(self) -> int:
        spec = self.spec
        gevent.signal_handler(signal.SIGTERM, self.stop, "interrupted")
        gevent.signal_handler(signal.SIGINT, self.stop, "interrupted")
        greenlets = [gevent.spawn(self.flusher)]
        if spec.probe_path:
            greenlets.append(gevent.spawn(self.prober))
        runner = None
        open_client = None
        pool = gevent.pool.Pool(spec.max_inflight)
        if spec.plan[0].users is not None:
            self.env.user_classes = [self.user_class()]
            runner = self.env.create_local_runner()
        else:
            open_client = self.new_session(concurrency=spec.max_inflight)
        history: list[StageOutcome] = []
        for stage in spec.plan:
            if self.stopping:
                break
            outcome = self.run_stage(stage, runner, open_client, pool, profiled=False)
            history.append(outcome)
            reason = saturation_reason(history) if spec.early_stop and not self.stopping else None
            self.end_stage(stage, outcome, reason)
            if reason:
                self.stop(f"saturated: {reason}")
        if spec.profile_s and history and (self.stop_reason == "completed" or self.stop_reason.startswith("saturated")):
            # A dedicated stage for py-spy, at the load that gave the most throughput: py-spy costs the
            # target ~13% of its throughput at 100 Hz (docs/benchmarks.md), so no capacity figure is taken from this stage.
            best = max(range(len(history)), key=lambda i: history[i].rps)
            ran = spec.plan[best]
            stage = StagePlan(index=len(history), users=ran.users, rate=ran.rate, duration_s=spec.profile_s)
            self.stopping = False
            self.emit({"type": "profile_start", "stage": stage.index, "duration_s": stage.duration_s})
            outcome = self.run_stage(stage, runner, open_client, pool, profiled=True)
            self.end_stage(stage, outcome, None)
        self.stopping = True
        if runner is not None:
            runner.quit()
        pool.join(timeout=min(spec.timeout_s, 5.0))  # the orchestrator's patience is 10 s
        gevent.killall(greenlets, timeout=2)
        self.recorder.close()
        self.stages_fh.close()
        self.emit({"type": "done", "reason": self.stop_reason, "requests": self.recorder.total})
        return 0


def main() -> int:
    spec = Spec.load(Path(sys.argv[1]))
    return Worker(spec).run()


if __name__ == "__main__":
    sys.exit(main())
