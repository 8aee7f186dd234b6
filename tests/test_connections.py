"""A WebSocket run's parts on their own (docs/connections.md): its options, its plan, the fit of a
target's figure against the connections held, the traits and the fleet advice on synthetic
sections, and the run folder's records of connections and sessions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from profiler.analysis.advice.connections import ConnectionFacts, connection_advice, limits
from profiler.analysis.connections.fit import held_at, per_connection
from profiler.analysis.traits.connections import connection_traits
from profiler.base.config import RunConfig
from profiler.base.errors import ConfigError
from profiler.base.websocket import WsConfig, is_websocket, parse_message, parse_rate
from profiler.load.plan import build_plan
from profiler.runfolder.connections import ConnectionTick
from profiler.runfolder.engine.columnar import checked_rows
from profiler.runfolder.records import REQUEST_COLUMNS
from profiler.schema.connections import ConnectionsSection, ConnectionStage, PerConnection
from profiler.schema.serving import ServerInfo


def test_ws_urls_and_rates_parse() -> None:
    assert is_websocket("ws://127.0.0.1/x") and is_websocket("WSS://h/") and not is_websocket("http://h/")
    assert parse_rate("2/s", "--message-rate", 1.0, 10.0, True) == 2.0
    assert parse_rate(None, "--message-rate", 1.0, 10.0, True) == 1.0
    assert parse_rate("0", "--message-rate", 1.0, 10.0, True) == 0.0
    for bad in ("0", "-1", "nan", "11", "x/s"):
        with pytest.raises(ConfigError):
            parse_rate(bad, "--connect-rate", 1.0, 10.0, False)


def test_a_message_file_that_is_not_text_is_sent_as_binary(tmp_path: Path) -> None:
    (tmp_path / "m.bin").write_bytes(b"\xff\x00\x01")
    (tmp_path / "m.txt").write_text("héllo")
    assert parse_message(f"@{tmp_path / 'm.bin'}") == (b"\xff\x00\x01", True)
    assert parse_message(f"@{tmp_path / 'm.txt'}") == ("héllo".encode(), False)
    assert parse_message(None) == (None, False)
    with pytest.raises(ConfigError, match="cannot read message file"):
        parse_message(f"@{tmp_path / 'none'}")


def test_each_stage_of_connections_is_held_for_its_share_after_its_ramp() -> None:
    ws = WsConfig(connect_rate=100.0)
    config = RunConfig(url="ws://127.0.0.1:1/", out=Path("x"), users=(100, 1000), duration_s=20.0, websocket=ws)
    plan = build_plan(config)
    assert [p.users for p in plan] == [100, 1000]
    assert [p.planned_s for p in plan] == [10.0 + 1.0, 10.0 + 9.0]  # 100 then 900 more at 100 a second


def test_held_at_reads_the_last_tick_before_each_time() -> None:
    ticks = [ConnectionTick(10.0, 0, 5), ConnectionTick(11.0, 0, 50)]
    got = held_at(ticks, np.array([9.0, 10.0, 10.5, 11.0, 30.0]))
    assert np.isnan(got[0]) and got[1:].tolist() == [5.0, 5.0, 50.0, 50.0]


def test_per_connection_is_the_slope_of_a_straight_line_and_needs_spread() -> None:
    held = np.arange(0, 200, 4, dtype=np.float64)
    rss = 20e6 + held * 65 * 1024 + np.random.default_rng(0).normal(0, 20_000, held.size)
    fit = per_connection(held, rss, 1 / 1024)
    assert fit is not None and 63 <= fit.slope <= 67 and fit.r2 > 0.99 and fit.held_max == 196
    assert per_connection(np.full(50, 100.0), rss[:50]) is None  # no spread: no slope
    assert per_connection(held[:5], rss[:5]) is None  # too few samples


def test_damaged_connection_lines_are_skipped() -> None:
    good = ConnectionTick(1.0, 0, 3, opened=3).line()
    assert ConnectionTick.parse(json.loads(good)) == ConnectionTick(1.0, 0, 3, opened=3)
    assert ConnectionTick.parse({"t": "x", "stage": 0, "held": 1}) is None
    assert ConnectionTick.parse({"t": 1.0, "stage": 0, "held": -1}) is None


def test_a_session_row_keeps_its_close_code_and_any_other_row_of_that_status_is_damaged() -> None:
    def row(kind: str, status: int) -> str:
        cells = dict.fromkeys(REQUEST_COLUMNS, "")
        cells.update(start="1.0", latency_ms="5.0", ttfb_ms="0", status=str(status), stage="0", kind=kind, bytes="0")
        return ",".join(cells[c] for c in REQUEST_COLUMNS)

    csv = "\n".join([",".join(REQUEST_COLUMNS), row("session", 1001), row("main", 1001), row("main", 200)]) + "\n"
    kept = checked_rows(csv.encode(), REQUEST_COLUMNS, {}).collect()
    pairs = zip(kept["kind"].cast(str).to_list(), kept["status"].to_list(), strict=True)
    assert sorted(pairs) == [("main", 200), ("session", 1001)]


def _fit(slope: float, r2: float = 0.98, intercept: float = 0.0) -> PerConnection:
    return PerConnection(slope=slope, intercept=intercept, r2=r2, samples=100, held_min=0, held_max=1000)


def _section(**kw: object) -> ConnectionsSection:
    stages = kw.pop("stages", None) or [
        ConnectionStage(stage=0, target=100, held=100, held_max=100, opened=100, handshake_failed=0, fds=110),
        ConnectionStage(stage=1, target=1000, held=1000, held_max=1000, opened=900, handshake_failed=0, fds=1010),
    ]
    held = kw.pop("held_max", 1000)
    return ConnectionsSection(url="ws://127.0.0.1:1/", message="ping", held_max=held, stages=stages, **kw)  # type: ignore[arg-type]


def test_memory_per_connection_projects_the_connections_at_the_limit() -> None:
    found = {f.id: f for f in connection_traits(_section(memory_kb=_fit(64.0, intercept=20_480.0)), 2048.0)}
    assert set(found) == {"long-lived-connections", "memory-per-connection"}
    values = found["memory-per-connection"].evidence.values
    assert values["kb_per_connection"] == 64.0 and values["connections_at_limit"] == (2048 * 1024 - 20_480) // 64


def test_a_loose_or_tiny_memory_line_is_no_trait() -> None:
    for fit in (_fit(64.0, r2=0.3), _fit(1.0)):
        assert "memory-per-connection" not in {f.id for f in connection_traits(_section(memory_kb=fit), 2048.0)}


def test_threads_and_the_fd_limit_are_traits_when_they_bind() -> None:
    section = _section(threads=_fit(1.0), fds=_fit(1.0, intercept=10.0), fd_limit=1024)
    found = {f.id: f for f in connection_traits(section, 2048.0)}
    assert "thread-per-connection" in found and "fd-limit-near" in found  # 1010 fds of 1024
    assert found["fd-limit-near"].evidence.values["connections_at_limit"] == 1014
    assert "fd-limit-near" not in {f.id for f in connection_traits(_section(fd_limit=100_000), 2048.0)}


def test_drops_name_the_stage_and_the_close_codes() -> None:
    stages = [
        ConnectionStage(stage=0, target=100, held=100, held_max=100, opened=100, handshake_failed=0),
        ConnectionStage(stage=1, target=1000, held=700, held_max=900, opened=900, handshake_failed=50, dropped=200,
                        close_codes={"1011": 150, "1006": 50}),
    ]  # fmt: skip
    (drops,) = [f for f in connection_traits(_section(stages=stages), 2048.0) if f.id == "connection-drops-under-load"]
    assert drops.subject == "stage 1" and drops.evidence.values["close_codes"] == "1011 x 150, 1006 x 50"
    assert drops.evidence.values["lightest_clean"] == 100


def _facts(section: ConnectionsSection, language: str = "python", peak: int | None = None) -> ConnectionFacts:
    server = ServerInfo(language=language, server="node" if language == "other" else "uvicorn", model="event-loop",
                        workers=1)  # type: ignore[arg-type]  # fmt: skip
    return ConnectionFacts(section, {}, server, 2.0, 2048.0, 0.3, peak)


def test_the_fleet_is_sized_on_the_limit_that_binds_first() -> None:
    # memory: 2 GiB / 100 KiB = 20,971; fds: 20,000 / 1; cpu: 160% / 0.01% = 16,000; measured 1000 cleanly
    section = _section(memory_kb=_fit(100.0), fds=_fit(1.0), fd_limit=20_000, cpu_pct=_fit(0.01))
    assert limits(_facts(section)) == {"memory": 20971, "file descriptors": 20000, "cpu": 16000, "measured": 1000}
    recs = {r.id: r for r in connection_advice(section, [], _facts(section).server, 2.0, 2048.0, 0.3, 7000)}
    fleet = recs["fleet-by-connections"].evidence
    assert fleet["connections_per_instance"] == 1000 and fleet["usable_per_instance"] == 700
    assert fleet["instances"] == 10 and fleet["bound_by"] == "measured"
    assert "balance-on-connections" in recs


def test_a_thread_per_connection_server_is_told_of_an_event_loop_fit_for_its_language() -> None:
    section = _section(threads=_fit(1.0))
    findings = connection_traits(section, 2048.0)
    py = {r.id: r for r in connection_advice(section, findings, _facts(section).server, 2, 2048.0, 0.3, None)}
    other = {r.id: r for r in connection_advice(section, findings, _facts(section, "other").server, 2, 2048.0, 0.3,
                                                None)}  # fmt: skip
    assert "asyncio" in py["event-loop-for-connections"].action
    assert "asyncio" not in other["event-loop-for-connections"].action
    assert "give --peak-connections" in py["fleet-by-connections"].action


def test_a_ws_run_is_judged_by_its_connections_not_its_messages() -> None:
    from profiler.analysis.validity import RunFacts, no_requests
    from profiler.schema.report import EnergySection, GpuSection, ResourceSection, RunInfo

    run = RunInfo(folder="x", started_at=0.0, status="completed", profiler_version="0", folder_format=4)
    res = ResourceSection(samples=0, gpu=GpuSection(available=False), energy=EnergySection())
    facts = RunFacts((), res, run, None, (), _section())  # held idle: no message at all
    assert no_requests(facts) == []
    none_held = RunFacts((), res, run, None, (), _section(held_max=0, stages=[]))
    assert [i.id for i in no_requests(none_held)] == ["no-connections"]


def test_the_live_view_of_a_ws_run_names_connections_and_messages() -> None:
    import io

    from rich.console import Console

    from profiler.load.plan import StagePlan
    from profiler.run.console import LiveView
    from profiler.runfolder.messages import StageDone

    out = io.StringIO()
    view = LiveView(Console(file=out, force_terminal=False, width=200))
    done = StageDone(stage=0, users=100, rate=None, rps=99.5, p50=1.2, p95=3.4, error_rate=0.0, requests=995)
    view.plan((StagePlan(0, 100, None, 10.0),), "connections")
    view.progress(done, None)
    http = LiveView(Console(file=io.StringIO(), force_terminal=False, width=200))
    http.plan((StagePlan(0, 100, None, 10.0),))
    http.progress(done, None)
    assert "stage 0: 100 connections: 99.5 msg/s" in out.getvalue()
    assert "100 users: 99.5 rps" in http.out.file.getvalue()  # type: ignore[attr-defined]
