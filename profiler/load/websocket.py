"""WebSocket users: each holds one connection, sends its message (or a ping) at the message rate,
waits for the answer, and counts what the server pushes besides (docs/connections.md).

The client is websocket-client, the one Locust's own SocketIOUser uses: plain blocking sockets,
X
generator process holds thousands. An asyncio client (websockets, aiohttp) would need an event
loop beside gevent's; wsproto would need our own framing and ping handling.

Matching an answer to its message: a connection has one message out at a time; the first data
frame after it is its answer (a pong, for a ping). Data frames that arrive with nothing out are
pushes. Each handshake is a row (KIND_CONNECT), each answer a main row, each session a row when it
ends (KIND_SESSION); connections.jsonl has the connections held twice a second.

Imports Locust and websocket-client: only the load worker process imports this module.
"""

from __future__ import annotations

import random
import resource
import ssl
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import gevent
import gevent.event
import websocket
from locust import User, constant, task
from locust.user.task import LOCUST_STATE_RUNNING, LOCUST_STATE_STOPPING, LOCUST_STATE_WAITING

from profiler.load.accounting import StageCounter
from profiler.load.response import error_name
from profiler.load.spec import LoadSpec, WsLoad
from profiler.runfolder import names
from profiler.runfolder.connections import (
    KIND_CONNECT,
    KIND_SESSION,
    WS_ABNORMAL,
    WS_CLOSED_BY_SERVER,
    WS_METHOD,
    WS_OPEN,
    ConnectionTick,
)
from profiler.runfolder.records import KIND_MAIN, UNFINISHED

TICK_S = 0.5  # connections.jsonl's step, as the worker's flush
IDLE_WAKE_S = 1.0  # an idle connection looks up at least this often: a ramp-down stops it within it
RECONNECT_S = (0.5, 1.5)  # a dropped or refused connection tries again after this long (spread)
CLOSE_WAIT_S = 1.0  # how long our close waits for the server's close frame
NORMAL_CLOSE = 1000
_DATA = (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY)


class WsWorker(Protocol):
    """What the users need of the worker (profiler.load.generator.Worker)."""

    stopping: bool
    spec: LoadSpec
    counter: StageCounter
    base: str
    path: str
    route: str
    headers: dict[str, str]

    def record(self, start: float, latency: float, ttfb: float, status: int, nbytes: int, error: str, kind: str,
               flags: str, timing: str, stage: int, sent: bool = True, path: str | None = None,
               method: str | None = None) -> None: ...  # fmt: skip


# The run's connections and frames so far: connections.jsonl's line, counted into as the run goes.
WsTally = ConnectionTick


def new_tally() -> WsTally:
    return ConnectionTick(0.0, 0, 0)


@dataclass
class Pacer:
    """Connects one at a time at the connect rate. Locust starts each second's users together, and
    a handshake costs the generator about a millisecond of CPU: started together, each would wait
    for the others and its connect time would be the generator's queue, not the target's."""

    gap_s: float
    next_t: float = 0.0

    def wait(self) -> None:
        now = time.monotonic()
        slot = max(now, self.next_t)
        self.next_t = slot + self.gap_s
        if slot > now:
            gevent.sleep(slot - now)


class ConnectionLog:
    """Writes connections.jsonl twice a second while the run lasts, and a last line at its end."""

    def __init__(self, folder: Path, tally: WsTally, counter: StageCounter) -> None:
        self.tally, self.counter = tally, counter
        self.file = (folder / names.CONNECTIONS).open("a", encoding="utf-8")
        self.greenlet = gevent.spawn(self.run)

    def write(self) -> None:
        self.file.write(replace(self.tally, t=time.time(), stage=self.counter.stage).line())
        self.file.flush()

    def run(self) -> None:
        while True:
            self.write()
            gevent.sleep(TICK_S)

    def close(self) -> None:
        self.greenlet.kill()
        self.write()
        self.file.close()


def raise_fd_limit() -> None:
    """Every connection is a file descriptor of this process: the soft limit (often 1024) goes up
    to the hard one, as Locust's own command does."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 1 << 20, hard))


def _close_code(frame: Any) -> int:
    data = getattr(frame, "data", b"") or b""
    return int.from_bytes(data[:2], "big") if len(data) >= 2 else WS_ABNORMAL


class Ended(Exception):
    """The connection ended under a user: how (the session row's status and error)."""

    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status, self.error = status, error


class WsUser(User):
    """Holds one connection to the run's ws:// URL; `ws_user` makes the run's subclass with its `the`.

    Two greenlets a connection: the user's sends at the message rate and waits for each answer; a
    reader blocks on the socket and hands every frame over (an answer wakes the sender, a push is
    counted, a close or a reset ends the session). A reader blocked on recv costs nothing between
    frames, where one greenlet polling with receive timeouts paid a timer and a wakeup for each wait
    (docs/benchmarks.md)."""

    abstract = True
    wait_time = constant(0)
    the: WsSetup

    def on_start(self) -> None:
        self.ws: Any = None
        self.reader: gevent.Greenlet[..., Any] | None = None
        self.wake = gevent.event.Event()  # set by the reader: an answer came, or the session ended
        self.ended: Ended | None = None
        self.want: tuple[int, ...] = ()  # the opcodes that answer the message out; () with none out
        self.answer: int | None = None  # the answer's size in bytes, once it came
        self.opened_at = 0.0  # epoch s
        self.opened_t = 0.0  # perf_counter
        self.stage = 0

    def stopped(self) -> bool:
        return self.the.worker.stopping or self._state == LOCUST_STATE_STOPPING

    def row(self, start: float, ms: float, status: int, nbytes: int, error: str, kind: str, stage: int) -> None:
        """One row of this connection's route, (WS, path)."""
        self.the.worker.record(start, ms, ms if kind != KIND_SESSION else 0.0, status, nbytes, error, kind, "", "",
                               stage, path=self.the.worker.route, method=WS_METHOD)  # fmt: skip

    def connect(self) -> bool:
        self.the.pacer.wait()
        if self.stopped():
            return False
        stage, wall, t0 = self.the.worker.counter.stage, time.time(), time.perf_counter()
        self.the.worker.counter.begin(stage, main=False)
        status, error = 0, ""
        try:
            the = self.the
            # enable_multithread: the reader answers pings and closes while the user sends, and
            # each frame goes out whole under the client's lock (a gevent lock once patched).
            self.ws = websocket.create_connection(the.url, timeout=the.timeout, header=the.header, sslopt=the.sslopt,
                                                  enable_multithread=True, skip_utf8_validation=True)  # fmt: skip
            status = WS_OPEN
        except websocket.WebSocketBadStatusException as e:
            status, error = int(e.status_code), f"HTTP {e.status_code}"
        except gevent.GreenletExit:
            self.row(wall, (time.perf_counter() - t0) * 1000.0, 0, 0, UNFINISHED, KIND_CONNECT, stage)
            raise
        except Exception as e:  # noqa: BLE001 - every handshake is recorded, whatever went wrong
            error = error_name(e)
        self.row(wall, (time.perf_counter() - t0) * 1000.0, status, 0, error, KIND_CONNECT, stage)
        if error:
            self.the.tally.failed += 1
            return False
        self.the.tally.opened += 1
        self.the.tally.held += 1
        self.opened_at, self.opened_t, self.stage = wall, time.perf_counter(), stage
        self.ended, self.want, self.answer = None, (), None
        self.ws.settimeout(None)  # the reader waits for the next frame however long it takes
        self.reader = gevent.spawn(self.read, self.ws)
        return True

    def read(self, ws: Any) -> None:
        """The reader: every frame of the connection until it ends."""
        tally = self.the.tally
        try:
            while True:
                code, frame = ws.recv_data_frame(control_frame=True)
                if code == websocket.ABNF.OPCODE_CLOSE:
                    raise Ended(_close_code(frame), WS_CLOSED_BY_SERVER)
                if code in self.want:
                    self.want, self.answer = (), len(frame.data)
                    tally.answered += 1
                    self.wake.set()
                elif code in _DATA:
                    tally.pushed += 1
        except Ended as ended:
            self.ended = ended
        except Exception as e:  # noqa: BLE001 - a reset, a broken frame: the session ended
            self.ended = Ended(WS_ABNORMAL, error_name(e))
        self.wake.set()

    def end(self, status: int, error: str) -> None:
        """The session's row, once: how long it was held and how it ended."""
        if self.ws is None:
            return
        ws, self.ws = self.ws, None
        if self.reader is not None:
            self.reader.kill()  # before our close, which reads the server's close frame itself
            self.reader = None
        self.the.tally.held -= 1
        if error:
            self.the.tally.dropped += 1
        else:
            self.the.tally.closed += 1
            try:
                ws.close(status=NORMAL_CLOSE, timeout=CLOSE_WAIT_S)
            except Exception:  # noqa: BLE001, S110 - the server may already be gone: the session ended either way
                pass
        ws.shutdown()
        self.the.worker.counter.begin(self.stage, main=False)
        self.row(self.opened_at, (time.perf_counter() - self.opened_t) * 1000.0, status, 0, error, KIND_SESSION,
                 self.stage)  # fmt: skip

    def nap(self, until: float) -> None:
        """Wait until `until` (perf_counter) or the session's end, as Locust's own wait does: a
        user stopped while it waits is stopped at once."""
        if self.ended is not None:
            raise self.ended
        left = until - time.perf_counter()
        if left > 0 and not self.stopped():
            self.wake.clear()
            self._state = LOCUST_STATE_WAITING
            self.wake.wait(left)
            self._state = LOCUST_STATE_RUNNING
        if self.ended is not None:
            raise self.ended

    def exchange(self) -> None:
        """One message (or ping) and its answer, recorded as a main row."""
        stage, wall, t0 = self.the.worker.counter.stage, time.time(), time.perf_counter()
        self.the.worker.counter.begin(stage, main=True)
        status, nbytes, error = 0, 0, ""
        self.wake.clear()
        self.answer = None
        self.want = _DATA if self.the.message is not None else (websocket.ABNF.OPCODE_PONG,)
        try:
            if self.the.message is None:
                self.ws.ping(str(self.the.tally.sent))
            else:
                self.ws.send(self.the.message, self.the.opcode)
            self.the.tally.sent += 1
            self.wake.wait(self.the.timeout)
        except gevent.GreenletExit:
            self.record_message(wall, t0, 0, 0, UNFINISHED, stage)
            raise
        except Exception as e:  # noqa: BLE001 - a send on a broken connection: the session ended
            self.record_message(wall, t0, 0, 0, error_name(e), stage)
            raise Ended(WS_ABNORMAL, error_name(e)) from None
        self.want = ()
        if self.answer is not None:
            status, nbytes = WS_OPEN, self.answer
        elif self.ended is not None:
            self.record_message(wall, t0, 0, 0, self.ended.error, stage)
            raise self.ended
        else:
            error = "Timeout"
        self.record_message(wall, t0, status, nbytes, error, stage)

    def record_message(self, wall: float, t0: float, status: int, nbytes: int, error: str, stage: int) -> None:
        self.row(wall, (time.perf_counter() - t0) * 1000.0, status, nbytes, error, KIND_MAIN, stage)

    def converse(self) -> None:
        """Hold the connection until it ends or the user is stopped."""
        # The first message at a random point of the gap: connections opened together do not
        # send together for the rest of the run.
        due = time.perf_counter() + (random.uniform(0, self.the.gap) if self.the.gap else 0.0)
        while not self.stopped():
            if self.the.gap is None:
                self.nap(time.perf_counter() + IDLE_WAKE_S)
                continue
            self.nap(due)
            if self.stopped():
                return
            self.exchange()
            due = max(due + self.the.gap, time.perf_counter())  # late answers never make a burst of catch-up sends

    @task
    def hold(self) -> None:
        while not self.stopped():
            if self.ws is None and not self.connect():
                if not self.stopped():
                    gevent.sleep(random.uniform(*RECONNECT_S))
                continue
            try:
                self.converse()
            except Ended as ended:
                self.end(ended.status, ended.error)
                if not self.stopped():
                    gevent.sleep(random.uniform(*RECONNECT_S))

    def on_stop(self) -> None:
        self.end(NORMAL_CLOSE, "")


@dataclass(frozen=True)
class WsSetup:
    """What every user of a run shares: the worker, its counts, the pace of connects, and the
    message and how often it goes."""

    worker: WsWorker
    tally: WsTally
    pacer: Pacer
    url: str
    header: list[str]
    message: bytes | None
    gap: float | None  # seconds between one connection's messages; None: none sent
    opcode: int
    timeout: float
    sslopt: dict[str, object]


def ws_user(worker: WsWorker, tally: WsTally) -> type[User]:
    """The run's users, each holding one connection to its ws:// URL."""
    assert worker.spec.websocket is not None
    ws: WsLoad = worker.spec.websocket
    the = WsSetup(
        worker, tally, Pacer(1.0 / ws.connect_rate), worker.base + worker.path,
        [f"{k}: {v}" for k, v in worker.headers.items()], ws.message,
        1.0 / ws.message_rate if ws.message_rate > 0 else None,
        websocket.ABNF.OPCODE_BINARY if ws.binary else websocket.ABNF.OPCODE_TEXT, worker.spec.timeout_s,
        {"cert_reqs": ssl.CERT_NONE, "check_hostname": False},  # a local app's certificate is often self-signed
    )  # fmt: skip
    return type("WsRunUser", (WsUser,), {"the": the, "abstract": False})
