"""The load generator: one process's stages, users, probe and records, on Locust's engine.

Started as `python -m profiler.load.worker -` (`profiler.load.worker`) by `profiler.load.driver`, its LoadSpec on stdin. Locust
monkey-patches the standard library with gevent, hence its own process: the orchestrator, the live
view and the sampler keep real threads with steady timing. It writes request records and stage
boundaries into the run folder (`profiler.runfolder.write`, flushed twice a second: a crash loses at
most the last half second) and prints one typed message a line (`profiler.runfolder.messages`).
"""

from __future__ import annotations

# Locust must be imported before anything that pulls in ssl/urllib3 (RecursionError otherwise).
import locust  # noqa: F401  isort: skip

import os
import signal
import sys
import time
from typing import Any
from urllib.parse import urlsplit

import gevent
import gevent.pool
from locust.contrib.fasthttp import FastHttpSession
from locust.env import Environment
from locust.event import EventHook

from profiler.base.stats import percentile
from profiler.load.accounting import StageCounter, tick_of
from profiler.load.plan import StageOutcome, StagePlan, saturation_reason
from profiler.load.response import (
    basic_auth,
    cache_of,
    error_name,
    flags_of,
    joined,
    read_body,
    read_stream,
    request_body,
    request_key,
)
from profiler.load.spec import LoadSpec
from profiler.load.stream import StreamSummary
from profiler.load.transport import request_headers, send
from profiler.load.usercode import Row
from profiler.load.users import NO_RETRIES, user_classes
from profiler.runfolder import messages
from profiler.runfolder.records import (
    FLAG_CHUNKED,
    FLAG_EVENT_STREAM,
    KIND_MAIN,
    KIND_PROBE,
    UNFINISHED,
    UNSENT,
    Finish,
    Hang,
    StageEnd,
    StageStart,
)
from profiler.runfolder.write import NO_FACTS, NO_STREAM, RequestLog, StageLog

FLUSH_EVERY_S = 0.5
TICK_EVERY_S = 0.5
DRAIN_S = 5.0  # at the end, how long requests in flight may still finish (the orchestrator waits 10 s)
# A target silent this long (or for the request timeout, if longer) while requests wait is hung:
# not slow, since a slow target still answers something (the probe, a refusal, a response).
HANG_MIN_S = 5.0
CUT_SLACK = 0.95  # a stage that ran less than this share of its plan was cut short


class Worker:
    def __init__(self, spec: LoadSpec) -> None:
        self.spec = spec
        parts = urlsplit(spec.url)
        # Credentials in the URL travel as Basic auth (unless -H Authorization says otherwise),
        # never in the base URL, where a lone `TOKEN@` would otherwise stay.
        self.base = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
        self.headers = basic_auth(parts.username, parts.password, spec.headers)
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.route = parts.path or "/"  # the route's name: never the query, which may hold a token
        self.body = spec.body
        # The request's size and key (records.CACHE_COLUMNS): the same for every main request,
        # so made once. The probe's path is fixed too.
        sent = request_body(self.body)
        self.main_bytes, self.main_key = len(sent), request_key(spec.method, self.path, sent)
        self.probe_key = request_key("GET", spec.probe_path or "", b"")
        self.sent_headers = request_headers(self.headers)  # as Locust's request() would send them
        self.probe_headers = request_headers({})
        self.log, self.stages = self.open_logs()
        self.counter = StageCounter()
        self.stopping = False
        self.status: messages.WorkerStatus = "completed"
        self.reason = "completed"
        self.env = Environment(user_classes=[], events=locust.events, host=self.base)
        self.parent = os.getppid()
        self.stage_ended = 0.0
        self.cut_short: str | None = None  # why the stage that just ended stopped early, if it did
        self.stage_starts: list[tuple[int, float]] = []  # (stage, wall time it started)
        self.in_flight: int | None = None  # open model: requests still in flight as the last stage ended
        self.drain_s = min(spec.timeout_s, DRAIN_S)
        self.hang_after_s = max(HANG_MIN_S, spec.timeout_s)
        self.write_error: str | None = None

    def open_logs(self) -> tuple[RequestLog, StageLog]:
        return RequestLog(self.spec.out_dir), StageLog(self.spec.out_dir)

    # -- the hooks a distributed run replaces (profiler/load/distributed.py)
    def make_runner(self) -> Any:
        return self.env.create_local_runner()

    def announce(self, stage: int) -> None:
        """Tell the users' processes which stage runs now (here they are ours: nothing to tell)."""

    def end_users(self, runner: Any) -> None:
        runner.quit()

    # -- one request, timed by us: Locust rounds its own figures and has no time to first byte
    def fire(self, client: FastHttpSession, path: str, kind: str, intended: float | None = None) -> None:
        """Send one request and record it, whatever happens: every request started is recorded
        once, with its outcome (a response, an error by name, or UNFINISHED if the run ended first)."""
        stage, main = self.counter.stage, kind == KIND_MAIN
        wall, t0 = time.time(), time.perf_counter()
        # In the open model, latency counts from the intended arrival, not from when we got to it:
        # that is what avoids coordinated omission.
        offset_ms = max(0.0, (wall - intended) * 1000.0) if intended is not None else 0.0
        start = intended if intended is not None else wall
        self.counter.begin(stage, main)
        ttfb, status, nbytes = 0.0, 0, 0
        error = flags = timing = crc = cache = ""
        streamed: StreamSummary | None = None
        try:
            method, body, sending = (
                (self.spec.method, self.body, self.sent_headers) if main else ("GET", None, self.probe_headers)
            )
            resp = send(client, method, self.base + path, body, sending)
            ttfb = (time.perf_counter() - t0) * 1000.0 + offset_ms
            status = int(getattr(resp, "status_code", 0) or 0)
            headers = resp.headers
            if headers is not None:
                flags, timing = flags_of(headers), joined(headers, "Server-Timing")
                cache = cache_of(headers, timing)
            if main and (FLAG_CHUNKED in flags or FLAG_EVENT_STREAM in flags):
                error, nbytes, streamed = read_stream(resp, status, t0, events=FLAG_EVENT_STREAM in flags)
            else:
                error, nbytes, crc = read_body(resp, status)
        except gevent.GreenletExit:
            # Still waiting when the run ended, past the drain time: recorded with the time it had
            # waited (a lower bound), so an overloaded target's slowest requests never vanish.
            waited = (time.perf_counter() - t0) * 1000.0 + offset_ms
            self.record(start, waited, ttfb or waited, status, 0, UNFINISHED, kind, flags, timing, stage, path=path)
            raise
        except Exception as exc:  # noqa: BLE001 - whatever the client raises, the request is recorded
            error = error_name(exc)
        latency = (time.perf_counter() - t0) * 1000.0 + offset_ms
        if not error and status >= 400:
            error = f"HTTP {status}"
        facts = (self.main_bytes, self.main_key, crc, cache) if main else (0, self.probe_key, crc, cache)
        self.record(start, latency, ttfb or latency, status, nbytes, error, kind, flags, timing, stage, path=path,
                    stream=streamed.cells() if streamed else NO_STREAM, facts=facts)  # fmt: skip

    def record(self, start: float, latency: float, ttfb: float, status: int, nbytes: int, error: str, kind: str,
               flags: str, timing: str, stage: int, sent: bool = True, path: str | None = None,
               method: str | None = None, stream: tuple[str, ...] = NO_STREAM,
               facts: tuple[object, ...] = NO_FACTS) -> None:  # fmt: skip
        method, name = self.named(kind, path, method)
        self.log.add(start, latency, ttfb, status, nbytes, error, stage, kind, flags, timing, method, name, stream,
                     facts)  # fmt: skip
        self.tallied(stage, latency, status, error, start + latency / 1000.0, kind == KIND_MAIN, sent)

    def named(self, kind: str, path: str | None, method: str | None) -> tuple[str, str]:
        """A row's method and route name."""
        if method is not None:  # a user's request, named as Locust names it (usercode.route_name masked its secrets)
            return method, path or ""
        main = kind == KIND_MAIN  # ours: the one URL's path (never its query, which may hold a token), or the probe's
        name = self.route if path is None or (main and path == self.path) else path.partition("?")[0]
        return (self.spec.method if main else "GET"), name

    def tallied(self, stage: int, latency: float, status: int, error: str, end: float, main: bool, sent: bool) -> None:
        """The accounting of a request on disk. It belongs to the stage it was sent in (given by the
        caller), not the one it finished in: a saturated stage's slowest answers arrive after it ends."""
        self.counter.end(status, error, sent)
        if main:
            self.counter.count(stage, latency, status, error, end=end)
            if self.counter.total >= self.spec.max_requests:
                self.stop("request-limit", "request limit reached")

    # -- the Sink of users written elsewhere (a locustfile, a scenario): see profiler.load.usercode
    @property
    def stage(self) -> int:
        return self.counter.stage

    def begin(self, stage: int) -> None:
        self.counter.begin(stage, main=True)

    def record_route(self, row: Row) -> None:
        self.record(row.start, row.latency_ms, row.ttfb_ms, row.status, row.nbytes, row.error, KIND_MAIN, row.flags,
                    row.timing, row.stage, path=row.name, method=row.method, facts=row.facts())  # fmt: skip

    def stop(self, status: messages.WorkerStatus, reason: str) -> None:
        if not self.stopping:
            self.stopping = True
            self.status, self.reason = status, reason

    def emit(self, message: messages.Tick | messages.StageDone | messages.ProfileStart | messages.Done) -> None:
        sys.stdout.write(messages.encode(message))
        sys.stdout.flush()

    def new_session(self, concurrency: int) -> FastHttpSession:
        return FastHttpSession(
            base_url=self.base,
            request_event=EventHook(),  # ours, timed by `fire`: never a user's request (usercode)
            user=None,
            concurrency=concurrency,
            max_retries=NO_RETRIES,
            network_timeout=self.spec.timeout_s,
            connection_timeout=self.spec.timeout_s,
            insecure=True,
        )

    # -- background greenlets
    def flusher(self) -> None:
        while True:
            gevent.sleep(FLUSH_EVERY_S)
            self.flush()
            if os.getppid() != self.parent:  # the orchestrator is gone: never load on unattended
                self.stop("orphaned", "profiler exited")
            self.watch_hang()

    def flush(self) -> None:
        """Write the buffered rows. A full disk stops the run: rows that cannot be written would
        be lost silently, and the accounting on disk (stages.jsonl) names how many."""
        try:
            self.log.flush()
        except OSError as e:
            self.write_error = e.strerror or str(e)
            self.stop("write-failed", f"cannot write the run folder: {self.write_error}")

    def event(self, event: StageStart | StageEnd | Hang | Finish) -> None:
        try:
            self.stages.write(event)
        except OSError as e:
            self.write_error = e.strerror or str(e)
            self.stop("write-failed", f"cannot write the run folder: {self.write_error}")

    def watch_hang(self) -> None:
        silent = self.counter.silent_s()
        if self.stopping or silent < self.hang_after_s:
            return
        waiting = self.counter.in_flight
        began = time.time() - silent
        stage = max((i for i, t in self.stage_starts if t <= began), default=self.counter.stage)
        self.event(Hang(stage, began, round(silent, 3), waiting))
        self.stop("hung", f"the target stopped answering: nothing came back for {silent:.0f} s "
                          f"with {waiting} requests waiting")  # fmt: skip

    def prober(self) -> None:
        assert self.spec.probe_path is not None
        client = self.new_session(concurrency=1)
        gap = 1.0 / self.spec.probe_rate
        while not self.stopping:
            t0 = time.monotonic()
            self.fire(client, self.spec.probe_path, KIND_PROBE)
            gevent.sleep(max(0.0, gap - (time.monotonic() - t0)))

    def ticker(self, stage: StagePlan, started: float) -> None:
        while True:
            gevent.sleep(TICK_EVERY_S)
            self.emit(tick_of(self.counter, stage.index, stage.users, stage.rate, started, stage.planned_s))

    def run_stage_open(self, stage: StagePlan, client: FastHttpSession, pool: gevent.pool.Pool) -> None:
        assert stage.rate is not None
        gap = 1.0 / stage.rate
        start = time.time()
        n = 0
        while not self.stopping:
            intended = start + n * gap
            if intended >= start + stage.planned_s:
                break
            delay = intended - time.time()
            gevent.sleep(max(0.0, delay))  # 0 when catching up: lets spawned requests (and signals) run
            if pool.full():
                # The generator itself is out of slots: record the arrival as failed, never wait,
                # or the schedule would bend to the target (coordinated omission).
                self.counter.begin(stage.index, main=True, sent=False)
                self.record(intended, 0.0, 0.0, 0, 0, UNSENT, KIND_MAIN, "", "", stage.index, sent=False)
            else:
                pool.spawn(self.fire, client, self.path, KIND_MAIN, intended)
            n += 1

    def sleep_stage(self, stage: StagePlan) -> None:
        end = time.monotonic() + stage.planned_s
        while not self.stopping and time.monotonic() < end:
            gevent.sleep(min(0.1, max(0.0, end - time.monotonic())))

    def run_stage(self, stage: StagePlan, runner: Any, open_client: Any, pool: Any, profiled: bool) -> StageOutcome:
        self.flush()
        self.counter.restart(stage.index)
        self.announce(stage.index)
        started = time.time()
        self.stage_starts.append((stage.index, started))
        total_before = self.counter.total
        self.event(StageStart(stage.index, stage.users, stage.rate, started, stage.planned_s, profiled))
        tick = gevent.spawn(self.ticker, stage, started)
        if runner is not None:
            assert stage.users is not None
            # Within a quarter second either way: a step down (a shape's spike ending) stops users as
            # fast as a step up starts them, or the ramp itself reads as a slow recovery.
            running = int(getattr(runner, "user_count", 0) or 0)
            ws = self.spec.websocket  # connections open at the stated rate: a ramp is part of the plan
            runner.start(stage.users, spawn_rate=ws.connect_rate if ws else max(stage.users * 4, running * 4, 10))
            self.sleep_stage(stage)
        else:
            self.run_stage_open(stage, open_client, pool)
        tick.kill()
        self.stage_ended = time.time()
        # Open model: what the stage sent that is still waiting (it completes in a later window).
        self.in_flight = len(pool) if runner is None else None
        lat = sorted(self.counter.latencies.values)
        n = self.counter.total - total_before if self.spec.bare else self.counter.latencies.count
        elapsed = max(self.stage_ended - started, 1e-9)
        # Stopped from outside the plan (a signal, a hang, the request limit, a full disk) before its
        # length: not a whole stage, so never a capacity figure.
        self.cut_short = self.status if self.stopping and elapsed < stage.planned_s * CUT_SLACK else None
        error_rate = self.counter.errors / n if n else 0.0
        # Completed throughput, as the report counts it: sent is not served when the target falls behind.
        rps = (n if self.spec.bare else self.counter.answered) / elapsed
        return StageOutcome(stage.users, rps, percentile(lat, 50), percentile(lat, 95), error_rate, n)

    def end_stage(self, stage: StagePlan, outcome: StageOutcome, reason: str | None) -> None:
        started = self.counter.started.get(stage.index, 0)
        end = StageEnd(stage.index, self.stage_ended, outcome.requests, reason, self.in_flight, started, self.cut_short)
        self.event(end)
        self.emit(messages.StageDone(stage=stage.index, users=stage.users, rate=stage.rate, rps=outcome.rps,
                                     p50=outcome.p50_ms, p95=outcome.p95_ms, error_rate=outcome.error_rate,
                                     requests=outcome.requests))  # fmt: skip

    def profile_stage(self, history: list[StageOutcome], runner: Any, open_client: Any, pool: Any) -> None:
        """A dedicated stage for py-spy, at the load that gave the most throughput: py-spy costs
        the target ~13% of its throughput at 100 Hz (docs/benchmarks.md), so no capacity figure
        is taken from this stage."""
        assert self.spec.profile_s is not None
        best = self.spec.plan[max(range(len(history)), key=lambda i: history[i].rps)]
        stage = StagePlan(index=len(history), users=best.users, rate=best.rate, planned_s=self.spec.profile_s)
        self.stopping = False
        self.emit(messages.ProfileStart(stage=stage.index, planned_s=stage.planned_s))
        self.end_stage(stage, self.run_stage(stage, runner, open_client, pool, profiled=True), None)

    def close(self) -> None:
        """The last rows, then the accounting line that says the generator finished: without it
        the reader knows requests in flight at its end may be missing."""
        try:
            self.log.close()
        except OSError as e:
            self.write_error = e.strerror or str(e)
        c = self.counter
        self.event(Finish(time.time(), sum(c.started.values()), c.written, self.write_error))
        self.stages.close()

    def run(self) -> int:
        spec = self.spec
        gevent.signal_handler(signal.SIGTERM, self.stop, "interrupted", "interrupted")
        gevent.signal_handler(signal.SIGINT, self.stop, "interrupted", "interrupted")
        greenlets = [gevent.spawn(self.flusher)]
        if spec.probe_path:
            greenlets.append(gevent.spawn(self.prober))
        runner = open_client = recorder = None
        pool = gevent.pool.Pool(spec.max_inflight)
        if spec.plan[0].users is not None:
            self.env.user_classes, recorder = user_classes(spec, self.env, self)
            # Users finish the request they are in when the run stops (up to the drain time), like
            # the open model's pool below, rather than being killed with it unrecorded.
            self.env.stop_timeout = self.drain_s
            runner = self.make_runner()
        else:
            open_client = self.new_session(concurrency=spec.max_inflight)
        history: list[StageOutcome] = []
        for stage in spec.plan:
            if self.stopping:
                break
            history.append(self.run_stage(stage, runner, open_client, pool, profiled=False))
            reason = saturation_reason(history) if spec.early_stop and not self.stopping else None
            self.end_stage(stage, history[-1], reason)
            if reason:
                self.stop("saturated", f"saturated: {reason}")
        if spec.profile_s and history and self.status in ("completed", "saturated"):
            self.profile_stage(history, runner, open_client, pool)
        self.stopping = True
        if runner is not None:
            self.end_users(runner)
        pool.join(timeout=self.drain_s)
        pool.kill(timeout=1.0)  # what is left records itself as UNFINISHED (see fire)
        gevent.killall(greenlets, timeout=2)
        if recorder is not None:
            recorder.close()
        self.close()
        self.emit(messages.Done(status=self.status, reason=self.reason, requests=self.counter.total))
        return 0
