"""Scaling and hosting recommendations: each derived from traits and capacity, with numbers.

No recommendation without evidence: every rule below fires only on a trait (or a capacity figure)
present in the report, and says which in its `evidence`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from profiler.schema import CapacitySection, Recommendation, Trait


def _rec(
    id_: str, action: str, rationale: str, traits: Sequence[str] = (), **values: float | int | str | bool | None
) -> Recommendation:
    evidence: dict[str, float | int | str | bool | None] = {
        k: (round(v, 3) if isinstance(v, float) else v) for k, v in values.items()
    }
    if traits:
        evidence["traits"] = ",".join(traits)
    return Recommendation(id=id_, action=action, rationale=rationale, evidence=evidence)


def _v(t: Trait, key: str) -> float | None:
    value = t.evidence.values.get(key)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def recommend(
    traits: Sequence[Trait], capacity: CapacitySection | None, ncpu: int, processes: int
) -> list[Recommendation]:
    by_id = {t.id: t for t in traits}
    recs: list[Recommendation] = []
    cap = capacity.capacity_rps if capacity else None

    if capacity is not None and capacity.peak_rps is not None:
        if cap:
            recs.append(
                _rec(
                    "instances-for-peak",
                    f"Run {capacity.instances_needed} instances for {capacity.peak_rps:g} rps "
                    f"({cap:.1f} rps each at {capacity.slo or 'the light-load latency limit'}, {capacity.headroom or 0:.0%} headroom).",
                    "Capacity per instance is the best stage that met the latency limit without errors.",
                    capacity_rps=cap,
                    peak_rps=capacity.peak_rps,
                    headroom=capacity.headroom,
                    instances=capacity.instances_needed,
                )
            )
        else:
            recs.append(
                _rec(
                    "instances-for-peak",
                    "No stage met the latency limit: fix the latency at light load before sizing.",
                    "Without a stage inside the limit there is no capacity to divide the peak by.",
                    peak_rps=capacity.peak_rps,
                    latency_limit_ms=capacity.latency_limit_ms,
                )
            )

    if (t := by_id.get("cpu-bound")) is not None:
        one_core = t.evidence.values.get("scope") == "one-core"
        if one_core and processes < ncpu:
            recs.append(
                _rec(
                    "worker-processes",
                    f"Run {ncpu} worker processes per instance (e.g. `uvicorn --workers {ncpu}` or gunicorn -w {ncpu}); "
                    "threads will not help.",
                    (
                        "One Python process saturated one core"
                        if processes <= 1
                        else f"{processes} Python processes saturated one core each"
                    )
                    + " (the GIL) while other cores had room.",
                    ["cpu-bound"],
                    busiest_process_cpu_pct=_v(t, "busiest_process_cpu_pct"),
                    ncpu=ncpu,
                )
            )
        recs.append(
            _rec(
                "autoscale-on-cpu",
                "Autoscale on CPU utilisation, target 60-70%.",
                "Throughput is limited by CPU, so CPU tracks load until the plateau.",
                ["cpu-bound"],
                plateau_rps=_v(t, "plateau_rps"),
            )
        )
        recs.append(
            _rec(
                "instance-family",
                "Use compute-optimised instances (more and faster cores per GB).",
                "The plateau is set by CPU.",
                ["cpu-bound"],
            )
        )

    if (t := by_id.get("io-bound")) is not None:
        users = capacity.knee_users if capacity and capacity.knee_users else None
        recs.append(
            _rec(
                "autoscale-on-concurrency",
                "Autoscale on in-flight requests (concurrency per instance)"
                + (f", target about {users} per instance (the measured knee)." if users else "."),
                "Requests mostly wait; CPU stays low while the instance still has room, so CPU is a poor signal.",
                ["io-bound"],
                cpu_share_of_latency=_v(t, "cpu_share_of_latency"),
                knee_users=users,
            )
        )
        recs.append(
            _rec(
                "instance-family",
                "Use general-purpose or smaller instances; the app needs connections, not cores.",
                "CPU per request is a small share of latency.",
                ["io-bound"],
            )
        )

    if (t := by_id.get("event-loop-blocked")) is not None:
        fn = t.evidence.values.get("blocking_function")
        recs.append(
            _rec(
                "unblock-event-loop",
                "Move the blocking call off the event loop"
                + (f" ({fn})" if fn else "")
                + ": `await asyncio.to_thread(...)`, an async client, or a plain `def` endpoint (run in the threadpool).",
                f"The loop served about one request at a time ({_v(t, 'plateau_rps') or 0:.0f} rps) with the CPU idle; "
                "more instances would each be just as capped.",
                ["event-loop-blocked"],
                plateau_rps=_v(t, "plateau_rps"),
                service_ms=_v(t, "service_ms"),
            )
        )

    if (t := by_id.get("concurrency-capped")) is not None:
        k = _v(t, "in_service") or 0
        recs.append(
            _rec(
                "raise-concurrency-limit",
                f"Find and raise the cap that lets only ~{k:.0f} requests in at a time (a lock, a connection/thread pool, "
                "a semaphore, one worker), or add workers.",
                "Throughput plateaued with the CPU idle and the app still answering at once.",
                ["concurrency-capped"],
                in_service=k,
                plateau_rps=_v(t, "plateau_rps"),
            )
        )
        recs.append(
            _rec(
                "autoscale-on-concurrency",
                "Autoscale on in-flight requests, not CPU.",
                "CPU stays low even at the cap.",
                ["concurrency-capped"],
            )
        )

    usl = capacity.usl if capacity else None
    retro = by_id.get("retrograde-scaling")
    tested = capacity.max_tested_users if capacity else None
    # The measured peak beats a model; a fitted N* counts only from a fit that is not poor and
    # only inside the range actually tested (extrapolated peaks are guesses).
    usl_peak = (
        usl.n_star
        if usl is not None
        and usl.n_star
        and usl.kappa > 0
        and usl.quality != "poor"
        and tested is not None
        and usl.n_star <= tested
        else None
    )
    limit = (_v(retro, "peak_users") if retro is not None else None) or usl_peak
    if limit:
        recs.append(
            _rec(
                "concurrency-limit",
                f"Cap concurrency per instance near {math.floor(limit)} (e.g. `uvicorn --limit-concurrency`, a proxy's "
                "max connections) and queue or shed the rest.",
                "Past that point throughput falls or stops rising while latency grows.",
                ["retrograde-scaling"] if retro else [],
                n_star=usl.n_star if usl else None,
                peak_users=_v(retro, "peak_users") if retro else None,
            )
        )

    if (t := by_id.get("errors-under-load")) is not None:
        recs.append(
            _rec(
                "backpressure",
                "Add backpressure: a bounded queue with a timeout in front of the app, and clients that retry with jittered "
                "backoff; scale out before the onset load.",
                f"Errors reached {(_v(t, 'error_rate_max') or 0):.0%} under load (mostly {t.evidence.values.get('main_error')}).",
                ["errors-under-load"],
                onset_users=_v(t, "onset_users"),
                error_rate_max=_v(t, "error_rate_max"),
            )
        )

    if (t := by_id.get("memory-growth")) is not None:
        minutes = _v(t, "minutes_to_limit")
        recs.append(
            _rec(
                "memory-limit",
                f"Set a memory limit with automatic restart (e.g. gunicorn --max-requests, or a container limit) and find the "
                f"leak: {(_v(t, 'mib_per_1k_requests') or 0):.2f} MiB per 1k requests"
                + (
                    f", {t.evidence.values.get('limit_mib')} MiB reached in ~{minutes:.0f} min at the tested rate."
                    if minutes
                    else "."
                ),
                "Memory grows with work done and does not level off.",
                ["memory-growth"],
                mib_per_1k_requests=_v(t, "mib_per_1k_requests"),
                minutes_to_limit=minutes,
            )
        )
        recs.append(
            _rec(
                "instance-family",
                "Until the leak is fixed, prefer memory-optimised instances.",
                "Memory, not CPU, ends an instance's life.",
                ["memory-growth"],
            )
        )

    if "stateful-sessions" in by_id:
        recs.append(
            _rec(
                "session-state",
                "Externalise session state (Redis, a database, signed cookies); until then enable sticky sessions "
                "(session affinity) on the load balancer.",
                "The app sets per-client cookies: without affinity a client's next request may land where its state is not.",
                ["stateful-sessions"],
            )
        )

    if "streaming-responses" in by_id:
        recs.append(
            _rec(
                "lb-least-connections",
                "Balance by least connections, raise idle/read timeouts above the stream length, and drain connections on deploy.",
                "Streams hold connections for their whole length; round-robin piles them onto some instances.",
                ["streaming-responses"],
            )
        )

    if (t := by_id.get("cold-start")) is not None:
        recs.append(
            _rec(
                "warm-up",
                "Warm up before taking traffic: send a few requests in the readiness probe (or load models at start-up), "
                "and keep a minimum of 1+ warm instances.",
                f"The first request took {(_v(t, 'first_request_ms') or 0):.0f} ms against {(_v(t, 'steady_p50_ms') or 0):.1f} ms steady.",
                ["cold-start"],
                requests_to_settle=_v(t, "requests_to_settle"),
            )
        )

    if (t := by_id.get("tail-heavy")) is not None:
        p95, p99 = _v(t, "p95_ms") or 0, _v(t, "p99_ms") or 0
        recs.append(
            _rec(
                "tail-latency",
                f"Set client timeouts near {max(p99 * 2, 1):.0f} ms and hedge (send a second request) after ~{max(p95, 1):.0f} ms "
                "for idempotent calls; find what makes 1% of requests slow.",
                "The tail exists without load, so more instances will not remove it.",
                ["tail-heavy"],
                p95_ms=p95,
                p99_ms=p99,
            )
        )

    if (t := by_id.get("gpu-underutilized")) is not None:
        recs.append(
            _rec(
                "dynamic-batching",
                "Batch requests on the GPU (dynamic batching, e.g. a few ms window) and autoscale on GPU queue depth.",
                f"Requests queued while the GPU was {(_v(t, 'gpu_util_pct') or 0):.0f}% busy.",
                ["gpu-underutilized"],
            )
        )
    if "gpu-bound" in by_id:
        recs.append(
            _rec(
                "autoscale-on-gpu",
                "Autoscale on GPU utilisation (or queue depth); use GPU instances sized to the model.",
                "The GPU is the bottleneck at the plateau.",
                ["gpu-bound"],
            )
        )
        recs.append(_rec("instance-family", "Use GPU-optimised instances.", "The GPU sets the plateau.", ["gpu-bound"]))

    if (t := by_id.get("dominant-stage")) is not None:
        recs.append(
            _rec(
                "optimise-dominant-handoff",
                f"Optimise '{t.subject}' first (cache, batch or move it): it is {(_v(t, 'share') or 0):.0%} of latency.",
                "Speeding up anything else can win at most the remaining share.",
                ["dominant-stage"],
                share=_v(t, "share"),
            )
        )

    # One instance-family line: the scarcest resource wins (a GPU, then memory that runs out,
    # then CPU, then plain connections); one autoscale-on-concurrency line.
    priority = {"gpu-bound": 0, "memory-growth": 1, "cpu-bound": 2, "io-bound": 3}
    families = [r for r in recs if r.id == "instance-family"]
    best_family = min(families, key=lambda r: priority.get(str(r.evidence.get("traits")), 9)) if families else None
    seen: set[str] = set()
    out: list[Recommendation] = []
    for r in recs:
        if r.id == "instance-family" and r is not best_family:
            continue
        if r.id in seen and r.id == "autoscale-on-concurrency":
            continue
        seen.add(r.id)
        out.append(r)
    return out
