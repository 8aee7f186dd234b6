"""What the load worker is told to do: one typed record, built by the driver, read by the worker.

It travels on the worker's stdin, so the URL, headers and body (secrets) never touch the disk as
given; the copy kept in the run folder (`masked`) has them masked.
"""

from __future__ import annotations

import base64
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from profiler.base.config import RunConfig
from profiler.base.secrets import mask_header, mask_url
from profiler.load.plan import StagePlan
from profiler.load.scenario import Scenario, load_scenario


class WsLoad(BaseModel):
    """A ws:// run's connections (base/websocket.py's WsConfig, as the worker reads it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    message_b64: str | None  # None: a ping
    binary: bool
    message_rate: float
    connect_rate: float

    @property
    def message(self) -> bytes | None:
        return base64.b64decode(self.message_b64) if self.message_b64 else None


class LoadSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str
    method: str
    headers: dict[str, str]
    body_b64: str | None
    timeout_s: float
    plan: list[StagePlan]
    out_dir: Path
    probe_path: str | None
    probe_rate: float
    early_stop: bool
    max_requests: int
    max_inflight: int
    profile_s: float | None  # length of the extra stage run with py-spy attached; None: no such stage
    bare: bool = False  # benchmarks only: plain Locust requests, none of our recording
    locustfile: str | None = None  # the user's own Locust users, run instead of ours
    scenario: Scenario | None = None  # a scenario file's requests, run instead of ours
    workers: int = 1  # users' processes started here (more than 1: a Locust master and its workers)
    expect_workers: int = 0  # ... and those started elsewhere with `profiler worker` that the run waits for
    master_host: str = "127.0.0.1"  # where the master listens for its workers
    master_port: int = 0  # 0: a free port
    websocket: WsLoad | None = None  # a ws:// URL: each user holds one connection (load/websocket.py)

    @classmethod
    def of(cls, config: RunConfig, plan: tuple[StagePlan, ...], folder: Path) -> LoadSpec:
        return cls(
            url=config.url,
            method=config.method,
            headers=dict(config.headers),
            body_b64=base64.b64encode(config.body).decode() if config.body else None,
            timeout_s=config.request_timeout_s,
            plan=list(plan),
            out_dir=folder,
            probe_path=config.probe_path if config.probe else None,
            probe_rate=config.probe_rate,
            early_stop=config.early_stop and not config.shape,  # a shape's spike is the point, not a stop
            max_requests=config.max_requests,
            max_inflight=config.max_inflight,
            # A shape is measured as it runs: no extra py-spy stage after its last step.
            profile_s=config.pyspy_seconds if config.pyspy and config.observed and not config.shape else None,
            locustfile=str(config.locustfile.resolve()) if config.locustfile else None,
            scenario=load_scenario(config.scenario) if config.scenario else None,
            workers=config.workers,
            expect_workers=config.expect_workers,
            master_host=config.master_host,
            master_port=config.master_port,
            websocket=WsLoad(message_b64=base64.b64encode(ws.message).decode() if ws.message else None,
                             binary=ws.binary, message_rate=ws.message_rate, connect_rate=ws.connect_rate)
            if (ws := config.websocket) is not None else None,
        )  # fmt: skip

    @property
    def body(self) -> bytes | None:
        return base64.b64decode(self.body_b64) if self.body_b64 else None

    def masked(self) -> LoadSpec:
        """The copy for the record: the URL's credentials and secret headers masked, the body left out."""
        return self.model_copy(
            update={
                "url": mask_url(self.url),
                "headers": {k: mask_header(k, v) for k, v in self.headers.items()},
                "body_b64": "<omitted>" if self.body_b64 else None,
                "websocket": self.websocket.model_copy(update={"message_b64": "<omitted>"})
                if self.websocket and self.websocket.message_b64
                else self.websocket,
                "scenario": self.scenario.masked() if self.scenario else None,
            }
        )
