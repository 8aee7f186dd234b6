"""The category table, the placing of a stack and the weighing of samples on a CPU: pure functions,
with frames as py-spy writes them (full file names, `thread (TID): name` frames)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from profiler.analysis.attribution.stacks import parse_collapsed, parse_frame
from profiler.analysis.wheretime.classify import place
from profiler.analysis.wheretime.summary import METHOD_NATIVE, METHOD_STACKS, METHOD_THREADS, where_time_goes
from profiler.analysis.wheretime.table import default_table, extended
from profiler.base.errors import ConfigError
from profiler.gate.settings import load_settings, project_categories
from profiler.runfolder.threadcpu import ThreadCpu, ThreadCpuTimes
from tests.conftest import assert_no_traceback, run_cli

SITE = "/venv/lib/python3.11/site-packages"
STDLIB = "/usr/lib/python3.11"
APP = "/srv/app/app.py"
TABLE = default_table()


def frames(*texts: str) -> list:
    return [f for f in map(parse_frame, texts) if f is not None]


def category(*texts: str, line: str | None = None) -> str:
    return place(frames(*texts), line, TABLE).category


SERVER = (
    f"<module> ({APP}:40)",
    f"serve ({SITE}/waitress/__init__.py:19)",
    f"handler_thread ({SITE}/waitress/task.py:84)",
)
REQUEST = (*SERVER, f"view ({APP}:12)")


@pytest.mark.parametrize(
    ("leaf", "expected"),
    [
        (f"execute ({SITE}/sqlalchemy/engine/base.py:1412)", "storage"),
        (f"execute_command ({SITE}/redis/client.py:533)", "storage"),
        (f"execute ({SITE}/psycopg/cursor.py:723)", "storage"),
        (f"iterencode ({STDLIB}/json/encoder.py:258)", "serialization"),
        (f"model_dump_json ({SITE}/pydantic/main.py:477)", "serialization"),
        (f"_call_impl ({SITE}/torch/nn/modules/module.py:1527)", "model"),
        (f"run ({SITE}/onnxruntime/capi/onnxruntime_inference_collection.py:220)", "model"),
        (f"getresponse ({STDLIB}/http/client.py:1386)", "downstream"),
        (f"send ({SITE}/httpx/_client.py:901)", "downstream"),
        (f"wait ({STDLIB}/threading.py:324)", "locks"),
        (f"get ({STDLIB}/asyncio/queues.py:158)", "locks"),
        (f"info ({STDLIB}/logging/__init__.py:1489)", "logging"),
    ],
)
def test_a_librarys_frame_under_the_app_names_its_category(leaf: str, expected: str) -> None:
    assert category(*REQUEST, leaf) == expected


def test_the_outermost_library_frame_decides() -> None:
    # The app asked SQLAlchemy for a query; the socket read below is how it went: storage.
    stack = (*REQUEST, f"execute ({SITE}/sqlalchemy/engine/base.py:1412)", f"recv_into ({STDLIB}/socket.py:706)")
    assert category(*stack) == "storage"


def test_the_longest_module_prefix_wins() -> None:
    assert category(*REQUEST, f"acquire ({STDLIB}/asyncio/locks.py:114)") == "locks"
    assert category(*REQUEST, f"_request ({SITE}/aiohttp/client.py:560)") == "downstream"
    assert category(*SERVER, f"_handle ({SITE}/aiohttp/web_protocol.py:452)") == "framework"


def test_the_servers_own_sockets_and_locks_are_not_downstream_or_contention() -> None:
    # The script that called waitress.serve sits above the server: it is not the app's request code.
    assert category(*SERVER, f"recv ({STDLIB}/socket.py:100)") == "framework"
    assert category(*SERVER, f"wait ({STDLIB}/threading.py:324)") == "framework"
    assert (
        category(*SERVER, f"handle_read ({SITE}/waitress/wasyncore.py:400)", line="data = self.socket.recv(n)")
        == "framework"
    )


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("rows = cur.execute('SELECT * FROM items').fetchall()", "storage"),
        ("return orjson.dumps(payload)", "serialization"),
        ("out = msgspec.json.encode(doc)", "serialization"),
        ("with self._lock:", "locks"),
        ("scores = np.dot(a, b)", "model"),
        ("x = compute(rows)  # cur.execute( in a comment", "app"),
    ],
)
def test_a_c_call_is_read_from_the_calling_line(line: str, expected: str) -> None:
    placement = place(frames(*REQUEST), line, TABLE)
    assert placement.category == expected
    assert placement.frame is not None and placement.frame.name == "view"  # the app's function that does it


def test_a_project_adds_its_own_modules_and_bad_entries_are_one_line() -> None:
    mine = extended(TABLE, {"storage": {"modules": ["acme_db"]}})
    assert place(frames(*REQUEST, f"query ({SITE}/acme_db/core.py:3)"), None, mine).category == "storage"
    with pytest.raises(ConfigError, match="unknown category 'storag'") as e:
        extended(TABLE, {"storag": {"modules": ["x"]}})
    assert "storage" in e.value.fix
    with pytest.raises(ConfigError, match="not a regular expression"):
        extended(TABLE, {"storage": {"calls": ["(unclosed"]}})
    with pytest.raises(ConfigError, match="must hold modules"):
        extended(TABLE, {"storage": {"label": "db"}})


def _stack(tid: int, *texts: str) -> str:
    return ";".join(['process 7:"python app.py"', f"thread ({tid}): worker", *texts])


def test_thread_cpu_time_tells_a_c_scan_from_a_wait_and_parked_threads_are_idle() -> None:
    scan = _stack(11, *REQUEST)  # parked in `cur.execute(` (a C call): 90 samples
    parked = _stack(12, *SERVER, f"wait ({STDLIB}/threading.py:324)")  # an idle pool thread
    profile = parse_collapsed(f"{scan} 90\n{parked} 90\n")
    source = {f"{APP}:12": "rows = cur.execute(QUERY).fetchall()"}

    def lookup(file: str, line: int) -> str | None:
        return source.get(f"{file}:{line}")

    busy = ThreadCpuTimes(2.0, (ThreadCpu(7, 11, "worker", 1.8), ThreadCpu(7, 12, "worker", 0.0)))
    w = where_time_goes(profile, TABLE, source=lookup, threads=busy)
    assert w is not None and w.method == METHOD_THREADS
    assert w.working == 90 and w.idle_share == 0.5
    (storage,) = w.categories
    assert storage.category == "storage" and storage.share == 1.0
    assert storage.on_cpu_share == pytest.approx(0.9)  # 1.8 s of CPU in a 2 s recording
    waits = ThreadCpuTimes(2.0, (ThreadCpu(7, 11, "worker", 0.1),))  # a driver waiting on its socket
    assert where_time_goes(profile, TABLE, source=lookup, threads=waits).categories[0].on_cpu_share == pytest.approx(
        0.05
    )
    # Without the threads' CPU time the C call is not told either way, and the method says so.
    alone = where_time_goes(profile, TABLE, source=lookup)
    assert alone is not None and alone.method == METHOD_STACKS and alone.categories[0].on_cpu_share is None


_name = st.text(st.characters(whitelist_categories=("L", "N"), whitelist_characters="_<>."), min_size=1, max_size=12)
_frame = st.builds(lambda n, f, line: f"{n} (/srv/{f}.py:{line})", _name, _name, st.integers(1, 9999))
_stacks = st.lists(st.tuples(st.lists(_frame, min_size=1, max_size=8), st.integers(1, 10_000)), max_size=20)


@given(_stacks)
def test_collapsed_stacks_parse_back_to_their_frames_and_counts(stacks: list[tuple[list[str], int]]) -> None:
    text = "\n".join(f"{_stack(5, *fs)} {n}" for fs, n in stacks)
    profile = parse_collapsed(text)
    assert profile.total_samples == sum(n for _, n in stacks) and profile.skipped_lines == 0
    by_frames: dict[tuple[str, ...], int] = {}
    for fs, n in stacks:
        key = ('process 7:"python app.py"', "thread (5): worker", *fs)
        by_frames[key] = by_frames.get(key, 0) + n
    assert dict(profile.stacks) == by_frames


@given(_stacks)
def test_every_working_sample_lands_in_one_category(stacks: list[tuple[list[str], int]]) -> None:
    profile = parse_collapsed("\n".join(f"{_stack(5, *fs)} {n}" for fs, n in stacks))
    w = where_time_goes(profile, TABLE)
    if w is None:
        assert not stacks
        return
    assert sum(c.samples for c in w.categories) == w.working
    assert all(0 <= c.share <= 1 for c in w.categories)


def test_the_projects_categories_are_read_checked_and_left_out_of_the_gate(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.profiler]\nchecks = ["p95 < 300ms"]\n[tool.profiler.categories]\nstorage = {modules = ["acme_db"]}\n'
    )
    found = project_categories(tmp_path)
    assert found is not None and found[0] == {"storage": {"modules": ["acme_db"]}}
    assert load_settings(tmp_path / "pyproject.toml").checks == ("p95 < 300ms",)  # not an unknown key
    (tmp_path / "pyproject.toml").write_text("[tool.profiler]\ncategories = 3\n")
    with pytest.raises(ConfigError, match="must be a table"):
        project_categories(tmp_path)


def test_a_wrong_category_stops_the_run_with_one_line_before_any_load(tmp_path: Path) -> None:
    (tmp_path / "profiler.toml").write_text('[categories]\nstorag = {modules = ["acme_db"]}\n')
    out = tmp_path / "run"
    result = run_cli("run", "http://127.0.0.1:9/", "--duration", "10", "--out", str(out), cwd=tmp_path)
    assert_no_traceback(result)
    lines = result.stderr.strip().splitlines()
    assert result.code == 2 and len(lines) == 1, result.output
    assert "unknown category 'storag'" in lines[0] and "storage" in lines[0]
    assert not out.exists()  # nothing started, nothing written


def test_native_frames_name_the_c_code_below_the_python_call_and_the_method_says_so() -> None:
    # As py-spy --native writes them (the sqlite app's scan, recorded here): libc and libpython
    # frames above the Python ones, sqlite's C functions below the app's line.
    native_root = ("0x7fbc2bb278ec (libc.so.6)", "thread_run (libpython3.11.so.1.0)")
    scan = _stack(
        11,
        *native_root,
        *REQUEST,
        "pysqlite_connection_execute (connection.c.h:708)",
        "_pysqlite_query_execute (cursor.c:895)",
        "sqlite3_step (libsqlite3.so.0.8.6)",
        "sqlite3VdbeExec (libsqlite3.so.0.8.6)",
    )
    parked = _stack(
        12,
        *native_root,
        *SERVER,
        f"wait ({STDLIB}/threading.py:327)",
        "PyThread_acquire_lock_timed (libpython3.11.so.1.0)",
    )
    w = where_time_goes(parse_collapsed(f"{scan} 80\n{parked} 80\n"), TABLE)  # no source line to read
    assert w is not None and w.method == METHOD_STACKS + METHOD_NATIVE
    assert w.idle_share == 0.5
    (storage,) = w.categories
    assert storage.category == "storage" and storage.how == "native" and storage.called_from == "view (app.py)"
    # The same stacks without the C frames (py-spy without --native) and no source: not storage.
    python_only = where_time_goes(parse_collapsed(f"{_stack(11, *REQUEST)} 80\n"), TABLE)
    assert python_only is not None and python_only.method == METHOD_STACKS
    assert python_only.categories[0].category != "storage"


def test_a_server_timing_entry_is_placed_in_a_category_by_its_name_and_a_project_adds_its_own() -> None:
    assert TABLE.of_handoff("db").name == "storage"  # type: ignore[union-attr]
    assert TABLE.of_handoff("Encode").name == "serialization"  # type: ignore[union-attr]
    assert TABLE.of_handoff("llm").name == "downstream"  # type: ignore[union-attr]
    assert TABLE.of_handoff("render_page") is None
    mine = extended(TABLE, {"serialization": {"handoffs": ["render_page"]}})
    assert mine.of_handoff("render_page").name == "serialization"  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match="handoffs must be a list"):
        extended(TABLE, {"storage": {"handoffs": "db"}})


def test_the_two_accounts_are_set_side_by_side_as_shares_among_the_categories_both_name() -> None:
    from profiler.analysis.wheretime.beside import beside_server_timing
    from profiler.schema.report import HandoffSection, HandoffStats, StageHandoffs
    from profiler.schema.wheretime import CategoryShare, WhereTimeSection, WhereTimeStage

    def share(category: str, value: float) -> CategoryShare:
        return CategoryShare(category=category, label=category, samples=1, share=value, how="frame", evidence="")

    def timed(mean_ms: float) -> HandoffStats:
        return HandoffStats(count=10, p50_ms=mean_ms, p95_ms=mean_ms, mean_ms=mean_ms, share=0.1)

    stage = WhereTimeStage(stage=3, samples=100, working_samples=90, idle_share=0.1, method="m",
                           categories=[share("storage", 0.6), share("serialization", 0.2), share("framework", 0.2)])  # fmt: skip
    where = WhereTimeSection(available=True, per_stage=[stage])
    handoffs = HandoffSection(
        per_stage=[StageHandoffs(stage=3, handoffs={"db": timed(30.0), "encode": timed(10.0), "auth": timed(5.0)})]
    )
    b = beside_server_timing(where, handoffs, TABLE)
    assert b is not None and b.stage == 3 and b.unmatched == ["auth"]
    rows = {r.category: r for r in b.rows}
    assert rows["storage"].server_timing_share == 0.75 and rows["storage"].stacks_share == 0.75  # framework left out
    assert b.largest_gap == 0.0
    # One category named by the app: all of itself in both accounts, which says nothing.
    only_db = HandoffSection(per_stage=[StageHandoffs(stage=3, handoffs={"db": timed(30.0)})])
    assert beside_server_timing(where, only_db, TABLE) is None
