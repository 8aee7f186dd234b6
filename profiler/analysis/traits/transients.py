"""Traits from a run's events (analysis/transients/): a shape's steps (spike-queues, sheds-load,
slow-recovery) and its faults (restart-drops-requests, sessions-lost-on-restart, dependency-stall),
each naming its step or fault and the numbers."""

from __future__ import annotations

from profiler.analysis.traits.event_evidence import (
    DependencyStall,
    RestartDropsRequests,
    SessionsLost,
    ShedsLoad,
    SlowRecovery,
    SpikeQueues,
)
from profiler.analysis.traits.evidence import Finding, TraitEvidence, finding
from profiler.schema.events import Event, EventsSection

QUEUE_FACTOR = 3.0  # spike-queues: the step's p95 at least this many times the baseline's ...
QUEUE_MAX_FAILED = 0.01  # ... with at most this share of its requests failed (nothing shed)
SHED_SHARE = 0.02  # sheds-load: at least this share of the step's requests answered 429/503
SLOW_RECOVERY_S = 5.0  # slow-recovery: longer than this to come back (or never, in the time watched)
RESTARTS = ("restart", "reload", "kill-worker")  # faults that replace a process (and what it held)
SESSIONS_LOST_SHARE = 0.05  # sessions-lost-on-restart: at least this share of the requests after it 4xx ...
SESSIONS_MIN = 3  # ... and at least this many, where the baseline had under a fifth of that share


def _spike_queues(e: Event) -> Finding[TraitEvidence] | None:
    d, b = e.during, e.baseline
    if e.kind != "step-up" or b is None or d.p95_ms is None or not d.requests or b.p95_ms <= 0:
        return None
    if d.p95_ms < QUEUE_FACTOR * b.p95_ms or e.failed > QUEUE_MAX_FAILED * d.requests:
        return None
    rise = d.p95_ms / b.p95_ms
    return finding(
        SpikeQueues(
            f"stage {e.stage}", e.load_before, e.load_after, b.p95_ms, d.p95_ms, d.max_in_flight, e.failed, d.rps
        ),
        0.5 + 0.45 * min(1.0, (rise - QUEUE_FACTOR) / (3 * QUEUE_FACTOR)),
        f"From {e.load_before:g} to {e.load_after:g} at {e.at_s:.0f}s, p95 rose from {b.p95_ms:.1f} ms to "
        f"{d.p95_ms:.1f} ms ({rise:.1f}x) with up to {d.max_in_flight} requests in flight, and {e.failed} of "
        f"{d.requests} failed: the target queued the spike, it shed nothing.",
    )


def _sheds(e: Event) -> Finding[TraitEvidence] | None:
    d = e.during
    if e.kind != "step-up" or not d.requests or d.shed < SHED_SHARE * d.requests:
        return None
    share = d.shed / d.requests
    return finding(
        ShedsLoad(f"stage {e.stage}", d.shed, d.requests, share, d.p95_ms),
        0.6 + 0.35 * min(1.0, share / 0.2),
        f"Under the step from {e.load_before:g} to {e.load_after:g} at {e.at_s:.0f}s the target answered "
        f"{d.shed} of {d.requests} requests ({share:.0%}) at once with 429/503: it sheds load rather than "
        "queue it (healthy, if the clients retry with backoff).",
    )


def _slow(e: Event) -> Finding[TraitEvidence] | None:
    if e.kind != "step-up" or e.recovered is None or e.watched_s is None or e.baseline is None:
        return None
    if e.recovered and (e.recovery_s or 0.0) <= SLOW_RECOVERY_S:
        return None
    back = f"came back after {e.recovery_s:.1f}s" if e.recovered else f"had not come back after {e.watched_s:.0f}s"
    return finding(
        SlowRecovery(f"stage {e.stage}", e.recovery_s, e.watched_s, e.baseline.p95_ms),
        0.85 if not e.recovered else 0.6,
        f"After the spike that began at {e.at_s:.0f}s the target {back} (p95 within the recovery factor of "
        f"{e.baseline.p95_ms:.1f} ms and in-flight back to the baseline's).",
    )


def _drops(e: Event) -> Finding[TraitEvidence] | None:
    if e.kind not in RESTARTS or not e.failed:
        return None
    what = {"restart": "the restart", "reload": "the reload"}.get(e.kind, "killing a worker")
    r = e.restart
    down = (f"; it took {r.stopped_after_s:.1f}s to stop and answered {r.ready_after_s:.1f}s after it was started "
            "again" if r is not None and r.ready_after_s is not None else "")  # fmt: skip
    held = f"; {r.in_flight_failed} of the {r.in_flight} in flight at the SIGTERM failed" if r is not None else ""
    return finding(
        RestartDropsRequests(
            e.label or e.kind,
            e.failed,
            e.lost,
            e.during.requests,
            e.unavailable_s,
            r.stopped_after_s if r else None,
            r.ready_after_s if r else None,
        ),  # fmt: skip
        0.9,
        f"{what.capitalize()} at {e.at_s:.1f}s failed {e.failed} of the {e.during.requests} requests in flight "
        f"at some moment from it to {e.until_s - e.at_s + 2:.0f}s after ({e.lost} never answered, unavailable "
        f"{e.unavailable_s:.1f}s){held}{down}.",
    )


def _sessions_lost(e: Event) -> Finding[TraitEvidence] | None:
    a = e.after
    if e.kind not in RESTARTS or a is None or not a.requests or a.client_errors < SESSIONS_MIN:
        return None
    share = a.client_errors / a.requests
    before = a.baseline_client_errors / a.baseline_requests if a.baseline_requests else 0.0
    if share < SESSIONS_LOST_SHARE or before > share / 5:
        return None
    refused = sum(n for s, n in a.statuses.items() if s in ("401", "403", "419", "440"))
    shown = ", ".join(f"{s} x {n}" for s, n in list(a.statuses.items())[:3])
    return finding(
        SessionsLost(e.label or e.kind, a.client_errors, a.requests, round(before, 4), shown),
        0.9 if refused >= a.client_errors / 2 else 0.7,
        f"After {e.label or e.kind} {a.client_errors} of the {a.requests} requests in the next "
        f"{e.watched_s or 0:.0f}s were answered {shown} ({share:.0%}; {before:.1%} before it): the users' "
        "sessions or state lived in the process that was replaced.",
    )


def _stall(e: Event) -> Finding[TraitEvidence] | None:
    b, d = e.baseline, e.during
    if e.kind != "pause" or b is None or not d.requests:
        return None
    paused_ms = (e.until_s - e.at_s) * 1000.0
    # The requests it caught waited for about the pause (the closed model's users stop sending
    # meanwhile, so the slowest, not the p95, shows it), or failed.
    slow = d.max_ms is not None and d.max_ms >= max(0.5 * paused_ms, QUEUE_FACTOR * b.p95_ms)
    if not slow and not e.failed:
        return None
    after = e.recovered is False
    name = " ".join((e.process or "?").split(" (pid")[0].split()[:2])
    return finding(
        DependencyStall(name, paused_ms / 1000.0, b.p95_ms, d.max_ms, e.failed, after),
        0.9 if slow else 0.7,
        f"While {name} was stopped for {paused_ms / 1000.0:.1f}s the requests in flight waited up to "
        f"{d.max_ms or 0:,.0f} ms (baseline p95 {b.p95_ms:.1f} ms), throughput fell to {d.rps:.0f} rps from "
        f"{b.rps:.0f}, and {e.failed} of {d.requests} failed"
        + ("; it had not recovered when watched after the pause ended." if after else "; it recovered after it."),
    )


RULES = (_spike_queues, _sheds, _slow, _drops, _sessions_lost, _stall)


def event_traits(events: EventsSection | None) -> list[Finding[TraitEvidence]]:
    """One finding of each trait at most: the first event that shows it."""
    if events is None:
        return []
    out: list[Finding[TraitEvidence]] = []
    for rule in RULES:
        found = next((f for e in events.events if (f := rule(e)) is not None), None)
        if found is not None:
            out.append(found)
    return out
