"""Behavioural traits: fixed ids, each a pure rule over `Signals` with its evidence.

Every rule rests on signals that separate behaviours physically (docs/traits.md has the table):
CPU of the target at the throughput plateau (cpu-bound vs not), the light probe's latency (a
blocked event loop makes even a free request wait; a capped pool does not), throughput growth
with concurrency (waiting scales, computing does not), and so on. A rule whose signals the run
does not have returns None: absent, not guessed.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from profiler.analysis.scaling import Plateau, find_plateau
from profiler.analysis.signals import Signals, StageSignal
from profiler.config import DEFAULT_MEMORY_LIMIT_MB, MIB
from profiler.schema import Evidence, Trait
from profiler.stats import linear_fit, mean

# Thresholds (documented in docs/traits.md; tests pin the edges).
CPU_SATURATED = 80.0  # % of one core for the busiest process, or of all cores for the tree
CPU_IDLE = 50.0
MULTI_CORE_PROCESS = 150.0  # one process above 1.5 cores runs native threads: not GIL-bound  # busiest process below half a core at the plateau: something else limits
PROBE_WAITS = 0.3  # probe p50 >= 30% of a real request's p50: the loop itself is queueing
PROBE_FAST = 0.2  # probe p50 < 20% of a real request's: the app still answers at once
IO_CPU_SHARE = 0.25  # CPU time per request < 25% of its latency: mostly waiting
IO_EFFICIENCY = 0.5  # throughput grew at least half as fast as concurrency
COLD_FACTOR = 3.0
COLD_MIN_MS = 50.0
TAIL_FACTOR = 5.0
TAIL_MIN_MS = 20.0
ERRORS_HIGH = 0.05
ERRORS_LOW = 0.01
RETROGRADE_DROP = 0.8
DOMINANT_SHARE = 0.4
MEMORY_MIN_GROWTH_MB = 20.0
MEMORY_MIN_R2 = 0.8
GPU_BUSY = 85.0
GPU_IDLE = 40.0
STREAM_TTFB_SHARE = 0.3


def _trait(
    id_: str, confidence: float, summary: str, subject: str | None = None, **values: float | int | str | bool | None
) -> Trait:
    clean = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in values.items()}
    return Trait(
        id=id_,
        confidence=round(min(0.99, max(0.05, confidence)), 2),
        evidence=Evidence(summary=summary, values=clean),
        subject=subject,
    )


def _closed(signals: Signals) -> list[StageSignal]:
    return [s for s in signals.measured if s.users]


def _light(signals: Signals) -> StageSignal | None:
    stages = signals.measured
    return min(stages, key=lambda s: (s.users or s.rate or 0, s.index)) if stages else None


def _on_plateau(signals: Signals, p: Plateau) -> list[StageSignal]:
    return [s for s in _closed(signals) if s.index >= p.stage]


def _mean_opt(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return mean(vals) if vals else None


def cpu_bound(signals: Signals) -> Trait | None:
    p = find_plateau(_closed(signals))
    if p is None:
        return None
    on = _on_plateau(signals, p)
    busiest = _mean_opt([s.busiest_cpu for s in on])
    tree = _mean_opt([s.cpu for s in on])
    if busiest is None or tree is None:
        return None
    all_cores = 100.0 * signals.ncpu
    one_core = busiest >= CPU_SATURATED
    every_core = tree >= CPU_SATURATED / 100 * all_cores
    if not (one_core or every_core):
        return None
    if every_core:
        scope = "all cores"
    elif busiest >= MULTI_CORE_PROCESS:
        scope = "several cores in one process (native threads, not the GIL)"
    elif signals.processes > 1:
        scope = f"one core per worker process ({signals.processes} processes, {signals.ncpu} cores)"
    else:
        scope = "one core (the GIL: one Python process)"
    saturation = max(busiest / 100.0, tree / all_cores)
    confidence = 0.55 + 0.3 * min(1.0, (saturation - 0.7) / 0.3) + 0.1 * (p.growth < 1.05)
    return _trait(
        "cpu-bound",
        confidence,
        f"Throughput plateaued at {p.rps:.0f} rps from {p.users} user{'s' if p.users != 1 else ''} on while the target's CPU was saturated on {scope}."
        + (f" py-spy: the top on-CPU function was {signals.top_function}." if signals.top_function else ""),
        scope="all-cores" if every_core else "multi-core-process" if busiest >= MULTI_CORE_PROCESS else "one-core",
        plateau_rps=p.rps,
        plateau_users=p.users,
        busiest_process_cpu_pct=busiest,
        tree_cpu_pct=tree,
        ncpu=signals.ncpu,
        top_function=signals.top_function,
    )


def io_bound(signals: Signals) -> Trait | None:
    closed = _closed(signals)
    if len(closed) < 3 or find_plateau(closed) is not None:
        return None
    light, top = closed[0], closed[-1]
    if not light.users or not top.users or top.users < 4 * light.users or light.ok_rps <= 0 or light.cpu is None:
        return None
    efficiency = (top.ok_rps / light.ok_rps) / (top.users / light.users)
    cpu_ms = (light.cpu / 100.0) / light.ok_rps * 1000.0
    cpu_share = cpu_ms / light.p50 if light.p50 > 0 else 1.0
    if efficiency < IO_EFFICIENCY or cpu_share > IO_CPU_SHARE:
        return None
    confidence = 0.5 + 0.35 * min(1.0, efficiency) + 0.1 * (cpu_share < 0.1)
    return _trait(
        "io-bound",
        confidence,
        f"Latency is mostly waiting: {cpu_ms:.2f} ms of CPU per {light.p50:.1f} ms request, and throughput grew "
        f"{top.ok_rps / light.ok_rps:.1f}x from {light.users} to {top.users} users.",
        cpu_ms_per_request=cpu_ms,
        latency_p50_ms=light.p50,
        cpu_share_of_latency=cpu_share,
        scaling_efficiency=efficiency,
        users_low=light.users,
        users_high=top.users,
    )


def _slow_probe(p_stages: list[StageSignal]) -> tuple[float, float] | None:
    probe = _mean_opt([s.probe_p50 for s in p_stages])
    main = _mean_opt([s.p50 for s in p_stages])
    if probe is None or main is None or main <= 0:
        return None
    return probe, probe / main


def event_loop_blocked(signals: Signals) -> Trait | None:
    closed = _closed(signals)
    p = find_plateau(closed)
    if p is None:
        return None
    on = _on_plateau(signals, p)
    busiest = _mean_opt([s.busiest_cpu for s in on])
    probe = _slow_probe(on)
    if busiest is None or busiest >= CPU_IDLE or probe is None or probe[1] < PROBE_WAITS:
        return None
    light = closed[0]
    one_at_a_time = p.rps * light.p50 / 1000.0  # Little's law: requests in service at once
    confidence = 0.6 + 0.15 * (0.6 <= one_at_a_time <= 1.6) + 0.1 * min(1.0, probe[1])
    if signals.blocking_on_loop_share is not None and signals.blocking_on_loop_share >= 0.3:
        confidence += 0.15
    where = (
        f" py-spy: {signals.blocking_on_loop_share:.0%} of samples in a blocking call on the loop"
        + (f" ({signals.blocking_function})" if signals.blocking_function else "")
        + "."
        if signals.blocking_on_loop_share is not None and signals.blocking_on_loop_share >= 0.3
        else ""
    )
    return _trait(
        "event-loop-blocked",
        confidence,
        f"Throughput plateaued at {p.rps:.0f} rps (about 1/service time: {one_at_a_time:.1f} request in service) "
        f"with CPU at {busiest:.0f}%, and a free probe request waited {probe[0]:.0f} ms like the real ones.{where}",
        plateau_rps=p.rps,
        service_ms=light.p50,
        in_service=one_at_a_time,
        busiest_process_cpu_pct=busiest,
        probe_p50_ms=probe[0],
        probe_to_request=probe[1],
        blocking_on_loop_share=signals.blocking_on_loop_share,
        blocking_function=signals.blocking_function,
    )


def concurrency_capped(signals: Signals) -> Trait | None:
    closed = _closed(signals)
    p = find_plateau(closed)
    if p is None:
        return None
    on = _on_plateau(signals, p)
    busiest = _mean_opt([s.busiest_cpu for s in on])
    if busiest is None or busiest >= CPU_IDLE:
        return None
    probe = _slow_probe(on)
    if probe is not None and probe[1] >= PROBE_WAITS:
        return None  # the loop itself is blocked: event-loop-blocked says so
    light = closed[0]
    in_service = p.rps * light.p50 / 1000.0
    confidence = 0.75 if probe is not None and probe[1] < PROBE_FAST else 0.45
    handler = _mean_opt([s.handler_p50 for s in on])
    top = on[-1]
    outside = ""
    if handler is not None and top.p50 > 0 and light.handler_p50 is not None and handler < 2 * light.handler_p50:
        outside = f" The handler's own time stayed near {handler:.0f} ms while latency rose to {top.p50:.0f} ms: requests queue before the handler."
    return _trait(
        "concurrency-capped",
        confidence,
        f"Throughput plateaued at {p.rps:.0f} rps with CPU at {busiest:.0f}% while the app still answered a "
        f"probe {'at once' if probe else '(no probe)'}: about {in_service:.1f} requests are served at a time "
        f"(a lock, a small pool or one worker).{outside}",
        plateau_rps=p.rps,
        in_service=in_service,
        busiest_process_cpu_pct=busiest,
        probe_p50_ms=probe[0] if probe else None,
        probe_to_request=probe[1] if probe else None,
        handler_p50_ms=handler,
    )


def memory_growth(signals: Signals, limit_mb: float = DEFAULT_MEMORY_LIMIT_MB) -> Trait | None:
    series = signals.rss_series
    if len(series) < 10 or series[-1][0] < 200:
        return None
    xs = [x for x, _ in series]
    ys = [y / MIB for _, y in series]
    growth = ys[-1] - ys[0]
    if growth < MEMORY_MIN_GROWTH_MB or growth < 0.1 * ys[0]:
        return None
    _, slope, r2 = linear_fit(xs, ys)  # MiB per request
    half = len(series) // 2
    _, slope_late, _ = linear_fit(xs[half:], ys[half:])
    if slope <= 0 or r2 < MEMORY_MIN_R2 or slope_late < 0.5 * slope:
        return None  # a warm-up that levels off is not a leak
    _, per_s, _ = linear_fit(list(signals.rss_times), ys) if signals.rss_times else (0.0, 0.0, 0.0)
    to_limit = (limit_mb - ys[-1]) / per_s / 60.0 if per_s > 0 and ys[-1] < limit_mb else None
    confidence = 0.55 + 0.35 * min(1.0, (r2 - MEMORY_MIN_R2) / 0.15) + 0.05 * (slope_late >= 0.8 * slope)
    return _trait(
        "memory-growth",
        confidence,
        f"Resident memory grew steadily with requests served: {slope * 1000:.2f} MiB per 1k requests "
        f"({growth:.0f} MiB over the run, R^2={r2:.2f})"
        + (f"; at this rate it reaches {limit_mb:.0f} MiB in {to_limit:.1f} minutes." if to_limit is not None else "."),
        mib_per_1k_requests=slope * 1000,
        mib_per_minute=per_s * 60,
        growth_mib=growth,
        r_squared=r2,
        rss_end_mib=ys[-1],
        limit_mib=limit_mb,
        minutes_to_limit=to_limit,
    )


def _gpu_util_by_stage(signals: Signals) -> dict[int, float]:
    """Utilisation per stage of the GPUs the target uses (it holds memory there).

    Utilisation is device-wide: a busy GPU that the target does not touch is someone else's
    job. When no per-process memory is readable (e.g. some MIG or container setups), all
    devices are read, the best that can be done.
    """
    mine = {g.device for g in signals.gpu if (g.proc_mem_max_mb or 0) > 0}
    out: dict[int, float] = {}
    for g in signals.gpu:
        if g.util_gpu_mean is not None and (not mine or g.device in mine):
            out[g.stage] = max(out.get(g.stage, 0.0), g.util_gpu_mean)
    return out


def gpu_bound(signals: Signals) -> Trait | None:
    util = _gpu_util_by_stage(signals)
    p = find_plateau(_closed(signals))
    if not util or p is None:
        return None
    on = [util[s.index] for s in _on_plateau(signals, p) if s.index in util]
    if not on or mean(on) < GPU_BUSY:
        return None
    return _trait(
        "gpu-bound",
        0.6 + 0.3 * min(1.0, (mean(on) - GPU_BUSY) / 10),
        f"Throughput plateaued at {p.rps:.0f} rps with the GPU {mean(on):.0f}% busy.",
        plateau_rps=p.rps,
        gpu_util_pct=mean(on),
    )


def gpu_underutilized(signals: Signals) -> Trait | None:
    util = _gpu_util_by_stage(signals)
    uses_gpu = any((g.proc_mem_max_mb or 0) > 0 for g in signals.gpu)
    closed = _closed(signals)
    if not util or not uses_gpu or len(closed) < 2:
        return None
    light, top = closed[0], closed[-1]
    top_util = util.get(top.index)
    if top_util is None or top_util > GPU_IDLE or top.p50 < 2 * light.p50:
        return None
    return _trait(
        "gpu-underutilized",
        0.7,
        f"Requests queued (p50 {light.p50:.0f} -> {top.p50:.0f} ms) while the GPU was only {top_util:.0f}% busy: "
        "work reaches it one request at a time.",
        gpu_util_pct=top_util,
        p50_light_ms=light.p50,
        p50_top_ms=top.p50,
        users=top.users,
    )


def stateful_sessions(signals: Signals) -> Trait | None:
    if signals.cookie_responses == 0 or signals.responses == 0:
        return None
    share = signals.cookie_responses / signals.responses
    max_users = max((s.users or 0 for s in signals.stages), default=0)
    once_per_client = max_users > 0 and signals.cookie_responses <= 2 * max_users + 5
    summary = f"The app set a cookie on {signals.cookie_responses} of {signals.responses} responses" + (
        " (once per client, then sent back): it keeps per-client state."
        if once_per_client
        else ": clients carry session state."
    )
    return _trait(
        "stateful-sessions",
        0.8 if once_per_client else 0.55,
        summary,
        cookie_responses=signals.cookie_responses,
        responses=signals.responses,
        share=share,
        once_per_client=once_per_client,
    )


def streaming_responses(signals: Signals) -> Trait | None:
    light = _light(signals)
    if light is None or signals.responses == 0:
        return None
    flagged = max(signals.event_stream_responses, signals.chunked_responses) / signals.responses
    early = light.p50 >= 20 and light.ttfb_p50 <= STREAM_TTFB_SHARE * light.p50
    if not early and signals.event_stream_responses / signals.responses < 0.5:
        return None
    confidence = (0.6 if early else 0.45) + 0.3 * (flagged >= 0.5)
    kind = "text/event-stream" if signals.event_stream_responses else "chunked" if signals.chunked_responses else "body"
    return _trait(
        "streaming-responses",
        confidence,
        f"Responses stream ({kind}): the first byte came after {light.ttfb_p50:.1f} ms, the last after {light.p50:.1f} ms.",
        ttfb_p50_ms=light.ttfb_p50,
        latency_p50_ms=light.p50,
        streamed_share=flagged,
    )


def _steady_p50(signals: Signals) -> float | None:
    stages = [s for s in signals.measured if s.requests >= 20]
    return min(s.p50 for s in stages) if stages else None


def cold_start(signals: Signals) -> Trait | None:
    first = signals.first_latencies
    steady = _steady_p50(signals)
    if len(first) < 10 or steady is None or steady <= 0:
        return None
    # The median of the first five, not the max: one inherently slow request (a tail) early on
    # is not a cold start; a cold start slows every early request.
    head = sorted(first[:5])[2]
    if head < COLD_FACTOR * steady or head - steady < COLD_MIN_MS:
        return None
    settle = next((i for i in range(len(first)) if all(x <= 2 * steady for x in first[i : i + 5])), len(first))
    confidence = 0.6 + 0.3 * min(1.0, math.log10(head / steady) / 2)
    return _trait(
        "cold-start",
        confidence,
        f"The first request took {first[0]:.0f} ms (median of the first five {head:.0f} ms) against a steady "
        f"{steady:.1f} ms; latency settled after about {settle} requests.",
        first_request_ms=first[0],
        median_first_five_ms=head,
        steady_p50_ms=steady,
        requests_to_settle=settle,
        ready_after_s=signals.ready_after_s,
    )


def tail_heavy(signals: Signals, settle: int = 0) -> Trait | None:
    """p99 far above p50 at light load. Stages that still hold cold-start requests (the first
    `settle` of the run) are skipped: a warming app is slow early, not inherently tail-heavy."""
    before = 0
    warm: list[StageSignal] = []
    for st in signals.stages:
        if before >= settle and not st.profiled:
            warm.append(st)
        before += st.requests
    stages = [s for s in warm if s.requests >= 100]
    if not stages:
        return None
    closed = [s for s in stages if s.users]
    if closed:
        lightest = min(s.users or 0 for s in closed)
        light = [s for s in closed if (s.users or 0) <= max(2, lightest)]
    else:  # open model: only the lowest arrival rate is free of queueing
        low = min(s.rate or 0.0 for s in stages)
        light = [s for s in stages if s.rate == low]
    hits = [s for s in light if s.p50 > 0 and s.p99 >= TAIL_FACTOR * s.p50 and s.p99 - s.p50 >= TAIL_MIN_MS]
    if not hits:
        return None
    s = max(hits, key=lambda x: x.p99 / x.p50)
    return _trait(
        "tail-heavy",
        0.55 + 0.3 * min(1.0, (s.p99 / s.p50 - TAIL_FACTOR) / 20) + 0.1 * (len(hits) > 1),
        f"At light load ({_load(s)}, no queueing) p99 was {s.p99:.0f} ms against p50 {s.p50:.1f} ms: "
        "some requests are inherently slow.",
        p50_ms=s.p50,
        p95_ms=s.p95,
        p99_ms=s.p99,
        users=s.users,
        stage=s.index,
    )


def _load(s: StageSignal) -> str:
    return f"{s.users} user{'s' if s.users != 1 else ''}" if s.users else f"{s.rate:g}/s"


def errors_under_load(signals: Signals) -> Trait | None:
    stages = [s for s in signals.measured if s.requests > 0]
    if len(stages) < 2:
        return None
    light = stages[0]
    worst = max(stages[1:], key=lambda s: s.error_rate)
    if light.error_rate > ERRORS_LOW or worst.error_rate < ERRORS_HIGH:
        return None
    onset = next(s for s in stages if s.error_rate >= ERRORS_HIGH)
    kinds = sorted(worst.errors.items(), key=lambda kv: -kv[1])
    top_kind = kinds[0][0] if kinds else "errors"
    what = (
        "load shedding (503/429)"
        if top_kind in ("HTTP 503", "HTTP 429")
        else "timeouts"
        if "imeout" in top_kind
        else "server errors"
        if top_kind.startswith("HTTP 5")
        else top_kind
    )
    load = _load(onset)
    return _trait(
        "errors-under-load",
        0.6 + 0.35 * min(1.0, worst.error_rate / 0.5),
        f"Errors rose with load: {light.error_rate:.1%} at light load, {worst.error_rate:.0%} at "
        f"{_load(worst)} (above {ERRORS_HIGH:.0%} from {load}), mostly {top_kind} ({what}).",
        error_rate_light=light.error_rate,
        error_rate_max=worst.error_rate,
        onset_stage=onset.index,
        onset_users=onset.users,
        main_error=top_kind,
    )


def retrograde_scaling(signals: Signals) -> Trait | None:
    closed = _closed(signals)
    if len(closed) < 3:
        return None
    peak = max(closed, key=lambda s: s.ok_rps)
    later = [s for s in closed if s.index > peak.index and (s.users or 0) > (peak.users or 0)]
    if not later or peak.ok_rps <= 0:
        return None
    low = min(later, key=lambda s: s.ok_rps)
    ratio = low.ok_rps / peak.ok_rps
    if ratio > RETROGRADE_DROP:
        return None
    return _trait(
        "retrograde-scaling",
        0.55 + min(0.4, 1 - ratio),
        f"Throughput peaked at {peak.ok_rps:.0f} rps with {peak.users} users and fell to {low.ok_rps:.0f} rps "
        f"({ratio:.0%}) at {low.users} users: more concurrency makes the app slower in total.",
        peak_rps=peak.ok_rps,
        peak_users=peak.users,
        low_rps=low.ok_rps,
        low_users=low.users,
        ratio=ratio,
    )


def dominant_stage(signals: Signals) -> Trait | None:
    name = signals.dominant_handoff
    if not name or signals.dominant_share < DOMINANT_SHARE:
        return None
    others = sorted((v for k, v in signals.handoff_shares.items() if k != name), reverse=True)
    if others and others[0] * 1.5 > signals.dominant_share:
        return None
    return _trait(
        "dominant-stage",
        0.5 + 0.45 * min(1.0, (signals.dominant_share - DOMINANT_SHARE) / 0.4),
        f"The '{name}' handoff takes {signals.dominant_share:.0%} of request latency at light load (Server-Timing).",
        subject=name,
        share=signals.dominant_share,
        next_share=others[0] if others else None,
    )


RULES: tuple[Callable[[Signals], Trait | None], ...] = (
    cpu_bound,
    io_bound,
    event_loop_blocked,
    concurrency_capped,
    gpu_bound,
    gpu_underutilized,
    stateful_sessions,
    streaming_responses,
    errors_under_load,
    retrograde_scaling,
    dominant_stage,
)


def classify(signals: Signals, memory_limit_mb: float = DEFAULT_MEMORY_LIMIT_MB) -> list[Trait]:
    traits = [t for rule in RULES if (t := rule(signals)) is not None]
    if any(t.id == "gpu-bound" for t in traits):
        # The GPU sets the plateau; CPU busy at the same time is mostly the host waiting on it
        # (CUDA's synchronize spin-waits), not a CPU bottleneck.
        traits = [t for t in traits if t.id != "cpu-bound"]
    cold = cold_start(signals)
    if cold is not None:
        traits.append(cold)
    settle = int(cold.evidence.values.get("requests_to_settle") or 0) if cold is not None else 0
    tail = tail_heavy(signals, settle)
    if tail is not None:
        traits.append(tail)
    mem = memory_growth(signals, memory_limit_mb)
    if mem is not None:
        traits.append(mem)
    return sorted(traits, key=lambda t: -t.confidence)
