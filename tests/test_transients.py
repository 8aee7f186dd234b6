"""Shapes and their events, as pure parts: the --shape grammar and its bad input, a LoadTestShape
read into steps, in-flight counts, time unavailable and the recovery rule on hand-made spans, the
event traits and their advice."""

from __future__ import annotations

import numpy as np
import pytest

from profiler.analysis.advice.recommend import recommend
from profiler.analysis.traits.transients import event_traits
from profiler.analysis.transients import recovery as rule
from profiler.base.config import ShapeStep
from profiler.base.errors import ConfigError
from profiler.load.plan import parse_shape
from profiler.load.userfile import shape_steps
from profiler.runfolder.engine import SpanArrays
from profiler.schema.events import Event, EventBaseline, EventDuring, EventsSection
from tests.conftest import assert_no_traceback, run_cli


def test_a_shape_is_steps_of_users_or_of_arrival_rates() -> None:
    assert parse_shape("20s:2,6s:40,30s:2") == (ShapeStep(20, 2), ShapeStep(6, 40), ShapeStep(30, 2))
    assert parse_shape("1m:10/s, 500ms:200/s") == (ShapeStep(60, rate=10.0), ShapeStep(0.5, rate=200.0))


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "empty"),
        ("20s", "is not DURATION:LOAD"),
        ("0s:4", "zero length"),
        ("5s:0", "is not a number of users"),
        ("5s:lots", "is not a number of users"),
        ("5s:2,5s:40/s", "mixes users and arrival rates"),
    ],
)
def test_a_bad_shape_is_one_line_naming_the_step(text: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        parse_shape(text)


def test_shape_with_the_options_it_replaces_is_one_line_exit_2_before_any_load() -> None:
    for extra in (("--users", "4"), ("--rate", "10"), ("--duration", "20s")):
        result = run_cli("run", "http://127.0.0.1:9/", "--shape", "5s:2,5s:8", *extra)
        assert_no_traceback(result)
        assert result.code == 2 and "--shape sets the load and the length" in result.stderr, result.stderr
    short = run_cli("run", "http://127.0.0.1:9/", "--shape", "5s:2,0.2s:8")
    assert short.code == 2 and "step 2 lasts 0.2s" in short.stderr


class Spike:
    """A LoadTestShape as Locust's docs write one: 2 users, 40 from 10 s to 16 s, 2 until 30 s."""

    def get_run_time(self) -> float:
        return 0.0

    def tick(self) -> tuple[int, float] | None:
        t = self.get_run_time()
        if t >= 30:
            return None
        return (40, 40.0) if 10 <= t < 16 else (2, 2.0)


def test_a_load_test_shape_is_read_a_second_at_a_time_into_steps() -> None:
    assert shape_steps(Spike()) == [(10.0, 2), (6.0, 40), (14.0, 2)]


def test_a_shape_that_reads_the_runners_live_state_cannot_be_read_ahead() -> None:
    class Live(Spike):
        def tick(self) -> tuple[int, float] | None:
            return (self.get_current_user_count() + 1, 1.0)  # type: ignore[attr-defined]

    with pytest.raises(RuntimeError, match="live user count"):
        shape_steps(Live())


def span(starts: list[float], latencies_ms: list[float], failed: list[bool] | None = None) -> SpanArrays:
    f = np.array(failed if failed is not None else [False] * len(starts))
    return SpanArrays(np.array(starts, float), np.array(latencies_ms, float), f, np.ones(len(starts), bool),
                      np.where(f, 503, 200).astype(np.int64))  # fmt: skip


def test_in_flight_counts_the_requests_started_and_not_yet_ended() -> None:
    s = span([0.0, 0.1, 0.2], [1000.0, 50.0, 1000.0])  # ends at 1.0, 0.15, 1.2
    assert rule.in_flight(s, np.array([0.05, 0.12, 0.5, 1.1, 2.0])).tolist() == [1, 2, 2, 1, 0]


def test_unavailable_runs_from_the_first_failure_to_the_first_success_after_it() -> None:
    s = span([0.0, 1.0, 1.5, 2.5, 3.0], [5.0] * 5, [False, True, True, False, False])
    assert rule.unavailable_s(s) == (1.5, True)
    assert rule.unavailable_s(span([0.0, 1.0], [5.0, 5.0], [True, True])) == (1.0, False)
    assert rule.unavailable_s(span([0.0], [5.0])) == (0.0, True)


def test_recovery_is_the_first_window_whose_p95_and_in_flight_are_back() -> None:
    # After the spike ends at t=10: requests slow (200 ms) until 13 s, then back to 10 ms.
    starts = [10.0 + 0.05 * i for i in range(200)]
    lat = [200.0 if t < 13.0 else 10.0 for t in starts]
    rec = rule.recovery_s(span(starts, lat), since=10.0, until=20.0, baseline_p95_ms=10.0, baseline_in_flight=1.0)
    assert rec == pytest.approx(3.0, abs=rule.STEP_S)
    never = rule.recovery_s(span(starts, [200.0] * 200), since=10.0, until=20.0, baseline_p95_ms=10.0,
                            baseline_in_flight=1.0)  # fmt: skip
    assert never is None
    # A backlog still in flight holds recovery back, however fast the new requests are.
    stuck = span([9.9, *starts], [5000.0, *([10.0] * 200)])  # in flight until 14.9 s
    assert rule.recovery_s(stuck, since=10.0, until=20.0, baseline_p95_ms=10.0, baseline_in_flight=0.0) == 5.0


def _event(**kw: object) -> Event:
    base = dict(kind="step-up", stage=1, at_s=5.0, until_s=9.0, load_before=1.0, load_after=24.0,
                baseline=EventBaseline(stage=0, p50_ms=2.0, p95_ms=3.0, rps=300.0, in_flight=1.0),
                during=EventDuring(requests=2000, rps=700.0, p95_ms=60.0, max_ms=90.0, max_in_flight=24),
                failed=0, lost=0, unavailable_s=0.0, recovery_s=0.5, recovered=True, watched_s=6.0)  # fmt: skip
    return Event(**{**base, **kw})  # type: ignore[arg-type]


def _section(*events: Event) -> EventsSection:
    return EventsSection(recovery_window_s=2.0, recovery_factor=1.5, in_flight_margin=1.5, events=list(events))


def test_a_spike_that_queued_is_spike_queues_with_a_queue_bound_from_littles_law() -> None:
    found = event_traits(_section(_event()))
    assert [f.data.ID for f in found] == ["spike-queues"]
    (rec,) = [r for r in recommend(found, None, 2, 1) if r.id == "bound-the-queue"]
    assert rec.evidence["queue_bound"] == 7  # 700 rps x 9 ms (3 x the baseline p95), rounded up


def test_a_spike_answered_with_503s_sheds_load_and_a_late_return_is_slow_recovery() -> None:
    shed = _event(failed=600, during=EventDuring(requests=2000, rps=700.0, p95_ms=4.0, max_ms=9.0, max_in_flight=24,
                                                 shed=600))  # fmt: skip
    assert [f.data.ID for f in event_traits(_section(shed))] == ["sheds-load"]  # fast, and not queued
    late = _event(recovery_s=None, recovered=False)
    assert {f.data.ID for f in event_traits(_section(late))} == {"spike-queues", "slow-recovery"}
    step_down = _event(kind="step-down", recovered=False, recovery_s=None)
    assert event_traits(_section(step_down)) == []  # a step down's own recovery is the spike's aftermath


def test_a_table_cell_that_looks_like_rich_markup_is_printed_as_text() -> None:
    from profiler.report.text_table import TextTable
    from profiler.run.console import render_table

    table = render_table(TextTable("t", ("trait",), (("dependency-stall [/usr/bin/redis-server 127.0.0.1:6379]",),)))
    from rich.console import Console

    out = Console(width=120, record=True)
    out.print(table)  # raised rich.errors.MarkupError before: "[/usr..." read as a closing tag
    assert "[/usr/bin/redis-server" in out.export_text()


SHAPED_LOCUSTFILE = """
from locust import HttpUser, LoadTestShape, task

class U(HttpUser):
    @task
    def t(self):
        self.client.get("/")

class Steps(LoadTestShape):
    def tick(self):
        t = self.get_run_time()
        return None if t >= SECONDS else (2, 2)
"""


def test_a_load_test_shape_sets_the_length_its_faults_are_checked_against(tmp_path) -> None:  # type: ignore[no-untyped-def]
    def run(seconds: int, *options: str):  # type: ignore[no-untyped-def]
        path = tmp_path / f"shape{seconds}.py"
        path.write_text(SHAPED_LOCUSTFILE.replace("SECONDS", str(seconds)))
        return run_cli("run", "http://127.0.0.1:9/", "--locustfile", str(path), "--out", str(tmp_path / "out"),
                       *options)  # fmt: skip

    late = run(13, "--fault", "reload@20s")  # past the file's 13 s
    assert late.code == 2 and "outside the run (0 to 13s" in late.stderr, late.stderr
    # Past the default 40 s but inside the file's 60 s: accepted, and refused later only because
    # a URL alone gives no process to signal.
    long = run(60, "--fault", "reload@50s")
    assert long.code == 2 and "--fault needs the target's processes" in long.stderr, long.stderr
    top = run(13, "--users", "32")  # the shape sets the users: --users beside it is refused
    assert top.code == 2 and "has a LoadTestShape" in top.stderr, top.stderr
