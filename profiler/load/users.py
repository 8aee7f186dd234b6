"""Which users the worker runs: ours on the one URL, a locustfile's, or a scenario file's.

Imports Locust (through usercode): only the load worker process imports this module.
"""

from __future__ import annotations

from typing import Any, Protocol

import gevent
from locust import User, constant, task
from locust.contrib.fasthttp import FastHttpSession, FastHttpUser
from locust.env import Environment

from profiler.load.scenario_user import scenario_user
from profiler.load.spec import LoadSpec
from profiler.load.usercode import Recorder, Sink
from profiler.load.usercode import user_classes as locustfile_users
from profiler.load.websocket import ConnectionLog, WsWorker, new_tally, raise_fd_limit, ws_user
from profiler.runfolder.records import KIND_MAIN

# Every request is sent once. geventhttpclient's UserAgent retries 3 times by default: an arrival
# would reach an overloaded target up to 4 times (4x --rate) and a timeout would read as a retry.
NO_RETRIES = 0


class Closer(Protocol):
    """What the worker closes at the end of the run: the recorder of users written elsewhere, or a
    WebSocket run's connection log."""

    def close(self) -> None: ...


class UrlWorker(Sink, WsWorker, Protocol):
    """What our own users of the one URL need of the worker."""

    body: bytes | None

    def fire(self, client: FastHttpSession, path: str, kind: str, intended: float | None = None) -> None: ...


def url_user(worker: UrlWorker) -> type[FastHttpUser]:
    """Users that send the run's one request back to back, each recorded by `worker.fire`."""

    class TargetUser(FastHttpUser):
        host = worker.base
        wait_time = constant(0)
        concurrency = 1
        max_retries = NO_RETRIES
        network_timeout = worker.spec.timeout_s
        connection_timeout = worker.spec.timeout_s
        insecure = True

        @task
        def hit(self) -> None:
            if worker.stopping:
                gevent.sleep(0.05)
                return
            if worker.spec.bare:
                # What a plain Locust test does: the baseline our recording's cost is measured against.
                worker.counter.total += 1
                self.client.request(worker.spec.method, worker.path, data=worker.body)  # type: ignore[arg-type]
                return
            worker.fire(self.client, worker.path, KIND_MAIN)

    return TargetUser


def user_classes(spec: LoadSpec, env: Environment, worker: UrlWorker) -> tuple[list[type[User]], Closer | None]:
    """The user classes of the run, and what records users written elsewhere or connections held."""
    classes: list[Any]
    if spec.websocket is not None:
        raise_fd_limit()
        tally = new_tally()
        return [ws_user(worker, tally)], ConnectionLog(spec.out_dir, tally, worker.counter)
    if spec.locustfile is not None:
        classes, _shapes = locustfile_users(spec.locustfile)
    elif spec.scenario is not None:
        classes = [scenario_user(spec.scenario, spec.timeout_s)]
    else:
        return [url_user(worker)], None
    return classes, Recorder(env, worker)
