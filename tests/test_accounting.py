"""The accounting pieces on their own: error kinds, the worker's counters, stage events, and what
the analysis makes of a folder whose requests went missing, whose stages were cut or hung."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from profiler.analysis.digest import measurable
from profiler.analysis.figures.load import stage_reports
from profiler.base.stats import percentile
from profiler.load.accounting import RESERVOIR, Reservoir, StageCounter
from profiler.report.build import build_report
from profiler.runfolder.read import RunData
from profiler.runfolder.records import (
    BODY_CUT,
    UNFINISHED,
    UNSENT,
    Finish,
    Hang,
    StageEnd,
    StageStart,
    error_kind,
    parse_stage_event,
)
from tests.test_open_model import _run as write_run

T0 = 1_700_000_000.0


@pytest.mark.parametrize(
    ("error", "status", "kind"),
    [
        ("HTTP 503", 503, "http-5xx"),
        ("HTTP 404", 404, "http-4xx"),
        ("", 500, "http-5xx"),
        ("TimeoutError", 0, "timeout"),
        ("ConnectionRefusedError", 0, "refused"),
        ("ConnectionResetError", 0, "reset"),
        ("BrokenPipeError", 0, "reset"),
        (BODY_CUT, 200, "body-cut"),
        (UNFINISHED, 0, "cut-short"),
        (UNSENT, 0, "unsent"),
        ("HTTPParseError", 0, "protocol"),
        ("gaierror", 0, "dns"),
        ("SSLError", 0, "tls"),
        ("KeyError", 0, "other"),
    ],
)
def test_error_kind_names_each_outcome(error: str, status: int, kind: str) -> None:
    assert error_kind(error, status) == kind


def test_errors_of_an_earlier_stage_do_not_count_against_this_one() -> None:
    """The 100.7% error rate: a previous stage's late failures divided by this stage's requests."""
    c = StageCounter()
    c.restart(1)
    for _ in range(10):
        c.count(0, 50.0, 500, "HTTP 500")  # sent in stage 0, answered during stage 1
    for _ in range(4):
        c.count(1, 5.0, 500, "HTTP 500")
    assert c.errors == 4 and c.latencies.count == 4  # error rate 4/4, never 14/4
    assert c.answered == 14  # throughput still counts every answer in the window


def test_stage_latencies_keep_bounded_memory_and_a_fair_sample() -> None:
    r = Reservoir()
    for i in range(200_000):
        r.add(float(i % 1000))
    assert r.count == 200_000 and len(r.values) == RESERVOIR
    assert 930 <= percentile(sorted(r.values), 95) <= 970  # the true p95 is 949


def test_started_counts_every_request_and_unsent_arrival_once() -> None:
    c = StageCounter()
    c.begin(0, main=True)
    c.begin(0, main=False)  # a probe: in flight, not a main request
    c.begin(0, main=True, sent=False)  # an arrival the generator could not send
    c.end(0, UNSENT, sent=False)
    assert c.started == {0: 2} and c.in_flight == 2


def test_silence_counts_only_while_requests_wait() -> None:
    c = StageCounter()
    assert c.silent_s() == 0.0  # nothing sent: no silence
    c.begin(0, main=True)
    c.end(200, "")
    assert c.silent_s() == 0.0  # answered, nothing waits
    c.begin(0, main=True)
    assert c.waiting_since is not None
    c.waiting_since -= 30
    c.end(0, "TimeoutError")  # a timeout is not an answer...
    c.begin(0, main=True)  # ...so a lone user's next request does not start the clock afresh
    assert c.silent_s() >= 29
    c.end(0, "ConnectionRefusedError")  # a refusal is an answer: something is there
    assert c.silent_s() == 0.0
    c.begin(0, main=True)
    c.begin(0, main=False)
    c.waiting_since -= 10
    c.end(200, "")  # one answer while another still waits: the clock restarts for the other
    assert c.silent_s() < 1.0


@given(st.dictionaries(st.sampled_from(["event", "index", "stage", "t", "started", "written", "cut_short",
                                        "waiting", "silent_s", "requests"]),
                       st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5),
                                 st.sampled_from(["start", "end", "hang", "finish"]))))  # fmt: skip
def test_any_stage_event_line_parses_or_is_skipped(d: dict[str, object]) -> None:
    event = parse_stage_event(d)
    assert event is None or isinstance(event, StageStart | StageEnd | Hang | Finish)


def test_new_events_round_trip() -> None:
    for event in (
        StageEnd(2, T0, 10, None, None, 12, "interrupted"),
        Hang(1, T0, 5.5, 3),
        Finish(T0, 40, 40, None),
    ):
        assert parse_stage_event(json.loads(event.line())) == event


def _folder(tmp_path: Path, main_rows: int, events: list[StageStart | StageEnd | Hang | Finish]) -> RunData:
    """`main_rows` answered requests, the first half in stage 0 and the rest in stage 1."""
    halves = [0 if i < main_rows // 2 else 1 for i in range(main_rows)]
    rows = [(T0 + i * 0.01 + stage * 5, 10.0, 200, "", stage) for i, stage in enumerate(halves)]
    return write_run(tmp_path / "run", rows, events)


def _two_stages(started: tuple[int, int], cut: str | None = None) -> list[StageStart | StageEnd | Hang | Finish]:
    return [
        StageStart(0, 1, None, T0, 5.0),
        StageEnd(0, T0 + 5, started[0], None, None, started[0]),
        StageStart(1, 2, None, T0 + 5, 5.0),
        StageEnd(1, T0 + 10, started[1], None, None, started[1], cut),
        Finish(T0 + 11, sum(started), sum(started)),
    ]


def test_rows_missing_from_a_stage_are_named_and_keep_it_out(tmp_path: Path) -> None:
    run = _folder(tmp_path, 100, _two_stages((50, 80)))  # 30 of stage 1's requests never reached the disk
    stages = stage_reports(run)
    assert [s.missing for s in stages] == [0, 30]
    assert [measurable(s) for s in stages] == [True, False]
    report = build_report(run)
    assert report.run.requests_missing == 30
    lost = [i for i in report.validity.issues if i.id == "requests-lost"]
    assert len(lost) == 1 and lost[0].stage == 1 and "30 of the 80" in lost[0].message
    assert not report.validity.valid


def test_every_request_on_disk_is_a_valid_accounting(tmp_path: Path) -> None:
    report = build_report(_folder(tmp_path, 100, _two_stages((50, 50))))
    assert report.run.requests_missing == 0
    assert not [i for i in report.validity.issues if i.id in ("requests-lost", "accounting-unknown")]


def test_a_killed_generator_leaves_the_accounting_unknown(tmp_path: Path) -> None:
    report = build_report(_folder(tmp_path, 100, _two_stages((50, 50))[:-1]))
    assert report.run.requests_missing is None
    assert "accounting-unknown" in {i.id for i in report.validity.issues}


def test_a_cut_stage_is_shown_but_never_capacity(tmp_path: Path) -> None:
    report = build_report(_folder(tmp_path, 100, _two_stages((50, 50), cut="interrupted")))
    last = report.load.stages[-1]
    assert last.cut_short == "interrupted" and not last.completed
    assert report.capacity is None or report.capacity.capacity_stage != 1
    assert "stage-cut-short" in {i.id for i in report.validity.issues}


def test_a_hang_marks_every_stage_it_overlaps(tmp_path: Path) -> None:
    events = _two_stages((50, 50))
    events.insert(3, Hang(0, T0 + 4.0, 6.0, 2))  # began late in stage 0, found during stage 1
    report = build_report(_folder(tmp_path, 100, events))
    assert [s.cut_short for s in report.load.stages] == ["hung", "hung"]
    hung = [i for i in report.validity.issues if i.id == "target-hung"]
    assert hung and hung[0].stage == 0 and not report.validity.valid
    assert report.traits == [] and report.capacity is None
