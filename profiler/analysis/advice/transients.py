"""Advice on what a run's events showed: a queue bounded by Little's law where a spike queued,
the clients' side where the target sheds, recovery where it was slow, draining (with the measured
stop and restart-to-ready times) where a restart dropped requests, and a session store where
sessions died with the process."""

from __future__ import annotations

import math

from profiler.analysis.advice.rollout import (
    MAX_SURGE,
    MAX_UNAVAILABLE,
    PRESTOP_S,
    graceful_timeout_s,
    termination_grace_s,
)
from profiler.analysis.advice.vocabulary import AdviceContext, advice, as_float, for_trait
from profiler.analysis.traits import event_evidence as ev
from profiler.schema.report import Recommendation

WAIT_FACTOR = 3.0  # the wait a queued request may take: this many times the baseline's p95


def _flags(ctx: AdviceContext, bound: int) -> str:
    server = ctx.server.server if ctx.server is not None else None
    return {
        "uvicorn": f"uvicorn --limit-concurrency {bound} (it answers 503 past it)",
        "gunicorn": f"gunicorn --backlog {bound} with --timeout set, or a proxy's limit in front",
        "hypercorn": f"hypercorn --backlog {bound}, or a proxy's limit in front",
        "nginx": f"limit_conn / limit_req at nginx with a queue of {bound}",
    }.get(server or "", f"a concurrency limit of {bound} at the proxy or load balancer in front")


@for_trait(ev.SpikeQueues)
def bound_queue(found: ev.SpikeQueues, ctx: AdviceContext) -> list[Recommendation]:
    wait_ms = WAIT_FACTOR * found.baseline_p95_ms
    bound = max(1, math.ceil(found.during_rps * wait_ms / 1000.0))  # Little's law: L = lambda x W
    return advice(
        "bound-the-queue",
        f"Bound the queue the spike builds: at the {found.during_rps:,.1f} rps it was served at, a wait of "
        f"{wait_ms:.0f} ms ({WAIT_FACTOR:g}x the baseline p95) holds {bound} requests (Little's law); shed past "
        f"that with 429/503 ({_flags(ctx, bound)}) so a spike costs some requests, not every request's latency; "
        "scale out ahead of spikes you can see coming.",
        f"During the spike p95 rose from {found.baseline_p95_ms:.1f} ms to {found.during_p95_ms:.1f} ms with up "
        f"to {found.max_in_flight} in flight: everyone waited.",
        [ev.SpikeQueues.ID],
        queue_bound=bound,
        wait_ms=as_float(wait_ms),
        during_rps=as_float(found.during_rps),
    )


@for_trait(ev.ShedsLoad)
def retry_backoff(found: ev.ShedsLoad, ctx: AdviceContext) -> list[Recommendation]:
    return advice(
        "retry-with-backoff",
        f"Keep shedding, and make the clients retry with jittered exponential backoff and a retry budget: "
        f"{found.shed_share:.0%} of the spike's requests were turned away at once.",
        "Shedding protects the requests it keeps; clients that retry at once turn it into a retry storm.",
        [ev.ShedsLoad.ID],
        shed_share=as_float(found.shed_share),
    )


@for_trait(ev.SlowRecovery)
def recover_faster(found: ev.SlowRecovery, ctx: AdviceContext) -> list[Recommendation]:
    back = f"{found.recovery_s:.1f}s" if found.recovery_s is not None else f"more than {found.watched_s:.0f}s"
    return advice(
        "recover-faster",
        f"Shorten the recovery ({back} after the spike): a request timeout near a few times the baseline p95 "
        f"({found.baseline_p95_ms:.1f} ms) so the backlog drains instead of being served late, a bounded queue, "
        "and warm spare instances for the spike's length.",
        "Requests queued in a spike keep the latency high after it ends, until the backlog is served.",
        [ev.SlowRecovery.ID],
        recovery_s=as_float(found.recovery_s),
        watched_s=as_float(found.watched_s),
    )


_DRAIN = {
    "gunicorn": "gunicorn reloads gracefully on SIGHUP; a killed worker cannot drain: keep --graceful-timeout above "
    "the p99 and --max-requests-jitter so workers rotate apart",
    "uvicorn": "uvicorn --timeout-graceful-shutdown above the p99, behind a readiness probe that fails first",
    "nginx": "nginx -s reload drains old workers; keep worker_shutdown_timeout above the p99",
}


@for_trait(ev.RestartDropsRequests)
def drain_on_restart(found: ev.RestartDropsRequests, ctx: AdviceContext) -> list[Recommendation]:
    server = ctx.server.server if ctx.server is not None else ""
    flags = _DRAIN.get(server or "", "drain in-flight requests before a process stops (a graceful timeout above "
                       "the p99), and take it out of the load balancer first")  # fmt: skip
    measured = (f" It took {found.stopped_after_s:.1f}s to stop on SIGTERM and answered {found.ready_after_s:.1f}s "
                "after it was started again: no instance may stop before its replacement answers."
                if found.stopped_after_s is not None and found.ready_after_s is not None else "")  # fmt: skip
    grace = termination_grace_s(graceful_timeout_s(None, found.stopped_after_s))
    return advice(
        "drain-before-restart",
        f"Drain before a process goes: {found.failed} requests failed across {found.fault}. {flags}; in Kubernetes "
        f"a readiness probe, a preStop sleep of {PRESTOP_S}s, terminationGracePeriodSeconds {grace}, and rolling "
        f"updates with maxUnavailable {MAX_UNAVAILABLE} and maxSurge {MAX_SURGE} (profiler plan --k8s writes them).{measured}",
        "Requests in flight on a process that stops without draining fail; clients see errors on every deploy.",
        [ev.RestartDropsRequests.ID],
        failed=found.failed,
        lost=found.lost,
        termination_grace_period_s=grace,
        ready_after_s=as_float(found.ready_after_s),
    )


@for_trait(ev.SessionsLost)
def external_sessions(found: ev.SessionsLost, ctx: AdviceContext) -> list[Recommendation]:
    server = ctx.server.server if ctx.server is not None else ""
    where = ("gunicorn's workers each hold their own memory, so a session stored there is lost with the worker "
             "and unknown to the others; " if server == "gunicorn" else "")  # fmt: skip
    return advice(
        "external-session-store",
        f"Keep sessions out of the process: {where}store them in Redis or the database (or in a signed cookie or "
        f"token the client holds), so a restart, a deploy or another instance finds them. {found.client_errors} "
        f"requests were refused after {found.fault}.",
        "State held in a process dies with it: every restart, deploy or scale-in logs its users out.",
        [ev.SessionsLost.ID],
        client_errors=found.client_errors,
    )


@for_trait(ev.DependencyStall)
def bound_dependency(found: ev.DependencyStall, ctx: AdviceContext) -> list[Recommendation]:
    return advice(
        "bound-the-dependency",
        f"Give the calls to {found.process} a timeout below your SLO and a circuit breaker: while it stalled for "
        f"{found.paused_s:.1f}s the requests on it waited up to {found.during_max_ms or 0:,.0f} ms. Serve a "
        "degraded answer or fail fast rather than hold a worker; cap retries so they do not amplify the stall.",
        "A dependency with no timeout turns its stall into the app's outage, and retries into a cascade.",
        [ev.DependencyStall.ID],
        paused_s=as_float(found.paused_s),
        failed=found.failed,
    )


# In output order (advice/recommend.py's RULES takes them as one block).
TRANSIENT_RULES = (bound_queue, retry_backoff, recover_faster, drain_on_restart, external_sessions, bound_dependency)
