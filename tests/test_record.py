"""Reading a run folder back: hand-written folders, including ones a crash cut short."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

import pytest

from profiler.errors import RunFolderError
from profiler.record import (
    META,
    REQUEST_COLUMNS,
    REQUESTS,
    SAMPLES,
    STAGES,
    prepare_folder,
    read_requests,
    read_run,
)
from profiler.servertiming import parse_server_timing

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
    return [None if math.isnan(v) else v for v in values]


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
    folder = _make_run(tmp_path / "run", rows, stages, samples, meta={"started_at": T0, "url": "x"})
    run = read_run(folder)

    assert run.meta == {"started_at": T0, "url": "x"}
    assert [s["t"] for s in run.samples] == [T0 + 1.0, T0 + 2.0]
    assert [(w.index, w.users, w.start, w.end, w.ended) for w in run.stages] == [
        (0, 1, T0, T0 + 5.0, True),
        (1, 2, T0 + 5.0, T0 + 10.0, True),
    ]
    assert run.stages[1].stop_reason == "saturated"
    assert run.stages[0].planned_s == 5.0
    assert run.stages[0].duration_s == pytest.approx(5.0)

    s0 = run.requests[0]
    assert s0.count == 3
    assert list(s0.latency) == [10.0, 12.0, 0.0]
    assert list(s0.ttfb) == [5.0, 6.0, 0.0]
    assert list(s0.failed) == [0, 1, 1]
    assert s0.bytes_total == 200
    assert s0.statuses == {200: 1, 503: 1, 0: 1}
    assert s0.errors == {"HTTP 503": 1, "ConnectionRefusedError": 1}
    assert s0.flags == {"c": 1}
    assert s0.timed == 1
    assert _nan_list(s0.server_total) == [8.0, None, None]
    assert _nan_list(s0.handoffs["db"]) == [4.0, None, None]
    assert "total" not in s0.handoffs
    assert run.requests[1].flags == {"t": 1, "e": 1}


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
    sr = read_run(folder).requests[0]
    assert sr.count == 2
    assert list(sr.latency) == [10.0, 11.0]


def test_truncated_row_inside_quoted_timing_does_not_crash(tmp_path: Path) -> None:
    text = _csv_text([_row(T0 + 0.1, 10.0, timing="db;dur=1, app;dur=2")])
    text += '1700000000.200000,11.000,5.000,200,100,,0,main,,"db;dur=3, ap'
    folder = _make_run(tmp_path / "run", requests_text=text, stages=[_start(0, T0), _end(0, T0 + 1.0)])
    sr = read_run(folder).requests[0]
    assert sr.count in (1, 2)  # the cut row may be kept (its other columns are whole) but never crashes
    assert list(sr.handoffs["db"])[0] == 1.0


def test_unparseable_numbers_in_a_row_are_skipped(tmp_path: Path) -> None:
    rows = [_row(T0 + 0.1), ["x", "1", "1", "200", "1", "", "0", "main", "", ""], _row(T0 + 0.3)]
    folder = _make_run(tmp_path / "run", rows, [_start(0, T0), _end(0, T0 + 1.0)])
    assert read_run(folder).requests[0].count == 2


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
    assert second.stop_reason is None
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
    assert [s["t"] for s in run.samples] == [T0 + 1.0, T0 + 2.0]
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
    sr = read_run(_make_run(tmp_path / "run", rows, [_start(0, T0), _end(0, T0 + 1.0)])).requests[0]
    assert sr.count == 6
    assert set(sr.handoffs) == {"db", "cache", "render"}
    for col in sr.handoffs.values():
        assert len(col) == sr.count
    assert len(sr.server_total) == sr.count
    assert _nan_list(sr.handoffs["db"]) == [1.0, None, 2.0, None, None, None]
    assert _nan_list(sr.handoffs["cache"]) == [None, None, 3.0, 4.0, None, None]
    assert _nan_list(sr.handoffs["render"]) == [None, None, None, None, 5.0, None]
    assert _nan_list(sr.server_total) == [None, None, None, None, 9.0, None]
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
    s0 = run.requests[0]
    assert s0.count == 2
    assert list(s0.latency) == [10.0, 11.0]
    assert list(s0.failed) == [0, 0]
    assert s0.statuses == {200: 2}
    assert not s0.errors
    assert list(s0.probe_latency) == [1.5, 2.5]
    assert list(s0.probe_start) == [pytest.approx(T0 + 0.15), pytest.approx(T0 + 0.25)]
    s1 = run.requests[1]
    assert s1.count == 0
    assert list(s1.probe_latency) == [3.0]


# ---------------------------------------------------------------- Server-Timing, fast path and fallback


def test_server_timing_fast_path_and_quoted_fallback_agree(tmp_path: Path) -> None:
    fast = "db;dur=12.5, render;dur=3, db;dur=0.5, total;dur=20"
    quoted = 'db;dur=12.5;desc="select a, b; from t", render;desc="x";dur=3, db;dur=0.5, total;dur=20'
    rows = [_row(T0 + 0.1, timing=fast), _row(T0 + 0.2, timing=quoted)]
    sr = read_run(_make_run(tmp_path / "run", rows, [_start(0, T0), _end(0, T0 + 1.0)])).requests[0]
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
    got = {name: col[0] for name, col in sr.handoffs.items() if not math.isnan(col[0])}
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
    sr = read_run(_make_run(tmp_path / "run", rows, [_start(0, T0), _end(0, T0 + 1.0)])).requests[0]
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
    assert run.requests == {}
    assert run.stages == ()
    assert run.samples == ()


def test_read_run_empty_requests_file(tmp_path: Path) -> None:
    folder = _make_run(tmp_path / "run", requests_text="")
    assert read_run(folder).requests == {}


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


def test_reading_in_parallel_byte_ranges_matches_one_reader(tmp_path: Path) -> None:
    import math
    import random

    rng = random.Random(7)
    rows = []
    for i in range(60):
        timing = "" if i % 7 == 0 else f"db;dur={rng.uniform(0, 5):.3f}" + (", cache;dur=0.2" if i > 30 else "")
        rows.append(
            _row(
                T0 + i * 0.01,
                latency=rng.uniform(1, 50),
                stage=i // 20,
                timing=timing,
                kind="probe" if i % 11 == 0 else "main",
            )
        )
    path = tmp_path / "requests.csv"
    path.write_text(_csv_text(rows))

    def flat(stages: dict) -> list:  # type: ignore[type-arg]
        out = []
        for idx in sorted(stages):
            sr = stages[idx]
            out.append(
                (
                    idx,
                    list(sr.latency),
                    list(sr.start),
                    list(sr.probe_latency),
                    sr.timed,
                    dict(sr.statuses),
                    {n: [None if math.isnan(v) else v for v in col] for n, col in sorted(sr.handoffs.items())},
                    sr.timed_count,
                    round(sr.timed_latency_total, 6),
                    list(sr.unattributed_sorted),
                    {n: list(col) for n, col in sorted(sr.handoffs_sorted.items())},
                )
            )
        return out

    one = flat(read_requests(path, workers=1))
    assert sum(len(s[1]) for s in one) == 60 - 6  # six probe rows
    # Many range counts put range boundaries everywhere, exactly on line starts included.
    for workers in range(2, 24):
        assert flat(read_requests(path, workers=workers)) == one, workers
