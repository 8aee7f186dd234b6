"""The open model (--rate) measured honestly: every arrival sent once, a timeout recorded as a
timeout, throughput counted as responses completed (beside the rate offered), requests in flight
at a stage's end counted, and the generator's own failures kept apart from the app's errors. Also
the closed model's latency caveat under saturation (coordinated omission)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from profiler.analysis.digest import stage_signal
from profiler.analysis.figures.load import stage_reports
from profiler.analysis.figures.signals import Signals
from profiler.analysis.traits.traffic import errors_under_load
from profiler.analysis.validity import validity
from profiler.base.config import free_port
from profiler.runfolder.engine import RequestTable
from profiler.runfolder.names import META, REQUESTS
from profiler.runfolder.read import RunData, read_run
from profiler.runfolder.records import (
    KIND_MAIN,
    UNFINISHED,
    UNSENT,
    StageEnd,
    StageEvent,
    StageStart,
    parse_stage_event,
    timed_out,
)
from profiler.runfolder.write import RequestLog, StageLog
from profiler.schema.report import (
    EnergySection,
    GpuSection,
    HandoffSection,
    LatencyStats,
    ResourceSection,
    RunInfo,
    StageReport,
    ValiditySection,
)
from tests.conftest import ROOT, assert_no_traceback, read_report, run_cli

T0 = 1_700_000_000.0
RATE, CAPACITY, STAGE_S = 400.0, 300.0, 2.0  # offered, what the synthetic server serves, stage length

# (start, latency_ms, status, error, stage) of one main request
Row = tuple[float, float, int, str, int]


def _run(folder: Path, rows: list[Row], events: Sequence[StageEvent]) -> RunData:
    """A run folder written by the worker's own writers, read back."""
    folder.mkdir(parents=True)
    (folder / META).write_text(json.dumps({"format_version": 2, "started_at": T0}))
    log = RequestLog(folder)
    for start, latency, status, error, stage in rows:
        log.add(start, latency, latency, status, 2 if status else 0, error, stage, KIND_MAIN, "", "")
    log.close()
    stages = StageLog(folder)
    for event in events:
        stages.write(event)
    stages.close()
    return read_run(folder)


def _queued(rate: float, capacity: float, seconds: float, first: int = 0) -> list[Row]:
    """Arrivals at `rate` from T0 to a server that serves `capacity` a second, first come first
    served: sent on time (the open model), each finishing when the server gets to it."""
    rows: list[Row] = []
    free = T0
    for i in range(first, int(rate * seconds)):
        sent = T0 + i / rate
        free = max(sent, free) + 1.0 / capacity
        rows.append((sent, (free - sent) * 1000.0, 200, "", 0))
    return rows


def _overloaded_stage(tmp_path: Path, unsent: int = 0, timeouts: int = 0) -> tuple[RunData, int, int]:
    """Stage 0 offers RATE/s to a server that serves CAPACITY/s; stage 1 (light) is when the
    backlog drains. The first `unsent` arrivals were not sent, the next `timeouts` timed out.
    Also gives the requests in flight at stage 0's end, and those it answered within its window."""
    rows = [(T0 + i / RATE, 0.0, 0, UNSENT, 0) for i in range(unsent)]
    rows += [(T0 + i / RATE, 1000.0, 0, "TimeoutError", 0) for i in range(unsent, unsent + timeouts)]
    queued = _queued(RATE, CAPACITY, STAGE_S, first=unsent + timeouts)
    end = T0 + STAGE_S
    in_flight = sum(1 for start, latency, *_ in queued if start + latency / 1000.0 >= end)
    events = [
        StageStart(0, None, RATE, T0, STAGE_S),
        StageEnd(0, end, len(queued), None, in_flight),
        StageStart(1, None, 1.0, end, 10.0),
        StageEnd(1, end + 10.0, 0, None, 0),
    ]
    return _run(tmp_path / "run", rows + queued, events), in_flight, len(queued) - in_flight


def _latency(p95: float) -> LatencyStats:
    return LatencyStats(count=100, mean=p95 / 2, p50=p95 / 2, p90=p95, p95=p95, p99=p95, max=p95)


def _stage(index: int, rps: float, p95: float, users: int | None = None, rate: float | None = None) -> StageReport:
    return StageReport(
        index=index,
        users=users,
        rate=rate,
        measured_s=5.0,
        completed=True,
        requests=int(rps * 5),
        offered_rps=rps,
        rps=rps,
        ok_rps=rps,
        latency=_latency(p95),
        ttfb=_latency(p95),
        error_rate=0.0,
        bytes_per_request=2.0,
        server_timing_coverage=0.0,
    )


def _validity(stages: list[StageReport]) -> ValiditySection:
    resources = ResourceSection(samples=0, gpu=GpuSection(available=False), energy=EnergySection())
    run = RunInfo(folder="run", started_at=T0, status="completed", profiler_version="test", folder_format=2)
    return validity(stages, resources, run, None)


def _ids(section: ValiditySection) -> list[str]:
    return [i.id for i in section.issues]


# -- 3. completed throughput beside the offered rate -----------------------------------------------


def test_throughput_counts_responses_completed_not_arrivals_sent(tmp_path: Path) -> None:
    run, in_flight, answered = _overloaded_stage(tmp_path)
    heavy, drain = stage_reports(run)
    # 400/s offered to a 300/s server: 400/s were sent, 300/s came back within the stage
    assert heavy.offered_rps == pytest.approx(RATE)
    assert heavy.rps == pytest.approx(CAPACITY, rel=0.01)
    assert heavy.ok_rps == pytest.approx(CAPACITY, rel=0.01) == answered / STAGE_S
    assert heavy.requests == RATE * STAGE_S  # every arrival is the stage's: latency and errors are of these
    # the backlog left at the stage's end was counted, and is served in the next window
    assert heavy.in_flight_at_end == in_flight == pytest.approx((RATE - CAPACITY) * STAGE_S, abs=2)
    assert drain.requests == 0 and drain.rps * drain.measured_s == pytest.approx(in_flight, abs=1)


def test_a_closed_stage_without_end_counts_no_in_flight(tmp_path: Path) -> None:
    rows: list[Row] = [(T0 + 0.1 * i, 10.0, 200, "", 0) for i in range(10)]
    run = _run(tmp_path / "run", rows, [StageStart(0, 4, None, T0, 2.0)])
    (stage,) = stage_reports(run)
    assert stage.in_flight_at_end is None and stage.completed is False


def test_stage_end_event_carries_in_flight_and_old_folders_read_without_it() -> None:
    event = StageEnd(2, T0, 120, "saturated", in_flight=37)
    assert parse_stage_event(json.loads(event.line())) == event
    old = {"event": "end", "index": 2, "t": T0, "requests": 120, "stop_reason": None}
    parsed = parse_stage_event(old)
    assert isinstance(parsed, StageEnd) and parsed.in_flight is None
    damaged = parse_stage_event({**old, "in_flight": "many"})
    assert isinstance(damaged, StageEnd) and damaged.in_flight is None


# -- 2. timeouts recorded as timeouts ----------------------------------------------------------------


def test_timeouts_count_as_failures_and_read_as_timeouts(tmp_path: Path) -> None:
    run, _, answered = _overloaded_stage(tmp_path, timeouts=200)
    heavy, _ = stage_reports(run)
    assert heavy.errors == {"TimeoutError": 200}
    assert heavy.error_rate == pytest.approx(200 / (RATE * STAGE_S))
    # a timeout is no response: completed throughput is only what the server answered
    assert heavy.rps == heavy.ok_rps == answered / STAGE_S
    assert all(timed_out(name) for name in ("TimeoutError", "Timeout"))
    assert not any(timed_out(name) for name in ("RetriesExceeded", UNFINISHED, UNSENT, "HTTP 504"))


def test_errors_under_load_names_timeouts(tmp_path: Path) -> None:
    light = [(T0 + 0.01 * i, 5.0, 200, "", 0) for i in range(200)]
    heavy = [(T0 + 2.0 + 0.01 * i, 1000.0, 0, "TimeoutError", 1) for i in range(120)]
    heavy += [(T0 + 3.2 + 0.01 * i, 50.0, 200, "", 1) for i in range(80)]
    events = [StageStart(0, None, 100.0, T0, 2.0), StageEnd(0, T0 + 2.0, 200)]
    events += [StageStart(1, None, 200.0, T0 + 2.0, 2.0), StageEnd(1, T0 + 4.0, 200)]
    found = errors_under_load(_signals(_run(tmp_path / "run", light + heavy, events)))
    assert found is not None
    assert found.evidence.values["main_error"] == "TimeoutError"
    assert "(timeouts)" in found.evidence.summary


WORKER_SCRIPT = """
import json, sys, time
from pathlib import Path
from profiler.load.generator import Worker  # imports Locust (gevent) first
import gevent
from gevent.server import StreamServer
from profiler.load.plan import StagePlan
from profiler.load.spec import LoadSpec

seen = []
def never_answer(sock, _address):
    seen.append(sock.recv(65536))
    gevent.sleep(10)
server = StreamServer(("127.0.0.1", 0), never_answer)
server.start()
spec = LoadSpec(url=f"http://127.0.0.1:{server.server_port}/x", method="GET", headers={}, body_b64=None,
                timeout_s=0.3, plan=[StagePlan(0, None, 1.0, 1.0)], out_dir=Path(sys.argv[1]), probe_path=None,
                probe_rate=1.0, early_stop=False, max_requests=100, max_inflight=10, profile_s=None)
worker = Worker(spec)
client = worker.new_session(concurrency=2)
worker.fire(client, worker.path, "main")  # times out after 0.3 s
cut = gevent.spawn(worker.fire, client, worker.path, "main", time.time() - 0.05)  # 50 ms late already
gevent.sleep(0.2)
cut.kill()  # as the run's end kills what is still in flight
worker.log.close()
print(json.dumps({"seen": len(seen)}))
"""


def test_worker_sends_once_and_records_the_timeout_and_the_unfinished(tmp_path: Path) -> None:
    """The real worker against a server that never answers: one request each (no retries), the
    first recorded as the timeout it was (not RetriesExceeded), the one cut off as UNFINISHED
    with the time it had waited."""
    done = subprocess.run(
        [sys.executable, "-c", WORKER_SCRIPT, str(tmp_path)], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"seen": 2}
    table = RequestTable.read(tmp_path / REQUESTS, {})
    assert table.stages()[0].errors == {"TimeoutError": 1, UNFINISHED: 1}
    timeout, unfinished = table.values(0, "latency_ms")
    assert 250.0 <= timeout < 1000.0
    assert unfinished >= 200.0  # 50 ms late + ~200 ms in flight: a lower bound of its latency


# -- 5. the generator's failures are not the app's errors ---------------------------------------------


def _signals(run: RunData) -> Signals:
    return Signals(stages=tuple(stage_signal(run, s, HandoffSection(), 95.0) for s in stage_reports(run)))


def test_unsent_arrivals_are_not_the_apps_errors(tmp_path: Path) -> None:
    run, _, _ = _overloaded_stage(tmp_path, unsent=240)
    heavy, _ = stage_reports(run)
    assert heavy.unsent == 240 and heavy.errors == {} and heavy.error_rate == 0.0
    assert heavy.offered_rps == pytest.approx(RATE)  # attempted: sent or not
    assert errors_under_load(_signals(run)) is None  # every response was a 200


def test_unsent_arrivals_are_a_validity_issue_of_their_stage(tmp_path: Path) -> None:
    run, _, _ = _overloaded_stage(tmp_path, unsent=240)
    stages = stage_reports(run)
    issues = [i for i in _validity(stages).issues if i.id == "generator-unsent"]
    assert [(i.stage, i.severity) for i in issues] == [(0, "error")]
    assert "240 arrivals" in issues[0].message and "no capacity figure" in issues[0].message


def test_no_unsent_issue_when_every_arrival_was_sent(tmp_path: Path) -> None:
    run, _, _ = _overloaded_stage(tmp_path)
    assert "generator-unsent" not in _ids(_validity(stage_reports(run)))


# -- 6. the closed model's latency under saturation ---------------------------------------------------


def test_closed_model_latency_caveat_when_saturated() -> None:
    stages = [_stage(0, 100.0, 10.0, users=1), _stage(1, 190.0, 12.0, users=2)]
    stages += [_stage(2, 200.0, 40.0, users=4), _stage(3, 205.0, 80.0, users=8)]
    (issue,) = [i for i in _validity(stages).issues if i.id == "closed-model-latency"]
    assert issue.severity == "warning"
    assert "coordinated omission" in issue.message and "--rate" in issue.message
    assert "from 10 ms at 1 user to 80 ms at 8 users while throughput changed +2% from 4 users" in issue.message


@pytest.mark.parametrize(
    ("stages", "why"),
    [
        ([_stage(0, 100.0, 10.0, users=1), _stage(1, 150.0, 15.0, users=2), _stage(2, 290.0, 30.0, users=4)], "grew"),
        ([_stage(0, 100.0, 10.0, users=1), _stage(1, 101.0, 15.0, users=4)], "latency below 2x"),
        ([_stage(0, 100.0, 10.0, rate=100.0), _stage(1, 101.0, 90.0, rate=400.0)], "open model"),
        ([_stage(0, 100.0, 10.0, users=1)], "one stage"),
    ],
)
def test_no_closed_model_caveat(stages: list[StageReport], why: str) -> None:
    assert "closed-model-latency" not in _ids(_validity(stages)), why


# -- the real pipeline ---------------------------------------------------------------------------------

# 50 requests/s at most (one at a time, 20 ms each); writes one byte per request it sees, on arrival.
CAPPED_APP = """
import asyncio, os, sys
import uvicorn

port, seen_file = int(sys.argv[1]), sys.argv[2]
seen = os.open(seen_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
one_at_a_time = asyncio.Lock()

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    status = 404
    if scope["path"] == "/work":
        os.write(seen, b".")
        async with one_at_a_time:
            await asyncio.sleep(0.02)
        status = 200
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})

uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
"""


def _main_rows(folder: Path) -> list[dict[str, str]]:
    with (folder / REQUESTS).open(newline="") as fh:
        return [r for r in csv.DictReader(fh) if r["kind"] == KIND_MAIN]


@pytest.mark.slow
def test_open_model_above_capacity_through_the_pipeline(tmp_path: Path) -> None:
    """400 arrivals/s at an app that serves 50/s, 3 s timeouts: the generator's 1000 slots fill up
    (unsent arrivals), queued requests time out, and the report must say each of these for what it is."""
    app, seen, out = tmp_path / "capped_app.py", tmp_path / "seen", tmp_path / "run"
    app.write_text(CAPPED_APP)
    port = free_port()
    result = run_cli(
        "run", f"http://127.0.0.1:{port}/work", "--launch", f"{sys.executable} {app} {port} {seen}",
        "--rate", "10,400", "--duration", "8", "--timeout", "3", "--no-pyspy", "--no-early-stop",
        "--out", str(out), "--quiet",
    )  # fmt: skip
    assert_no_traceback(result)
    assert result.code == 0, result.output
    report = read_report(out)
    light, heavy = report["load"]["stages"]
    rows = _main_rows(out)
    sent = [r for r in rows if r["error"] != UNSENT]
    # no retries: the app saw each request sent exactly once
    assert seen.stat().st_size == len(sent)
    # completed throughput is what the app served, not what was offered
    assert heavy["offered_rps"] > 300.0
    assert heavy["rps"] < 50.0 * 1.3 < heavy["offered_rps"] / 4
    assert light["rps"] == pytest.approx(10.0, rel=0.3)
    # queued requests timed out, and read as timeouts
    assert heavy["errors"] and all(timed_out(kind) or kind == UNFINISHED for kind in heavy["errors"])
    assert any(timed_out(r["error"]) for r in sent)
    assert heavy["in_flight_at_end"] > 500
    # the generator's full slots are its own failure, said by validity, not the app's errors
    assert heavy["unsent"] > 0 and UNSENT not in heavy["errors"]
    assert "generator-unsent" in [i["id"] for i in report["validity"]["issues"] if i["stage"] == 1]
    errors = [t for t in report["traits"] if t["id"] == "errors-under-load"]
    assert all(t["evidence"]["values"]["main_error"] != UNSENT for t in errors)
    assert all(UNSENT not in t["evidence"]["summary"] for t in errors)
