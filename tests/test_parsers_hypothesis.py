"""Every parser of outside input, on what hypothesis draws: a value, or the documented ProfilerError
with a one-line message, never anything else. Headers come from the target app, run-folder lines
from disk (damaged or written by another version), options from the user."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from profiler.base.config import parse_float_list, parse_header, parse_int_list, parse_ms, parse_slo
from profiler.base.errors import ConfigError, RunFolderError
from profiler.base.servertiming import ParsedTiming, is_token, parse_fast, parse_server_timing
from profiler.runfolder.engine import RequestTable, SampleTable
from profiler.runfolder.messages import Done, ProfileStart, StageDone, Tick, decode, encode
from profiler.runfolder.meta import Meta, RecordedConfig, SamplerInfo, loads, parse_meta
from profiler.runfolder.names import FORMAT_VERSION
from profiler.runfolder.records import (
    HANDOFF_SLOTS,
    REQUEST_COLUMNS,
    REQUEST_COLUMNS_V1,
    Finish,
    HandoffSlots,
    Hang,
    ProcessInfo,
    StageEnd,
    StageStart,
    parse_stage_event,
)

FAST = settings(max_examples=60, deadline=None)
T0 = 1_700_000_000.0

# JSON as a damaged or foreign file may hold it: every type, numbers no float holds, long strings.
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([10**20, -(10**20), 10**400, 2**63, -1, 0])
    | st.floats()
    | st.text(max_size=12)
    | st.integers(1000, 20_000).map(lambda n: "x" * n)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
# A line of a run folder as read back: through `loads`, as `read_jsonl` does.
NUMBER_TEXT = st.sampled_from(["12345678901234567890", "-1e400", "1e400", "NaN", "-Infinity", "9" * 400])


def one_line(err: Exception) -> None:
    assert len(str(err).splitlines()) == 1 and str(err).strip(), repr(str(err))


def with_field(valid: dict[str, Any], draw: st.DrawFn) -> dict[str, Any]:
    """`valid` with one field, at any depth, replaced by any JSON value (or removed)."""
    key = draw(st.sampled_from(sorted(valid)))
    value = valid[key]
    if isinstance(value, dict) and value and draw(st.booleans()):
        return {**valid, key: with_field(value, draw)}
    if draw(st.integers(0, 9)) == 0:
        return {k: v for k, v in valid.items() if k != key}
    return {**valid, key: draw(JSON)}


def through_disk(value: Any) -> Any:
    """`value` as a run-folder reader gets it: written as JSON, read back with `loads`."""
    return loads(json.dumps(value))


# -- Server-Timing ---------------------------------------------------------------------------------

ENTRY_PARTS = st.sampled_from(
    ["db", "app", "total", "x-y", "dur", "dur=", "dur=1", "dur=1.5", "dur=1e400", "dur=-1", "dur=nan", 'desc="a,b"',
     'desc="a;b"', '"', "\\", ";", ",", " ", "=", "DUR=2", "é", "\t", "1e308", "dur=1e308"]
)  # fmt: skip
HEADERS = st.text(max_size=60) | st.lists(ENTRY_PARTS, max_size=12).map("".join)


@FAST
@given(HEADERS)
def test_server_timing_is_parsed_whatever_the_app_sends(header: str) -> None:
    slow, fast = parse_server_timing(header), parse_fast(header)
    assert fast == slow  # the fast path is only a shortcut
    assert slow.malformed >= 0
    assert all(is_token(name) for name in slow.durations)
    assert all(math.isfinite(d) and d >= 0 for d in slow.durations.values()), slow


@FAST
@given(st.dictionaries(st.sampled_from(["db", "app", "total", "a.b", "x_y"]), st.floats(0, 1e6), min_size=1))
def test_server_timing_reads_back_what_an_app_writes(durations: dict[str, float]) -> None:
    header = ", ".join(f"{name};dur={dur!r}" for name, dur in durations.items())
    assert parse_fast(header).durations == durations == parse_server_timing(header).durations


# -- records: stages.jsonl, processes.jsonl, handoffs.jsonl ------------------------------------------

EVENTS = [
    json.loads(StageStart(0, 4, None, T0, 5.0).line()),
    json.loads(StageEnd(0, T0 + 5, 10, "x", 2).line()),
    json.loads(Hang(0, T0 + 1, 5.0, 3).line()),
    json.loads(Finish(T0 + 6, 10, 10).line()),
]
PROCESS = json.loads(ProcessInfo(12, 1, "python", "/usr/bin/python", ("python", "app.py"), T0).line())


@FAST
@given(st.sampled_from(EVENTS), st.data())
def test_a_stage_event_is_an_event_or_none(valid: dict[str, Any], data: st.DataObject) -> None:
    event = parse_stage_event(through_disk(with_field(valid, data.draw)))
    assert event is None or isinstance(event, StageStart | StageEnd | Hang | Finish)
    if event is not None:
        assert math.isfinite(event.t)


@FAST
@given(st.dictionaries(st.sampled_from(["event", "index", "stage", "t", "users", "rate", "requests"]), JSON))
def test_any_stage_line_from_disk_is_an_event_or_none(line: dict[str, Any]) -> None:
    parse_stage_event(through_disk(line))


@FAST
@given(st.data())
def test_a_process_line_is_a_process_or_none(data: st.DataObject) -> None:
    info = ProcessInfo.parse(through_disk(with_field(PROCESS, data.draw)))
    assert info is None or (isinstance(info.pid, int) and all(isinstance(a, str) for a in info.cmdline))


@FAST
@given(st.lists(st.dictionaries(st.sampled_from(["slot", "name"]), JSON), max_size=12))
def test_handoff_slots_hold_only_valid_slots(lines: list[dict[str, Any]]) -> None:
    slots = HandoffSlots.parse([through_disk(d) for d in lines])
    assert all(isinstance(n, str) and 0 <= s < HANDOFF_SLOTS for n, s in slots.slots.items())


# -- meta.json -------------------------------------------------------------------------------------

META = Meta.new("0.1.0", T0, RecordedConfig(url="http://127.0.0.1:8000/", users=[1, 2]), {"os": "linux"})
META.sampler = SamplerInfo(interval_s=0.5, ncpu=4)
VALID_META = META.dump()


@FAST
@given(st.data())
def test_meta_with_any_field_damaged_is_meta_or_one_line(data: st.DataObject) -> None:
    raw = with_field(VALID_META, data.draw)
    for value in (raw, through_disk(raw)):
        try:
            meta = parse_meta(value)
        except RunFolderError as e:
            one_line(e)
            continue
        assert 1 <= meta.format_version <= FORMAT_VERSION
        assert math.isfinite(meta.started_at)


@FAST
@given(JSON)
def test_meta_of_any_json_is_meta_or_one_line(raw: Any) -> None:
    try:
        parse_meta(raw)
    except RunFolderError as e:
        one_line(e)


def test_meta_of_a_newer_format_is_refused_before_its_fields_are_read() -> None:
    newer = FORMAT_VERSION + 1
    with pytest.raises(RunFolderError, match=f"newer profiler .*format {newer}"):
        parse_meta({**VALID_META, "format_version": newer, "started_at": "a type it changed"})


@pytest.mark.parametrize(
    ("written_by", "notice"),
    [("0.9.1", True), ("1.0", True), ("0.1.1rc2", True), ("0.1.0", False), ("0.0.9", False), ("unknown", False),
     ("", False), ("9" * 400, False), ("1.0\nforged line", False)],
)  # fmt: skip
def test_a_newer_profiler_is_named_in_a_notice(written_by: str, notice: bool) -> None:
    meta = parse_meta({**VALID_META, "profiler_version": written_by})
    expected = f"written by profiler {written_by}, newer than this one (0.1.0); fields it added were ignored"
    assert meta.compatibility_notices("0.1.0") == ([expected] if notice else [])


def test_a_status_a_newer_profiler_added_reads_as_incomplete() -> None:
    assert parse_meta({**VALID_META, "status": "target-vanished"}).status is None


# -- the load worker's messages --------------------------------------------------------------------

MESSAGES = (
    st.builds(Tick, stage=st.integers(0, 99), users=st.none() | st.integers(1, 9), rate=st.none() | st.floats(0, 9))
    | st.builds(StageDone, stage=st.integers(0, 99))
    | st.builds(ProfileStart)
    | st.builds(Done)
)


@FAST
@given(st.text(max_size=80) | st.binary(max_size=80) | JSON.map(json.dumps) | NUMBER_TEXT)
def test_a_worker_line_is_a_message_or_none(line: str | bytes) -> None:
    message = decode(line)
    assert message is None or isinstance(message, Tick | StageDone | ProfileStart | Done)


@FAST
@given(MESSAGES)
def test_a_message_survives_the_pipe(message: Tick | StageDone | ProfileStart | Done) -> None:
    decoded = decode(encode(message))
    assert decoded == message or any(isinstance(v, float) and math.isnan(v) for v in message.model_dump().values())


def test_a_line_nested_past_any_message_is_none() -> None:
    assert decode("[" * 100_000) is None


# -- samples.jsonl ---------------------------------------------------------------------------------

SAMPLE = {
    "t": T0,
    "target": {"cpu": 50.0, "rss": 10**8, "threads": 4, "procs": 1, "fds": 9, "sockets": 2, "ctx_vol": 1,
               "ctx_invol": 1, "per_process": [{"pid": 12, "cpu": 50.0, "rss": 10**8, "threads": 4}]},
    "loadgen": {"cpu": 10.0},
    "machine": {"cpu": 30.0},
    "gpu": [{"index": 0, "util": 50, "power_w": 70.0}],
}  # fmt: skip


@st.composite
def sample_lines(draw: st.DrawFn) -> bytes:
    lines: list[bytes] = []
    for k in range(draw(st.integers(0, 8))):
        line = {**SAMPLE, "t": T0 + k}
        kind = draw(st.sampled_from(["valid", "field", "json", "bytes", "number"]))
        if kind == "valid":
            lines.append(json.dumps(line).encode())
        elif kind == "field":
            lines.append(json.dumps(with_field(line, draw)).encode())
        elif kind == "json":
            lines.append(json.dumps(draw(JSON)).encode())
        elif kind == "bytes":
            lines.append(draw(st.binary(max_size=40)))
        else:
            lines.append(json.dumps(line).replace("50.0", draw(NUMBER_TEXT), 1).encode())
    return b"\n".join(lines) + draw(st.sampled_from([b"\n", b""]))


def finite(value: float | None) -> bool:
    return value is None or math.isfinite(value)


@FAST
@given(sample_lines(), st.sampled_from([1, 2]))
def test_samples_read_as_figures_or_one_line(text: bytes, version: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "samples.jsonl"
        path.write_bytes(text)
        try:
            table = SampleTable.read(path, version)
        except RunFolderError as e:
            one_line(e)
            return
    window = table.window(T0, T0 + 4)
    assert all(finite(v) and (v is None or v >= 0) for v in dataclasses.astuple(window))
    tree = table.tree()
    assert tree is None or all(math.isfinite(v) and v >= 0 for v in (tree.cpu_mean, tree.rss_max, tree.threads_max))
    assert all(p.pid >= 0 and math.isfinite(p.cpu_mean) for p in table.processes())
    assert all(finite(t) and finite(r) for t, r in table.rss_series())
    assert finite(table.last_time()) and finite(table.achieved_interval()) and table.processes_max() >= 0
    assert finite(table.column_max("loadgen_cpu")) and finite(table.column_max("machine_cpu"))


# -- requests.csv ----------------------------------------------------------------------------------

VALID_ROW = {
    "start": f"{T0 + 1:.6f}", "latency_ms": "10.000", "ttfb_ms": "5.000", "status": "200", "bytes": "100", "error": "",
    "stage": "0", "kind": "main", "flags": "s", "server_ms": "8.0", "timing_malformed": "0", "h0": "3.0", "h1": "4.5",
    "h_other": "q=1.5", "server_timing": "db;dur=3, app;dur=4.5",
}  # fmt: skip
CELLS = (
    st.text(max_size=10)
    | st.integers().map(str)
    | st.floats().map(str)
    | NUMBER_TEXT
    | st.sampled_from(["main", "probe", "GeneratorSaturated", "a=nan;b=-1;=2;c=inf", ""])
)


@st.composite
def request_rows(draw: st.DrawFn) -> tuple[tuple[str, ...], bytes]:
    header = draw(st.sampled_from([REQUEST_COLUMNS, REQUEST_COLUMNS_V1]))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for k in range(draw(st.integers(0, 8))):
        row = {**VALID_ROW, "start": f"{T0 + k:.6f}", "stage": str(k % 2)}
        for column in draw(st.lists(st.sampled_from(header), max_size=3)):
            row[column] = draw(CELLS)
        cells = [row.get(c, "") for c in header]
        writer.writerow(cells[: draw(st.integers(1, len(cells)))] if draw(st.integers(0, 7)) == 0 else cells)
    return header, out.getvalue().encode() + draw(st.sampled_from([b"", b"1700000", b'"', b"\xff\xfe"]))


@FAST
@given(request_rows(), st.sampled_from([{}, {0: "db", 1: "app"}]))
def test_requests_read_as_tallies_or_one_line(rows: tuple[tuple[str, ...], bytes], slots: dict[int, str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "requests.csv"
        path.write_bytes(rows[1])
        try:
            table = RequestTable.read(path, slots)
        except RunFolderError as e:
            one_line(e)
            return
        # The table scans the folder's requests.parquet: it is read while the folder is there.
        for stage, tally in table.stages().items():
            assert stage >= 0 and tally.count >= 0 and tally.failed >= 0 and tally.bytes_total >= 0
            assert all(math.isfinite(v) and v >= 0 for v in dataclasses.astuple(tally.latency))
            assert all(0 <= status <= 999 for status in tally.statuses)
            assert finite(table.percentile(stage, 95))
        for handoffs in [*table.handoffs().values(), *table.handoffs(by_stage=True).values()]:
            assert all(math.isfinite(h.total) and h.total >= 0 for h in handoffs.handoffs.values())
        assert all(math.isfinite(v) for v in table.first_latencies(5))
        table.completed_in([(T0, T0 + 4), (T0 + 4, T0 + 8)])
        table.started_by([T0, T0 + 4])


# -- the options a user types ----------------------------------------------------------------------

OPTION_TEXT = st.text(max_size=30) | st.sampled_from(["p95=300ms", "p99.9<=1s", "p50=80", "1,2,4", "nan,inf", "1e400"])
OPTION_PARSERS = (
    parse_slo,
    lambda t: parse_ms(t, "--x"),
    lambda t: parse_int_list(t, "--users", 1000),
    lambda t: parse_float_list(t, "--rate", 1e6),
    parse_header,
)


@FAST
@given(OPTION_TEXT)
def test_every_option_parser_is_a_value_or_one_config_error(text: str) -> None:
    for parse in OPTION_PARSERS:
        try:
            parse(text)
        except ConfigError as e:
            one_line(e)  # the text is quoted in the message, line breaks folded away


@pytest.mark.parametrize("text", ["p95\n=300ms", "1\n2", "x\r\ny"])
def test_an_option_with_a_line_break_is_still_one_line(text: str) -> None:
    for parse in OPTION_PARSERS[:4]:
        try:
            parse(text)  # whitespace around a value may be fine ("p95\n=300ms" is p95=300ms)...
        except ConfigError as e:
            one_line(e)  # ...and when it is not, the message quoting it is still one line


def test_server_timing_whose_sum_is_past_any_float_is_read(tmp_path: Path) -> None:
    header = "a;dur=1e308, b;dur=1e308, a;dur=1e308"
    assert parse_fast(header) == parse_server_timing(header) == ParsedTiming({"a": 1e308, "b": 1e308}, 1)
    path = tmp_path / "requests.csv"  # format 1: the raw header, summed when read (math.fsum overflowed)
    path.write_text(",".join(REQUEST_COLUMNS_V1) + f'\n{T0},10,5,200,1,,0,main,,"{header}"\n')
    assert RequestTable.read(path, {}).stages()[0].count == 1
