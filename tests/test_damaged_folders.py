"""`analyze` of a damaged or foreign run folder: a report, or one RunFolderError line, never a traceback.

A small valid format-2 folder is written with the run's own writers (no load is sent); hypothesis
then damages it the ways disks, crashes and hand edits do (a file cut at any byte, deleted, bytes
flipped, a field of another JSON type, garbage lines, numbers no float holds, very long fields,
bytes that are not UTF-8) and the folder is analysed in-process. A few hand-picked damages, the
ones reported, go through the real CLI.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

from profiler import __version__
from profiler.base.errors import RunFolderError
from profiler.report import json_file
from profiler.report.build import build_report
from profiler.run.console import print_report
from profiler.runfolder.meta import CpuLimit, GpuInfo, Meta, RaplInfo, RecordedConfig, SamplerInfo, SloSetting
from profiler.runfolder.names import FORMAT_VERSION, HANDOFFS, META, PROCESSES, REQUESTS, SAMPLER_INFO, SAMPLES, STAGES
from profiler.runfolder.read import read_run
from profiler.runfolder.records import (
    MachineSample,
    ProcessInfo,
    ProcessSample,
    Sample,
    StageEnd,
    StageStart,
    TreeSample,
)
from profiler.runfolder.write import RequestLog, StageLog
from profiler.schema.report import Report
from tests.conftest import ROOT, CliResult, assert_no_traceback

T0 = 1_700_000_000.0
STACKS, GIL_STACKS, SOURCES = "pyspy/stage-1.txt", "pyspy/stage-1.gil.txt", "pyspy/stage-1.sources.json"
FILES = (META, REQUESTS, STAGES, SAMPLES, SAMPLER_INFO, PROCESSES, HANDOFFS, STACKS, GIL_STACKS, SOURCES)
JSON_FILES = (META, SAMPLER_INFO, SOURCES)
HANDLER = "handler (/srv/app/main.py:12);compute (/srv/app/main.py:30)"
# Numbers a float cannot hold, or that are not numbers at all, as a damaged file may spell them.
HUGE = (
    "12345678901234567890",
    "-12345678901234567890",
    "9" * 400,
    "1e400",
    "-1e400",
    "NaN",
    "Infinity",
    "-Infinity",
    "inf",
    "-0",
)
TIMING = "db;dur=3, app;dur=4.5, total;dur=8"


def write_run(folder: Path) -> Path:
    """A valid two-stage run folder, every file written as `profiler run` writes it."""
    folder.mkdir(parents=True, exist_ok=True)
    config = RecordedConfig(url="http://127.0.0.1:8000/", users=[1, 2], slo=SloSetting(percentile=95, threshold_ms=300))
    meta = Meta.new(__version__, T0, config, {"os": "linux"})
    requests, stages = RequestLog(folder), StageLog(folder)
    for s in range(2):
        stages.write(StageStart(s, s + 1, None, T0 + 5 * s, 5.0))
        for i in range(1, 30):
            requests.add(T0 + 5 * s + 0.1 * i, 10.0 + 5 * s, 5.0, 200, 100, "", s, "main", "", TIMING)
        requests.add(T0 + 5 * s + 3, 2.0, 1.0, 200, 10, "", s, "probe", "", "")
        stages.write(StageEnd(s, T0 + 5 * s + 5, 29))
    requests.close()
    stages.close()
    gpu = GpuInfo(available=True, devices=[{"index": 0, "name": "H100"}])
    rapl = RaplInfo(available=True, max_range_uj={"package-0": 2**32}, domains=["package-0"])
    meta.sampler = SamplerInfo(
        interval_s=0.5, ncpu=4, cpu_limit=CpuLimit(machine=4), target_pid=123, gpu=gpu, rapl=rapl
    )
    meta.ended_at, meta.status, meta.profiled_stages = T0 + 10, "completed", [1]
    (folder / SAMPLER_INFO).write_text(meta.sampler.model_dump_json())
    (folder / META).write_text(json.dumps(meta.dump()))
    with (folder / SAMPLES).open("w") as fh:
        for k in range(22):
            proc = ProcessSample(123, 50.0, 10**8, 4)
            target = TreeSample(50.0, 10**8, 4, 1, 10, 2, k, k, [proc])
            device = {"index": 0, "util_gpu": 60, "util_mem": 20, "mem_used": 10**9, "power_w": 70.0, "energy_mj": k}
            machine = MachineSample(30.0, 0.0, 4)
            sample = Sample(T0 + 0.5 * k, target, TreeSample(10.0, 10**7, 2, 1), machine, [device], {"package-0": k})
            fh.write(sample.line())
    (folder / PROCESSES).write_text(ProcessInfo(123, 1, "python", "/usr/bin/python", ("python", "app.py"), T0).line())
    (folder / STACKS).parent.mkdir()
    (folder / STACKS).write_text(f"{HANDLER} 90\nselect (selectors.py:415) 10\n")
    (folder / GIL_STACKS).write_text(f"{HANDLER} 40\n")
    (folder / SOURCES).write_text(json.dumps({"/srv/app/main.py:30": "    return sum(x * x for x in data)"}))
    return folder


@functools.cache
def template() -> dict[str, bytes]:
    """The valid folder's files, written once (a plain function: hypothesis would print a fixture)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_run(Path(tmp) / "run")
        return {name: (folder / name).read_bytes() for name in FILES}


def materialise(folder: Path, changed: dict[str, bytes | None]) -> Path:
    """The valid folder at `folder`, with the `changed` files replaced (None: deleted)."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    (folder / STACKS).parent.mkdir()
    for name, data in {**template(), **changed}.items():
        if data is not None:
            (folder / name).write_bytes(data)
    return folder


def analysed(folder: Path) -> Report | RunFolderError:
    """The report of the folder, rendered both ways, or the one-line error `analyze` would print."""
    try:
        report = build_report(read_run(folder))
    except RunFolderError as e:
        assert len(str(e).splitlines()) == 1 and str(e).strip(), repr(str(e))
        return e
    failed = [n for n in report.notices if n.startswith("analysis of ")]
    assert not failed, failed  # a damaged file must be sanitised on read, not crash a section
    json.loads(json_file.render(report), parse_constant=not_json)  # report.json is strict JSON: no NaN
    print_report(report, Console(file=io.StringIO(), width=120))
    return report


def not_json(constant: str) -> None:
    raise AssertionError(f"report.json holds {constant}")


# -- damage, as hypothesis draws it -----------------------------------------------------------------

RAW = "@@raw@@"  # stands for a literal number token JSON itself cannot carry through json.dumps
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([10**20, -(10**20), 10**400])
    | st.floats()
    | st.text(max_size=12)
    | st.just(RAW)
    | st.integers(1000, 100_000).map(lambda n: "x" * n)
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
CELLS = (
    st.sampled_from(HUGE)
    | st.text(max_size=12)
    | st.integers().map(str)
    | st.floats().map(str)
    | st.integers(1000, 100_000).map(lambda n: "9" * n)
)
NUMBER = re.compile(rb"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def _dumps(value: Any, raw: str) -> str:
    return json.dumps(value).replace(json.dumps(RAW), raw)


def _replace_in(value: Any, draw: st.DrawFn) -> Any:
    """`value` with one nested field (or itself) replaced by a random JSON value."""
    if isinstance(value, dict) and value and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(value)))
        return {**value, key: _replace_in(value[key], draw)}
    if isinstance(value, list) and value and draw(st.booleans()):
        i = draw(st.integers(0, len(value) - 1))
        return [*value[:i], _replace_in(value[i], draw), *value[i + 1 :]]
    return draw(JSON_VALUES)


def _retype_json(name: str, data: bytes, draw: st.DrawFn) -> bytes:
    raw = draw(st.sampled_from(HUGE))
    lines = [data] if name in JSON_FILES else data.splitlines()
    if not lines:
        return data
    i = draw(st.integers(0, len(lines) - 1))
    try:
        value = json.loads(lines[i])
    except ValueError:  # an earlier damage left no JSON there
        return data
    lines[i] = _dumps(_replace_in(value, draw), raw).encode()
    return b"\n".join(lines) + (b"" if name in JSON_FILES else b"\n")


def _retype_csv(data: bytes, draw: st.DrawFn) -> bytes:
    try:
        rows = list(csv.reader(io.StringIO(data.decode(errors="replace"))))
    except csv.Error:
        return data
    i = draw(st.integers(0, len(rows) - 1)) if rows else 0
    if not rows or not rows[i]:
        return data
    j = draw(st.integers(0, len(rows[i]) - 1))
    rows[i][j] = draw(CELLS)
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode()


def _huge_number(data: bytes, draw: st.DrawFn) -> bytes:
    found = list(NUMBER.finditer(data))
    if not found:
        return data
    m = draw(st.sampled_from(found))
    return data[: m.start()] + draw(st.sampled_from(HUGE)).encode() + data[m.end() :]


def _flip(data: bytes, draw: st.DrawFn) -> bytes:
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4)) if out else 0):
        out[draw(st.integers(0, len(out) - 1))] ^= draw(st.integers(1, 255))
    return bytes(out)


GARBAGE = st.lists(
    st.binary(max_size=40)
    | JSON_VALUES.map(lambda v: _dumps(v, "1e400").encode())
    | st.text(max_size=40).map(str.encode),
    min_size=1,
    max_size=4,
)


@st.composite
def damage(draw: st.DrawFn, name: str, data: bytes) -> bytes | None:
    """One damage to one file: the new bytes, or None when the file is deleted."""
    how = draw(st.sampled_from(["truncate", "delete", "flip", "retype", "garbage", "huge", "not-utf8"]))
    if how == "truncate":
        return data[: draw(st.integers(0, len(data)))]
    if how == "delete":
        return None
    if how == "flip":
        return _flip(data, draw)
    if how == "retype":
        return _retype_csv(data, draw) if name == REQUESTS else _retype_json(name, data, draw)
    if how == "garbage":
        return data + b"\n".join(draw(GARBAGE)) + b"\n"
    if how == "huge":
        return _huge_number(data, draw)
    at = draw(st.integers(0, len(data)))
    return data[:at] + draw(st.binary(min_size=1, max_size=4).map(lambda b: bytes(x | 0x80 for x in b))) + data[at:]


@st.composite
def damaged(draw: st.DrawFn, names: tuple[str, ...]) -> dict[str, bytes | None]:
    changed: dict[str, bytes | None] = {}
    for _ in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from(names))
        before = changed.get(name, template()[name])
        if before is not None:
            changed[name] = draw(damage(name, before))
    return changed


SETTINGS = settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


@pytest.mark.parametrize("name", FILES)
@SETTINGS
@given(data=st.data())
def test_one_damaged_file_is_a_report_or_one_line(tmp_path: Path, name: str, data: st.DataObject) -> None:
    analysed(materialise(tmp_path / "run", data.draw(damaged((name,)))))


@SETTINGS
@given(data=st.data())
def test_several_damaged_files_are_a_report_or_one_line(tmp_path: Path, data: st.DataObject) -> None:
    analysed(materialise(tmp_path / "run", data.draw(damaged(FILES))))


# -- the real CLI on the damages reported -----------------------------------------------------------


def edit_meta(**fields: Any) -> dict[str, bytes | None]:
    """meta.json with top-level fields set (a "config.slo" key sets inside `config`)."""
    meta = json.loads(template()[META])
    for key, value in fields.items():
        *parents, last = key.split(".")
        inner = meta
        for parent in parents:
            inner = inner[parent]
        inner[last] = value
    return {META: json.dumps(meta).encode()}


def append(name: str, line: bytes) -> dict[str, bytes | None]:
    return {name: template()[name] + line + b"\n"}


ROW = b"1700000001.0,10.0,5.0,%s,100,,0,main,,,,,,,,,,,,,"
# name: (the damage, the exit code, a text the output must hold)
CLI_CASES: dict[str, tuple[dict[str, bytes | None], int, str]] = {
    "config-a-list": (edit_meta(config=[1, 2]), 2, "field 'config' should be a JSON object"),
    "started_at-a-string": (edit_meta(started_at="yesterday"), 2, "field 'started_at'"),
    "slo-a-number": (edit_meta(**{"config.slo": 300}), 2, "field 'config.slo' should be a JSON object"),
    "format-newer": (
        edit_meta(format_version=FORMAT_VERSION + 1, config="changed"),
        2,
        f"newer profiler (run-folder format {FORMAT_VERSION + 1}",
    ),
    # A newer profiler's folder with a sample whose target is "oops" and a status of 20 digits:
    # read, with the notice, the damaged lines left out (one folder: each CLI start costs a second).
    "newer-with-damaged-lines": (
        {
            **edit_meta(profiler_version="9.0.0", status="target-vanished"),
            **append(SAMPLES, b'{"t": 1700000001.0, "target": "oops"}'),
            **append(REQUESTS, ROW % b"12345678901234567890"),
        },
        0,
        "written by profiler 9.0.0, newer than this one",
    ),
}


@pytest.fixture(scope="module")
def cli_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, CliResult]]:
    """`profiler analyze` on every case at once (each is a second of start-up, run side by side)."""
    base = tmp_path_factory.mktemp("cli")
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    procs = {
        name: (folder, subprocess.Popen(
            [sys.executable, "-m", "profiler", "analyze", str(folder)], cwd=ROOT, env=env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        ))
        for name, (changed, _, _) in CLI_CASES.items()
        if (folder := materialise(base / name, changed))
    }  # fmt: skip
    out = {}
    for name, (folder, proc) in procs.items():
        stdout, stderr = proc.communicate(timeout=120)
        out[name] = (folder, CliResult(proc.returncode, stdout, stderr))
    return out


@pytest.mark.parametrize("case", CLI_CASES)
def test_analyze_of_a_damaged_folder_is_a_report_or_one_error_line(
    cli_results: dict[str, tuple[Path, CliResult]], case: str
) -> None:
    folder, result = cli_results[case]
    _, code, text = CLI_CASES[case]
    assert_no_traceback(result)
    assert result.code == code, result.output
    if code:
        assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("error: "), result.stderr
        assert text in result.stderr
        assert not (folder / "report.json").exists()
    else:
        assert result.stderr == "", result.stderr
        assert text in result.stdout or text in (folder / "report.json").read_text()


@pytest.mark.parametrize("name", FILES)
def test_a_folder_in_place_of_a_file_is_a_report_or_one_line(tmp_path: Path, name: str) -> None:
    folder = materialise(tmp_path / "run", {name: None})
    (folder / name).mkdir()
    analysed(folder)


@pytest.mark.parametrize(
    "changed",
    [
        {META: template()[META].replace(b'"status": "completed"', b'"status": "target-vanished"')},
        {
            REQUESTS: template()[REQUESTS]
            + b"1700000001.0,10.0,5.0,200,1,,0,main,s,8,0,,,,,,,,,start=5;~unattributed=1,\n"
        },
        {HANDOFFS: b'{"slot": 0, "name": "start"}\n{"slot": 1, "name": "~unattributed"}\n'},
        {
            SAMPLES: template()[SAMPLES]
            + b'{"t": 1700000001.0, "gpu": [{"index": 0, "util_gpu": 250, "power_w": -5}]}\n'
        },
    ],
    ids=["unknown-status", "handoffs-named-like-columns", "slots-named-like-columns", "gpu-past-100"],
)
def test_values_a_newer_profiler_or_an_app_may_write_are_read(tmp_path: Path, changed: dict[str, bytes | None]) -> None:
    assert isinstance(analysed(materialise(tmp_path / "run", changed)), Report)


# Each damage that once ended in a traceback, or cost the report a section, pinned.
PINNED = {
    "line-nested-past-recursion": append(STAGES, b"[" * 100_000),
    "int-of-5000-digits": append(STAGES, b'{"event": "end", "index": 0, "t": ' + b"9" * 5000 + b"}"),
    "users-of-400-digits": append(STAGES, b'{"event": "start", "index": 2, "users": ' + b"9" * 400 + b', "t": 1.7e9}'),
    "negative-cpu": append(SAMPLES, b'{"t": 1700000001.0, "target": {"cpu": -5, "procs": 1}, "machine": {"cpu": 250}}'),
    "negative-timing-malformed": append(REQUESTS, b"1700000001.0,10.0,5.0,200,-7,,0,main,s,8,-1,,,,,,,,,,"),
    "format-version-negative": edit_meta(format_version=-1),
    "ncpu-zero": edit_meta(**{"sampler.ncpu": 0}),
    "stack-count-of-400-digits": {STACKS: f"{HANDLER} {'9' * 400}\nselect (selectors.py:415) 2\xb2\n".encode()},
}


@pytest.mark.parametrize("case", PINNED)
def test_pinned_damages_are_a_report_or_one_line(tmp_path: Path, case: str) -> None:
    analysed(materialise(tmp_path / "run", PINNED[case]))
