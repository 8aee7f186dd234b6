"""Reading a run folder back: hand-written folders (format 1, as profiler 0.1 wrote them, and format 2
through the worker's own writer), including ones a crash cut short."""

from __future__ import annotations

import csv
import io
import json
import math
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from profiler.base.errors import RunFolderError
from profiler.base.servertiming import parse_server_timing
from profiler.runfolder.engine import RequestTable
from profiler.runfolder.names import META, REQUESTS, SAMPLES, STAGES
from profiler.runfolder.read import read_run
from profiler.runfolder.records import RAW_TIMING_LIMIT, REQUEST_COLUMNS_V1, STREAM_COLUMNS
from profiler.runfolder.write import RequestLog, csv_text, prepare_folder, row, untimed

REQUEST_COLUMNS = REQUEST_COLUMNS_V1  # these folders are written as profiler 0.1 wrote them

T0 = 1_700_000_000.0


def _row(
    start: float,
    latency: float = 10.0,
    *,
    stage: int = 0,
    kind: str = "main",
    status: int = 200,
    error: str = "",
    timing: str = "",
    flags: str = "",
    nbytes: int = 100,
    ttfb: float | None = None,
) -> list[Any]:
    return [
        f"{start:.6f}",
        f"{latency:.3f}",
        f"{(latency / 2 if ttfb is None else ttfb):.3f}",
        status,
        nbytes,
        error,
        stage,
        kind,
        flags,
        timing,
    ]


def _csv_text(rows: list[list[Any]], header: tuple[str, ...] = REQUEST_COLUMNS) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def _make_run(
    folder: Path,
    rows: list[list[Any]] | None = None,
    stages: list[dict[str, Any]] | None = None,
    samples: list[dict[str, Any]] | None = None,
    meta: dict[str, Any] | None = None,
    requests_text: str | None = None,
    stages_text: str | None = None,
    samples_text: str | None = None,
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / META).write_text(json.dumps(meta if meta is not None else {"started_at": T0}))
    if requests_text is None:
        requests_text = _csv_text(rows or [])
    (folder / REQUESTS).write_text(requests_text)
    if stages_text is None:
        stages_text = "".join(json.dumps(s) + "\n" for s in (stages or []))
    (folder / STAGES).write_text(stages_text)
    if samples_text is None:
        samples_text = "".join(json.dumps(s) + "\n" for s in (samples or []))
    (folder / SAMPLES).write_text(samples_text)
    return folder


def _start(
    index: int, t: float, users: int | None = 1, rate: float | None = None, planned: float = 5.0
) -> dict[str, Any]:
    return {"event": "start", "index": index, "users": users, "rate": rate, "t": t, "planned_s": planned}


def _end(index: int, t: float, requests: int = 0, reason: str | None = None) -> dict[str, Any]:
    return {"event": "end", "index": index, "t": t, "requests": requests, "stop_reason": reason}


def _nan_list(values: Any) -> list[float | None]:
    return [None if v is None or math.isnan(v) else v for v in values]


def read_requests(path: Path) -> dict[int, Any]:
    """Per stage, what the engine read: its tally and its columns (for the assertions below)."""
    table = RequestTable.read(path, {})
    return {i: _Stage(table, i, t) for i, t in table.stages().items()}


class _Stage:
    def __init__(self, table: RequestTable, index: int, tally: Any) -> None:
        self.table, self.index, self.tally = table, index, tally
        self.count, self.timed, self.malformed_timing = tally.count, tally.timed, tally.malformed_timing
        self.latency = table.values(index, "latency_ms")
        self.server_total = table.values(index, "server_ms")
        self.handoffs = {
            n: table.values(index, n) for n in table.handoff_names if any(v is not None for v in table.values(index, n))
        }


def _requests(folder: Path) -> dict[int, Any]:
    return read_requests(folder / REQUESTS)


# ---------------------------------------------------------------- a complete run


def test_read_run_complete(tmp_path: Path) -> None:
    rows = [
        _row(T0 + 0.1, 10.0, status=200, flags="c", timing="db;dur=4, total;dur=8"),
        _row(T0 + 0.2, 12.0, status=503, error="HTTP 503"),
        _row(T0 + 0.3, 0.0, status=0, error="ConnectionRefusedError", nbytes=0),
        _row(T0 + 5.1, 20.0, stage=1, flags="te"),
    ]
    stages = [_start(0, T0, 1), _end(0, T0 + 5.0, 3), _start(1, T0 + 5.0, 2), _end(1, T0 + 10.0, 1, "saturated")]
    samples = [{"t": T0 + 1.0, "target": {"cpu": 50.0}}, {"t": T0 + 2.0, "target": {"cpu": 60.0}}]
    folder = _make_run(tmp_path / "run", rows, stages, samples, meta={"started_at": T0, "config": {"url": "x"}})
    run = read_run(folder)

    assert (run.meta.started_at, run.meta.config.url, run.meta.format_version) == (T0, "x", 1)
    assert run.samples.times == (T0 + 1.0, T0 + 2.0)
    assert [(w.index, w.users, w.start, w.end, w.ended) for w in run.stages] == [
        (0, 1, T0, T0 + 5.0, True),
        (1, 2, T0 + 5.0, T0 + 10.0, True),
    ]
    assert run.stages[0].measured_s == pytest.approx(5.0)

    s0 = run.tallies[0]
    assert s0.count == 3
    assert run.requests.values(0, "latency_ms") == [10.0, 12.0, 0.0]
    assert run.requests.values(0, "ttfb_ms") == [5.0, 6.0, 0.0]
    assert s0.failed == 2
    assert s0.bytes_total == 200
    assert s0.statuses == {200: 1, 503: 1, 0: 1}
    assert s0.errors == {"HTTP 503": 1, "ConnectionRefusedError": 1}
    assert (s0.cookie, s0.chunked, s0.event_stream) == (1, 0, 0)
    assert s0.timed == 1
    assert _nan_list(run.requests.values(0, "server_ms")) == [8.0, None, None]
    assert _nan_list(run.requests.values(0, "db")) == [4.0, None, None]
    assert "total" not in run.requests.handoff_names
    assert (run.tallies[1].cookie, run.tallies[1].chunked, run.tallies[1].event_stream) == (0, 1, 1)


def test_read_run_open_model_stage(tmp_path: Path) -> None:
    stages = [_start(0, T0, users=None, rate=20.0), _end(0, T0 + 5.0)]
    folder = _make_run(tmp_path / "run", [_row(T0 + 1.0)], stages)
    (window,) = read_run(folder).stages
    assert window.users is None
    assert window.rate == 20.0


# ---------------------------------------------------------------- cut short by a crash


def test_truncated_last_row_is_skipped(tmp_path: Path) -> None:
    text = _csv_text([_row(T0 + 0.1, 10.0), _row(T0 + 0.2, 11.0)])
    text += "1700000000.300000,12.0"  # the crash cut the last row short (no newline either)
    folder = _make_run(tmp_path / "run", requests_text=text, stages=[_start(0, T0), _end(0, T0 + 1.0)])
    sr = _requests(folder)[0]
    assert sr.count == 2
    assert list(sr.latency) == [10.0, 11.0]


def test_truncated_row_inside_quoted_timing_does_not_crash(tmp_path: Path) -> None:
    text = _csv_text([_row(T0 + 0.1, 10.0, timing="db;dur=1, app;dur=2")])
    text += '1700000000.200000,11.000,5.000,200,100,,0,main,,"db;dur=3, ap'
    folder = _make_run(tmp_path / "run", requests_text=text, stages=[_start(0, T0), _end(0, T0 + 1.0)])
    sr = _requests(folder)[0]
    assert sr.count in (1, 2)  # the cut row may be kept (its other columns are whole) but never crashes
    assert list(sr.handoffs["db"])[0] == 1.0


def test_unparseable_numbers_in_a_row_are_skipped(tmp_path: Path) -> None:
    rows = [_row(T0 + 0.1), ["x", "1", "1", "200", "1", "", "0", "main", "", ""], _row(T0 + 0.3)]
    folder = _make_run(tmp_path / "run", rows, [_start(0, T0), _end(0, T0 + 1.0)])
    assert read_run(folder).tallies[0].count == 2


def test_missing_end_event_ends_stage_at_last_request(tmp_path: Path) -> None:
    rows = [
        _row(T0 + 0.5, stage=0),
        _row(T0 + 5.5, stage=1),
        _row(T0 + 7.25, stage=1),
        _row(T0 + 6.0, stage=1),  # completion order is not start order
        _row(T0 + 9.0, stage=1, kind="probe"),  # probes do not stretch the stage
    ]
    stages = [_start(0, T0, 1), _end(0, T0 + 5.0, 1), _start(1, T0 + 5.0, 2)]
    samples = [{"t": T0 + 9.5}]
    run = read_run(_make_run(tmp_path / "run", rows, stages, samples))
    first, second = run.stages
    assert first.ended is True
    assert first.end == T0 + 5.0
    assert second.ended is False
    assert second.end == pytest.approx(T0 + 7.25)


def test_missing_end_event_without_requests_ends_at_last_sample(tmp_path: Path) -> None:
    stages = [_start(0, T0, 1), _end(0, T0 + 5.0), _start(1, T0 + 5.0, 2)]
    samples = [{"t": T0 + 5.5}, {"t": T0 + 6.5}]
    run = read_run(_make_run(tmp_path / "run", [_row(T0 + 1.0)], stages, samples))
    assert run.stages[1].ended is False
    assert run.stages[1].end == pytest.approx(T0 + 6.5)


def test_missing_end_event_never_ends_before_it_started(tmp_path: Path) -> None:
    stages = [_start(0, T0 + 10.0, 1)]
    run = read_run(_make_run(tmp_path / "run", [], stages, [], meta={"started_at": T0}))
    (window,) = run.stages
    assert window.ended is False
    assert window.end == T0 + 10.0


def test_malformed_jsonl_lines_are_skipped(tmp_path: Path) -> None:
    samples_text = (
        json.dumps({"t": T0 + 1.0}) + "\n" + "{not json\n" + "\n" + json.dumps({"t": T0 + 2.0}) + "\n" + '{"t": 17'
    )
    stages_text = json.dumps(_start(0, T0)) + "\n" + '{"event": "end", "ind' + "\n"
    folder = _make_run(tmp_path / "run", [_row(T0 + 1.5)], samples_text=samples_text, stages_text=stages_text)
    run = read_run(folder)
    assert run.samples.times == (T0 + 1.0, T0 + 2.0)
    (window,) = run.stages
    assert window.ended is False  # the end event was the line cut short


# ---------------------------------------------------------------- handoffs and probes


def test_handoff_columns_align_when_a_name_first_appears_mid_stage(tmp_path: Path) -> None:
    rows = [
        _row(T0 + 0.1, timing="db;dur=1"),
        _row(T0 + 0.2, timing=""),
        _row(T0 + 0.3, timing="db;dur=2, cache;dur=3"),
        _row(T0 + 0.4, timing="cache;dur=4"),
        _row(T0 + 0.45, kind="probe", timing="db;dur=99, probe_only;dur=1"),
        _row(T0 + 0.5, timing="render;dur=5, total;dur=9"),
        _row(T0 + 0.6),
    ]
    sr = _requests(_make_run(tmp_path / "run", rows, [_start(0, T0), _end(0, T0 + 1.0)]))[0]
    assert sr.count == 6
    assert set(sr.handoffs) == {"db", "cache", "render"}
    for col in sr.handoffs.values():
        assert len(col) == sr.count
    assert len(sr.server_total) == sr.count
    assert _nan_list(sr.handoffs["db"]) == [1.0, None, 2.0, None, None, None]
    assert _nan_list(sr.handoffs["cache"]) == [None, None, 3.0, 4.0, None, None]
    assert _nan_list(sr.handoffs["render"]) == [None, None, None, None, 5.0, None]
    # server_ms is the app's `total` entry, else the sum of its handoffs (format 2 stores it so)
    assert _nan_list(sr.server_total) == [1.0, None, 5.0, 4.0, 9.0, None]
    assert sr.timed == 4


def test_probe_rows_are_kept_apart(tmp_path: Path) -> None:
    rows = [
        _row(T0 + 0.1, 10.0),
        _row(T0 + 0.15, 1.5, kind="probe", status=404, error="HTTP 404"),
        _row(T0 + 0.2, 11.0),
        _row(T0 + 0.25, 2.5, kind="probe", status=404, error="HTTP 404"),
        _row(T0 + 5.2, 3.0, stage=1, kind="probe"),
    ]
    stages = [_start(0, T0), _end(0, T0 + 5.0), _start(1, T0 + 5.0), _end(1, T0 + 10.0)]
    run = read_run(_make_run(tmp_path / "run", rows, stages))
    s0 = run.tallies[0]
    assert s0.count == 2
    assert run.requests.values(0, "latency_ms") == [10.0, 11.0]
    assert s0.failed == 0
    assert s0.statuses == {200: 2}
    assert not s0.errors
    assert s0.probe is not None and (s0.probe.count, s0.probe.p50) == (2, 2.0)
    s1 = run.tallies[1]
    assert s1.count == 0
    assert s1.probe is not None and (s1.probe.count, s1.probe.max) == (1, 3.0)


# ---------------------------------------------------------------- Server-Timing, fast path and fallback


def test_server_timing_fast_path_and_quoted_fallback_agree(tmp_path: Path) -> None:
    fast = "db;dur=12.5, render;dur=3, db;dur=0.5, total;dur=20"
    quoted = 'db;dur=12.5;desc="select a, b; from t", render;desc="x";dur=3, db;dur=0.5, total;dur=20'
    rows = [_row(T0 + 0.1, timing=fast), _row(T0 + 0.2, timing=quoted)]
    sr = _requests(_make_run(tmp_path / "run", rows, [_start(0, T0), _end(0, T0 + 1.0)]))[0]
    assert list(sr.handoffs["db"]) == [13.0, 13.0]
    assert list(sr.handoffs["render"]) == [3.0, 3.0]
    assert list(sr.server_total) == [20.0, 20.0]
    assert sr.malformed_timing == 0


@pytest.mark.parametrize(
    "header",
    [
        "db;dur=12.5",
        "db;dur=1, app;dur=2.25",
        "db;desc=cached;dur=4",
        "db;dur=4;desc=cached",
        "cache;desc=hit, db;dur=2",
        "db;dur=1e1",
        "a-b.c_d;dur=7",
        "db;dur=abc, app;dur=1",
        "db;dur=-1, app;dur=1",
        "db;dur=nan, app;dur=1",
        "db;DUR=3",
        "db; dur=3",
        "db;dur = 3",
        "a+b;dur=2",
        ";dur=5, app;dur=1",  # an entry with no name is malformed
    ],
)
def test_read_requests_matches_the_general_parser(tmp_path: Path, header: str) -> None:
    # Whichever path read_requests takes, it must give what parse_server_timing gives.
    path = tmp_path / REQUESTS
    path.write_text(_csv_text([_row(T0, timing=header)]))
    sr = read_requests(path)[0]
    expected = parse_server_timing(header)
    got = {name: col[0] for name, col in sr.handoffs.items() if col[0] is not None}
    assert got == expected.durations
    assert sr.malformed_timing == expected.malformed


def test_server_timing_param_ending_in_dur_is_not_dur(tmp_path: Path) -> None:
    # `cpu_dur` is a different parameter; the entry's duration is dur=10.
    path = tmp_path / REQUESTS
    path.write_text(_csv_text([_row(T0, timing="app;cpu_dur=3;dur=10")]))
    sr = read_requests(path)[0]
    assert parse_server_timing("app;cpu_dur=3;dur=10").durations == {"app": 10.0}
    assert list(sr.handoffs["app"]) == [10.0]


def test_malformed_timing_counted_via_fallback(tmp_path: Path) -> None:
    rows = [_row(T0, timing="db;dur=abc, app;dur=2"), _row(T0 + 0.1, timing='x;dur=-1;desc="a,b", y;dur=1')]
    sr = _requests(_make_run(tmp_path / "run", rows, [_start(0, T0), _end(0, T0 + 1.0)]))[0]
    assert sr.malformed_timing == 2
    assert _nan_list(sr.handoffs["app"]) == [2.0, None]
    assert _nan_list(sr.handoffs["y"]) == [None, 1.0]
    assert "db" not in sr.handoffs and "x" not in sr.handoffs


# ---------------------------------------------------------------- errors


def test_read_run_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(RunFolderError, match="is not a folder") as err:
        read_run(tmp_path / "nope")
    assert "Fix:" in str(err.value)


def test_read_run_file_instead_of_folder(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(RunFolderError, match="is not a folder"):
        read_run(f)


def test_read_run_no_meta(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / REQUESTS).write_text(_csv_text([_row(T0)]))
    with pytest.raises(RunFolderError, match="holds no run") as err:
        read_run(folder)
    assert "Fix:" in str(err.value)


def test_read_run_damaged_meta(tmp_path: Path) -> None:
    folder = _make_run(tmp_path / "run", [_row(T0)])
    (folder / META).write_text("{not json")
    with pytest.raises(RunFolderError, match="cannot read") as err:
        read_run(folder)
    assert "Fix:" in str(err.value)


def test_read_run_wrong_csv_header(tmp_path: Path) -> None:
    text = _csv_text([_row(T0)], header=("start", "latency", "status"))
    folder = _make_run(tmp_path / "run", requests_text=text)
    with pytest.raises(RunFolderError, match="expected columns") as err:
        read_run(folder)
    assert "Fix:" in str(err.value)


def test_read_run_without_data_files(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / META).write_text(json.dumps({"started_at": T0}))
    run = read_run(folder)
    assert run.tallies == {}
    assert run.stages == ()
    assert run.samples.count == 0


def test_read_run_empty_requests_file(tmp_path: Path) -> None:
    folder = _make_run(tmp_path / "run", requests_text="")
    assert read_run(folder).tallies == {}


# ---------------------------------------------------------------- prepare_folder


def test_prepare_folder_creates_nested(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "run"
    assert prepare_folder(target) == target
    assert target.is_dir()
    assert list(target.iterdir()) == []  # the write test leaves nothing behind


def test_prepare_folder_accepts_existing_empty_folder(tmp_path: Path) -> None:
    target = tmp_path / "run"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    assert prepare_folder(target) == target


def test_prepare_folder_refuses_a_folder_holding_a_run(tmp_path: Path) -> None:
    target = _make_run(tmp_path / "run", [_row(T0)])
    with pytest.raises(RunFolderError, match="already holds a run") as err:
        prepare_folder(target)
    assert "Fix:" in str(err.value)
    assert (target / META).exists()  # untouched


def test_prepare_folder_refuses_a_file(tmp_path: Path) -> None:
    f = tmp_path / "out"
    f.write_text("x")
    with pytest.raises(RunFolderError, match="not a folder"):
        prepare_folder(f)


def _v2_folder(folder: Path, rows: list[list[Any]]) -> Path:
    """The same rows written by the worker's own writer (format 2: Server-Timing stored parsed)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / META).write_text(json.dumps({"format_version": 2, "started_at": T0}))
    log = RequestLog(folder)
    for r in rows:
        log.add(float(r[0]), float(r[1]), float(r[2]), int(r[3]), int(r[4]), r[5], int(r[6]), r[7], r[8], r[9])
    log.close()
    return folder


def test_format_2_reads_as_format_1(tmp_path: Path) -> None:
    """The worker stores Server-Timing parsed; the reader must find what parsing the raw header gives."""
    import random

    rng = random.Random(7)
    rows = []
    for i in range(60):
        timing = "" if i % 7 == 0 else f"db;dur={rng.uniform(0, 5):.3f}" + (", cache;dur=0.2" if i > 30 else "")
        if i % 13 == 0:
            timing += ', total;dur=9, bad;dur=x, q;desc="a,b";dur=1'
        kind = "probe" if i % 11 == 0 else "main"
        rows.append(_row(T0 + i * 0.01, latency=rng.uniform(1, 50), stage=i // 20, timing=timing, kind=kind))
    v1 = _make_run(tmp_path / "v1", rows, [])
    v2 = _v2_folder(tmp_path / "v2", rows)
    one, two = read_run(v1), read_run(v2)
    assert (one.meta.format_version, two.meta.format_version) == (1, 2)
    assert one.tallies == two.tallies
    assert sum(t.count for t in one.tallies.values()) == 60 - 6  # six probe rows
    assert one.requests.handoffs() == two.requests.handoffs()
    assert one.requests.handoffs(by_stage=True) == two.requests.handoffs(by_stage=True)
    for stage in one.tallies:
        for column in ("latency_ms", "server_ms", "db", "cache", "q"):
            assert one.requests.values(stage, column) == two.requests.values(stage, column)


def test_handoffs_beyond_the_slots_are_kept(tmp_path: Path) -> None:
    names = [f"step{i}" for i in range(12)]
    header = ", ".join(f"{n};dur={i + 1}" for i, n in enumerate(names))
    folder = _v2_folder(
        tmp_path / "run", [_row(T0, 100.0, timing=header), _row(T0 + 0.1, 100.0, timing="step11;dur=4")]
    )
    run = read_run(folder)
    assert set(run.requests.handoff_names) == set(names)
    assert run.requests.values(0, "step11") == [12.0, 4.0]
    h = run.requests.handoffs(by_stage=True)[0]
    assert h.handoffs["step0"].count == 1 and h.handoffs["step11"].count == 2
    assert run.requests.values(0, "server_ms") == [sum(range(1, 13)), 4.0]


def test_a_flood_of_server_timing_is_stored_bounded(tmp_path: Path) -> None:
    header = ", ".join(f"e{i};dur=1" for i in range(10_000)) + ", bad;dur=x"
    folder = _v2_folder(tmp_path / "run", [_row(T0, 50.0, timing=header), _row(T0 + 1, 50.0, timing="a;dur=1")])
    with (folder / REQUESTS).open() as fh:
        head, *rows = list(csv.reader(fh))
    raws = [row[head.index("server_timing")] for row in rows]
    # the raw header is kept (bounded) only where part of it could not be parsed
    assert [len(r) for r in raws] == [RAW_TIMING_LIMIT, 0]
    run = read_run(folder)
    assert (run.tallies[0].timed, run.tallies[0].malformed_timing) == (2, 1)
    assert len(run.requests.handoff_names) == 32  # names past the bound stay on disk, unread


@pytest.mark.parametrize(
    ("meta", "field"),
    [({"config": []}, "config"), ({"started_at": "yesterday"}, "started_at"), ({"config": {"slo": 95}}, "config.slo")],
)
def test_a_damaged_meta_field_is_one_line_naming_it(tmp_path: Path, meta: dict[str, Any], field: str) -> None:
    folder = _make_run(tmp_path / "run", [_row(T0)], meta=meta)
    with pytest.raises(RunFolderError, match=f"field '{field}'") as err:
        read_run(folder)
    assert "\n" not in str(err.value) and "Fix:" in str(err.value)


def test_a_folder_from_a_newer_profiler_is_refused(tmp_path: Path) -> None:
    folder = _make_run(tmp_path / "run", [_row(T0)], meta={"format_version": 99, "started_at": T0})
    with pytest.raises(RunFolderError, match="newer profiler"):
        read_run(folder)


def test_format_1_slo_label_reads_as_numbers(tmp_path: Path) -> None:
    folder = _make_run(tmp_path / "run", [_row(T0)], meta={"started_at": T0, "config": {"slo": "p99<=250ms"}})
    slo = read_run(folder).meta.config.slo
    assert slo is not None and (slo.percentile, slo.threshold_ms) == (99.0, 250.0)


def test_analyze_reads_a_format_1_folder_through_the_cli(tmp_path: Path) -> None:
    from tests.conftest import assert_no_traceback, run_cli

    rows = [_row(T0 + 0.1 * i, 10.0 + i % 3, timing="db;dur=4, total;dur=8") for i in range(30)]
    rows += [_row(T0 + 5 + 0.1 * i, 20.0 + i % 5, stage=1) for i in range(30)]
    stages = [_start(0, T0, 1), _end(0, T0 + 5.0, 30), _start(1, T0 + 5.0, 2), _end(1, T0 + 10.0, 30)]
    meta = {"started_at": T0, "status": "completed", "config": {"url": "http://127.0.0.1:1/x", "slo": "p95<=300ms"}}
    folder = _make_run(
        tmp_path / "run", rows, stages, [{"t": T0 + 1, "target": {"cpu": 5, "rss": 1, "procs": 1}}], meta
    )
    result = run_cli("analyze", str(folder), "--json")
    assert_no_traceback(result)
    assert result.code == 0, result.output
    report = json.loads(result.stdout)
    assert report["run"]["folder_format"] == 1
    assert report["capacity"]["slo"] == "p95<=300ms"
    assert [s["requests"] for s in report["load"]["stages"]] == [30, 30]
    assert report["handoffs"]["handoffs"]["db"]["count"] == 30


@given(
    error=st.text(max_size=20),
    name=st.text(max_size=250),
    stream=st.lists(st.text(max_size=8), min_size=len(STREAM_COLUMNS), max_size=len(STREAM_COLUMNS)),
    start=st.floats(0, 2e9),
    latency=st.floats(0, 1e6),
)
@settings(max_examples=80, deadline=None)
def test_a_row_a_load_worker_formats_is_the_row_the_master_would_have_written(
    error: str, name: str, stream: list[str], start: float, latency: float
) -> None:
    """A distributed run's workers send rows already in CSV (`row`, `csv_text`): byte for byte
    what the master's own RequestLog writes for the same request, whatever the error and route name
    hold (commas, quotes, line breaks) and however long the name."""
    with tempfile.TemporaryDirectory() as tmp:
        master, worker = Path(tmp) / "master", Path(tmp) / "worker"
        master.mkdir()
        worker.mkdir()
        log = RequestLog(master)
        log.add(start, latency, latency / 2, 500, 12, error, 1, "main", "c", "", "POST", name, tuple(stream))
        log.close()
        shipped = RequestLog(worker)
        cells = row(start, latency, latency / 2, 500, 12, error, 1, "main", untimed("c"), "POST", name, tuple(stream))
        shipped.add_text(csv_text([cells]))
        shipped.close()
        assert (worker / REQUESTS).read_bytes() == (master / REQUESTS).read_bytes()
