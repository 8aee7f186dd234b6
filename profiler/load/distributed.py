"""Load from several processes (and machines) on Locust's own master/worker engine.

The master is the load worker of a one-process run with Locust's MasterRunner in place of its
LocalRunner: it runs the stages, tells the workers which stage runs (so each request is tagged
with the stage it was sent in), and writes every request the workers send it into the one
requests.csv, through the same accounting. Each worker runs the users on Locust's WorkerRunner,
records its requests as a one-process run does (`fire`, or usercode's recorder), and ships them
with the requests it started, twice a second, as custom Locust messages: rows already in CSV with
what the master counts of each (the master is one process for every worker: formatting a row
there cost more than writing it), and rows with Server-Timing as they are (the master numbers the
handoff slots, as it first sees their names). At the end the master
asks each worker to stop and waits for its last rows (`FINAL`), so requests in flight are on disk
as Unfinished, never lost. Workers get the run's spec from the master when they connect (secrets
included: the master listens on 127.0.0.1 unless told otherwise). Docs: docs/scenarios.md.
"""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import gevent
import gevent.event
import locust
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from profiler.base.config import free_port
from profiler.load.generator import Worker
from profiler.load.spec import LoadSpec
from profiler.load.users import user_classes
from profiler.runfolder.records import KIND_MAIN
from profiler.runfolder.write import NO_FACTS, NO_STREAM, RequestLog, StageLog, csv_text, row, untimed

SPEC, JOINED, STAGE = "profiler_spec", "profiler_joined", "profiler_stage"
ROWS, STOP, FINAL = "profiler_rows", "profiler_stop", "profiler_final"
JOIN_TIMEOUT_S = 60.0  # workers started here join within seconds; ones started elsewhere have this long
FINAL_SLACK_S = 5.0  # past the drain time, how long the master waits for a worker's last rows


class Master(Worker):
    def __init__(self, spec: LoadSpec) -> None:
        super().__init__(spec)
        self.port = spec.master_port or free_port()
        self.finals: set[str] = set()
        self.joined: set[str] = set()  # workers that took the spec and are ready for users
        self.local: list[subprocess.Popen[bytes]] = []
        self.expected = (spec.workers if spec.workers > 1 else 0) + spec.expect_workers
        self.runner: MasterRunner | None = None

    def make_runner(self) -> Any:
        runner = self.env.create_master_runner(self.spec.master_host, self.port)
        self.runner = runner
        runner.register_message(ROWS, self.on_rows)
        runner.register_message(FINAL, lambda environment, msg: self.finals.add(msg.node_id))
        runner.register_message(JOINED, lambda environment, msg: self.joined.add(msg.node_id))
        address = f"{'127.0.0.1' if self.spec.master_host in ('0.0.0.0', '*') else self.spec.master_host}:{self.port}"
        for _ in range(self.spec.workers if self.spec.workers > 1 else 0):
            # Same process group as the master: whatever stops the master stops them.
            self.local.append(subprocess.Popen([sys.executable, "-m", "profiler.load.worker", "--worker-of", address]))
        self._join(runner)
        return runner

    def _join(self, runner: MasterRunner) -> None:
        """Send the spec to each worker that connected until it says it has it (a message sent
        as it connects can arrive before it listens for it), up to the expected number."""
        spec = {"spec": self.spec.model_dump_json()}
        deadline = time.monotonic() + JOIN_TIMEOUT_S
        while len(self.joined) < self.expected and not self.stopping and time.monotonic() < deadline:
            for client_id in list(runner.clients):
                if client_id not in self.joined:
                    runner.send_message(SPEC, spec, client_id)
            gevent.sleep(0.5)
        if len(self.joined) < self.expected and not self.stopping:
            self.stop("workers-missing", f"only {len(self.joined)} of {self.expected} load workers joined "
                                         f"the master on port {self.port} within {JOIN_TIMEOUT_S:g} s")  # fmt: skip

    def announce(self, stage: int) -> None:
        if self.runner is not None:
            self.runner.send_message(STAGE, {"index": stage})

    def on_rows(self, environment: Any, msg: Any) -> None:
        for stage, n in msg.data["started"].items():
            self.counter.begin(int(stage), main=True, n=n)
        record = self.record
        for r in msg.data["rows"]:  # a row's stream cells travel as [] when it was not streamed
            record(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], sent=r[10], path=r[11], method=r[12],
                   stream=tuple(r[13]) if r[13] else NO_STREAM, facts=tuple(r[14]))  # fmt: skip
        # The rows the worker wrote itself: on disk as they are, counted as record() counts a row.
        self.log.add_text(msg.data["text"])
        tallied = self.tallied
        for stage, latency, status, error, done, main, sent in msg.data["tally"]:
            tallied(stage, latency, status, error, done, main, sent)

    def end_users(self, runner: Any) -> None:
        """Each worker stops its users (they finish or are recorded Unfinished), sends its last
        rows, and says so; only then do the workers quit."""
        runner.send_message(STOP)
        deadline = time.monotonic() + self.drain_s + FINAL_SLACK_S
        while len(self.finals) < runner.worker_count and time.monotonic() < deadline:
            gevent.sleep(0.1)
        runner.quit()
        for proc in self.local:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()


class ShippingWorker(Worker):
    """A worker process: runs the users the master spawns here; its rows go to the master."""

    def __init__(self, spec: LoadSpec, env: Environment, runner: WorkerRunner) -> None:
        super().__init__(spec)
        self.env, self.runner = env, runner  # the runner that joined the master belongs to this environment
        env.host = self.base
        self.recorder: Any = None
        self.batch: list[list[Any]] = []  # rows with Server-Timing, as record() was given them
        self.plain: list[tuple[object, ...]] = []  # the other rows' cells, and what the master counts of each
        self.tally: list[tuple[int, float, int, str, float, bool, bool]] = []
        self.shipped: dict[int, int] = {}  # requests started, by stage, already reported
        self.done = gevent.event.Event()

    def open_logs(self) -> tuple[RequestLog, StageLog]:
        return _NoLog(), _NoLog()  # type: ignore[return-value]  # the master writes the run folder

    def record(self, start: float, latency: float, ttfb: float, status: int, nbytes: int, error: str, kind: str,
               flags: str, timing: str, stage: int, sent: bool = True, path: str | None = None,
               method: str | None = None, stream: tuple[str, ...] = NO_STREAM,
               facts: tuple[object, ...] = NO_FACTS) -> None:  # fmt: skip
        self.counter.end(status, error, sent)
        if timing:  # handoff slots are numbered by the master, as it first sees their names: it writes this row
            self.batch.append([start, latency, ttfb, status, nbytes, error, kind, flags, timing, stage, sent, path,
                               method, [] if stream is NO_STREAM else list(stream), list(facts)])  # fmt: skip
            return
        # Most rows: formatted here, so the master (one process for every worker) only writes and counts them.
        method, name = self.named(kind, path, method)
        self.plain.append(row(start, latency, ttfb, status, nbytes, error, stage, kind, untimed(flags), method, name,
                              stream, facts))  # fmt: skip
        self.tally.append((stage, latency, status, error, start + latency / 1000.0, kind == KIND_MAIN, sent))

    def flush(self) -> None:
        started = {
            k: v - self.shipped.get(k, 0) for k, v in self.counter.started.items() if v != self.shipped.get(k, 0)
        }
        if self.batch or self.plain or started:
            rows, self.batch = self.batch, []
            text, tally, self.plain, self.tally = csv_text(self.plain), self.tally, [], []
            self.runner.send_message(ROWS, {"rows": rows, "text": text, "tally": tally,
                                            "started": {str(k): v for k, v in started.items()}})  # fmt: skip
            self.shipped.update({k: self.shipped.get(k, 0) + v for k, v in started.items()})

    def watch_hang(self) -> None:
        """The master judges a hang, from everything every worker sends."""

    def on_stop(self, environment: Any, msg: Any) -> None:
        self.stopping = True
        self.runner.stop()  # users finish their request (up to the drain time) or record it Unfinished
        if self.recorder is not None:
            self.recorder.close()
        self.flush()
        self.runner.send_message(FINAL, {"started": sum(self.counter.started.values())})
        self.done.set()

    def serve(self) -> int:
        classes, self.recorder = user_classes(self.spec, self.env, self)
        self.env.user_classes = classes  # the runner reads them from its environment
        self.env.stop_timeout = self.drain_s
        self.runner.register_message(STAGE, lambda environment, msg: self.counter.restart(int(msg.data["index"])))
        self.runner.register_message(STOP, self.on_stop)
        self.runner.send_message(JOINED)
        flusher = gevent.spawn(self.flusher)
        while not self.done.wait(0.5):
            if self.stopping and not self.done.is_set():  # orphaned (the parent went away)
                break
        flusher.kill()
        self.runner.quit()
        return 0


class _NoLog:
    def add(self, *args: Any) -> None: ...
    def flush(self) -> None: ...
    def write(self, *args: Any) -> None: ...
    def close(self) -> None: ...


def worker_of(address: str, locustfile: str | None) -> int:
    """Join the master at HOST:PORT, take the run's spec from it, and serve until it stops."""
    host, _, port = address.rpartition(":")
    env = Environment(user_classes=[], events=locust.events)
    runner = env.create_worker_runner(host or "127.0.0.1", int(port))
    got: gevent.event.AsyncResult = gevent.event.AsyncResult()
    runner.register_message(SPEC, lambda environment, msg: got.ready() or got.set(msg.data["spec"]))
    try:
        spec = LoadSpec.model_validate_json(got.get(timeout=JOIN_TIMEOUT_S))
    except gevent.Timeout:
        sys.stderr.write(f"error: the master at {address} sent no run within {JOIN_TIMEOUT_S:g} s.\n")
        runner.quit()
        return 4
    if locustfile is not None:  # the locustfile's path on this machine
        spec = spec.model_copy(update={"locustfile": locustfile})
    return ShippingWorker(spec, env, runner).serve()
