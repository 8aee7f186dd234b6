"""The restart fault and what reads it, as pure parts: the grammar, faults.jsonl's restart figures,
the sampler following a new root, the sessions-lost and restart traits with their advice, the
rollout (drain flag, grace period) and the burst playbook from a measured spike, and the
Kubernetes objects that carry them."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml

from profiler.analysis.advice.playbook import measured_spike, playbook, shed_order
from profiler.analysis.advice.recommend import recommend
from profiler.analysis.advice.rollout import RunFacts, graceful_timeout_s, rollout, termination_grace_s
from profiler.analysis.traits.transients import event_traits
from profiler.base.errors import ConfigError
from profiler.base.faults import parse_faults
from profiler.report.k8s import manifests
from profiler.runfolder.faults import FaultRecord, RestartFigures, read_faults
from profiler.runfolder.names import FAULTS, TARGET_DOWN
from profiler.sampling.trees import Trees
from profiler.schema.events import EventAfter, EventBaseline, EventDuring, EventRestart
from profiler.schema.plan import Envelope, PlanSection
from profiler.schema.report import ServerInfo
from profiler.schema.routes import RouteReport
from tests.test_transients import _event, _section


def test_restart_is_a_fault_kind_that_takes_no_length_or_name() -> None:
    (f,) = parse_faults(("restart@15s",), 40.0)
    assert f.kind == "restart" and f.label() == "restart@15s"
    with pytest.raises(ConfigError, match="only a pause takes"):
        parse_faults(("restart@5s+2s",), 40.0)


def test_a_restarts_figures_round_trip_through_faults_jsonl(tmp_path: Path) -> None:
    figures = RestartFigures(stopped_after_s=0.5, killed=False, exit_code=0, pid_after=4242, ready_after_s=1.25)
    rec = FaultRecord("restart", "restart@5s", 100.0, 101.8, 4000, "gunicorn -w 2", None, figures)
    (tmp_path / FAULTS).write_text(rec.line() + '{"kind":"restart","at":1,"until":2,"restart":{"killed":true}}\n')
    second, first = read_faults(tmp_path)  # in time order: the damaged one (at 1) first
    assert first.restart == figures
    assert second.restart is None  # a damaged block reads as not known, the fault itself is kept


def test_the_sampler_follows_a_restarted_targets_new_root(tmp_path: Path) -> None:
    old = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    new = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        root_file = tmp_path / "target.pid"
        trees = Trees(psutil.Process(old.pid), None, root_file=root_file)
        assert trees.follow() is False  # no restart under way: the target simply exited
        root_file.write_text(TARGET_DOWN + "\n")
        assert trees.follow() is True and trees.down  # down: not sampled, not the end
        root_file.write_text(f"{new.pid}\n")
        assert trees.follow() is True and not trees.down and trees.target is not None
        assert trees.target.pid == new.pid
        trees.refresh(time.monotonic())
        assert trees.pids == [new.pid]  # sampled from here on
    finally:
        old.kill()
        new.kill()


def _restart_event(**kw: object):  # type: ignore[no-untyped-def]
    base = dict(kind="restart", label="restart@4s", at_s=4.0, until_s=5.5, failed=40, lost=40, unavailable_s=1.2,
                during=EventDuring(requests=300, rps=50.0, p95_ms=300.0, max_ms=320.0, max_in_flight=4),
                restart=EventRestart(stopped_after_s=0.4, killed=False, exit_code=-15, ready_after_s=0.9, down_s=1.5,
                                     in_flight=4, in_flight_failed=4),
                after=EventAfter(requests=200, client_errors=198, baseline_client_errors=0, baseline_requests=150,
                                 statuses={"401": 198}))  # fmt: skip
    return _event(**{**base, **kw})


def test_a_restart_that_failed_requests_and_forgot_its_users_is_two_traits_with_their_advice() -> None:
    found = event_traits(_section(_restart_event()))
    assert [f.data.ID for f in found] == ["restart-drops-requests", "sessions-lost-on-restart"]
    drops, lost = found
    assert "4 of the 4 in flight at the SIGTERM failed" in drops.trait.evidence.summary
    assert lost.data.statuses == "401 x 198" and lost.trait.confidence >= 0.9
    server = ServerInfo(language="python", server="gunicorn", worker_class="sync", model="sync-pool", workers=2)
    recs = {r.id: r for r in recommend(found, None, 2, 1, server)}
    assert recs["drain-before-restart"].evidence["termination_grace_period_s"] == 30
    assert "gunicorn's workers each hold their own memory" in recs["external-session-store"].action


def test_client_errors_the_baseline_already_had_are_not_sessions_lost() -> None:
    after = EventAfter(requests=200, client_errors=20, baseline_client_errors=15, baseline_requests=150,
                       statuses={"404": 20})  # fmt: skip
    assert [f.data.ID for f in event_traits(_section(_restart_event(after=after)))] == ["restart-drops-requests"]
    graceful = _restart_event(failed=0, lost=0, after=EventAfter(requests=200, client_errors=0,
                              baseline_client_errors=0, baseline_requests=150))  # fmt: skip
    assert event_traits(_section(graceful)) == []  # nothing lost: no trait against it


def _facts(events, ready: float | None = 0.7, open_model: bool = False) -> RunFacts:  # type: ignore[no-untyped-def]
    return RunFacts("/runs/spike", "http://127.0.0.1:8000/predict", ready, _section(*events) if events else None,
                    open_model)  # fmt: skip


def test_the_rollout_drains_for_the_longer_of_the_timeout_and_the_measured_stop() -> None:
    assert graceful_timeout_s(2.4, None) == 3 and graceful_timeout_s(1.0, 12.2) == 13
    assert termination_grace_s(3) == 30 and termination_grace_s(40) == 50  # at least Kubernetes' 30 s
    r = rollout(_facts([_restart_event()]), "uvicorn", 2.0)
    assert r.server_flag == "--timeout-graceful-shutdown 2" and r.readiness_path == "/predict" and r.port == 8000
    assert r.ready_after_s == 0.9 and r.stopped_after_s == 0.4  # the restart's, over the launch's 0.7
    assert rollout(_facts([]), "go-server", 2.0).server_flag is None  # no flag invented for a server not known


ENV = Envelope(capacity_rps=100.0, stage=3, users=8, latency_p95_ms=80.0)


def test_the_playbook_reads_the_spike_its_lead_time_and_the_spares_it_implies() -> None:
    # Closed model: 2 users gave 50 rps before (25 each); 20 users ask 500 rps at that rate.
    up = _event(load_before=2.0, load_after=20.0, at_s=10.0,
                baseline=EventBaseline(stage=0, p50_ms=40.0, p95_ms=60.0, rps=50.0, in_flight=2.0))  # fmt: skip
    spike, jump, slope = measured_spike(_facts([up]))  # type: ignore[misc]
    assert spike.demand_rps == 500.0 and jump == 450.0 and slope is None  # a step: all at once
    book = playbook(ENV, 0.7, 8, 1.0, None, _facts([up]), ())
    assert book.warm_spares == 5  # 450 rps added before a new instance answers, 100 rps each
    assert book.queue_bound == 92  # 100 rps x (1.0 s timeout - 0.08 s p95), Little's law
    assert book.lead_time_s == 0.7 and "launch" in (book.lead_time_source or "")
    surge = next(m for m in book.modes if m.mode == "surge")
    assert surge.from_rps == 70.0 and surge.in_flight_from == 6 and "5 warm spare" in surge.action


def test_a_ramp_of_steps_has_a_slope_and_needs_only_what_it_adds_in_the_lead_time() -> None:
    steps = [_event(load_before=10.0, load_after=20.0, at_s=10.0), _event(load_before=20.0, load_after=30.0, at_s=20.0),
             _event(load_before=30.0, load_after=40.0, at_s=30.0)]  # fmt: skip
    spike, jump, slope = measured_spike(_facts(steps, open_model=True))  # type: ignore[misc]
    assert jump == 30.0 and slope == pytest.approx(1.5)  # 10 -> 40 arrivals/s over 20 s
    book = playbook(ENV, 0.7, 8, 1.0, None, _facts(steps, ready=20.0, open_model=True), ())
    assert book.warm_spares == 1  # 1.5 rps/s x 20 s = 30 rps: within one instance's 100


def test_routes_are_shed_costliest_first() -> None:
    routes = [RouteReport(route="GET /cheap", requests=90, share=0.9, cpu_ms=1.0),
              RouteReport(route="POST /embed", requests=10, share=0.1, cpu_ms=40.0)]  # fmt: skip
    assert [r.route for r in shed_order(routes)] == ["POST /embed", "GET /cheap"]
    assert shed_order(routes[:1]) == []


def test_the_kubernetes_deployment_carries_the_rollout() -> None:
    r = rollout(_facts([_restart_event()]), "gunicorn", 2.0)
    plan = PlanSection(envelope=ENV, rollout=r)
    docs = list(yaml.safe_load_all(manifests(plan, "/runs/x")))
    spec = docs[0]["spec"]
    pod = spec["template"]["spec"]
    assert spec["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}
    assert pod["terminationGracePeriodSeconds"] == r.termination_grace_period_s
    container = pod["containers"][0]
    assert container["readinessProbe"]["httpGet"] == {"path": "/predict", "port": 8000}
    assert container["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "5"]
    assert json.dumps(docs)  # plain data all through
