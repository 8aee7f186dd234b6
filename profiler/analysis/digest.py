"""Build the `Signals` digest from a run's data: the one step between the run folder and the rules."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from profiler.analysis.signals import Signals, StageSignal
from profiler.record import FLAG_CHUNKED, FLAG_COOKIE, FLAG_EVENT_STREAM, RunData
from profiler.schema import GpuDeviceStage, HandoffSection, StageReport
from profiler.stats import percentile


def _handler_p50(handoffs: HandoffSection, stage: int) -> float | None:
    for ps in handoffs.per_stage:
        if ps.stage == stage and ps.stages:
            # Server time = the handoffs' medians summed; unattributed is the client's remainder.
            return sum(h.p50_ms for h in ps.stages.values())
    return None


def build_signals(
    run: RunData,
    stages: Sequence[StageReport],
    handoffs: HandoffSection,
    slo_percentile: float = 95.0,
    gpu: Sequence[GpuDeviceStage] = (),
    gpu_available: bool = False,
    code: dict[str, Any] | None = None,
) -> Signals:
    stage_signals: list[StageSignal] = []
    for s in stages:
        reqs = run.requests.get(s.index)
        known = {50.0: s.latency.p50, 90.0: s.latency.p90, 95.0: s.latency.p95, 99.0: s.latency.p99}
        if slo_percentile in known:
            slo_latency: float | None = known[slo_percentile] if s.requests else None  # already computed
        else:
            slo_latency = (
                percentile(reqs.latency_sorted or sorted(reqs.latency), slo_percentile)
                if reqs is not None and reqs.count
                else None
            )
        stage_signals.append(
            StageSignal(
                index=s.index,
                users=s.users,
                rate=s.rate,
                requests=s.requests,
                duration_s=s.duration_s,
                rps=s.rps,
                ok_rps=s.ok_rps,
                p50=s.latency.p50,
                p95=s.latency.p95,
                p99=s.latency.p99,
                ttfb_p50=s.ttfb.p50,
                error_rate=s.error_rate,
                probe_p50=s.probe.p50 if s.probe else None,
                cpu=s.target_cpu_pct,
                busiest_cpu=s.target_busiest_process_cpu_pct,
                loadgen_cpu=s.loadgen_cpu_pct,
                handler_p50=_handler_p50(handoffs, s.index),
                slo_latency=slo_latency,
                profiled=s.profiled,
                statuses=s.statuses,
                errors=s.errors,
            )
        )
    # Memory against work done: cumulative requests at each sample time.
    starts: list[float] = sorted(t for i in sorted(run.requests) for t in run.requests[i].start)
    rss_series: list[tuple[float, float]] = []
    rss_times: list[float] = []
    j = 0
    for sample in run.samples:
        target = sample.get("target")
        if not target or not target.get("procs"):
            continue
        t = float(sample["t"])
        while j < len(starts) and starts[j] <= t:
            j += 1
        rss_series.append((float(j), float(target.get("rss", 0))))
        rss_times.append(t)
    # The run's first requests in start order, across stages (stage 0 may hold only a few).
    early: list[tuple[float, float]] = []
    for w in run.stages:
        r = run.requests.get(w.index)
        if r is not None:
            early.extend(zip(r.start, r.latency, strict=True))
        if len(early) >= 200:
            break
    first = [lat for _, lat in sorted(early)[:200]]
    flags = {FLAG_COOKIE: 0, FLAG_EVENT_STREAM: 0, FLAG_CHUNKED: 0}
    responses = 0
    for r in run.requests.values():
        responses += r.count
        for k in flags:
            flags[k] += r.flags.get(k, 0)
    procs = [int(s["target"].get("procs", 1)) for s in run.samples if "target" in s]
    ncpu = int(run.meta.get("sampler", {}).get("ncpu") or 1)
    dominant = handoffs.dominant
    # Shares at the lightest stage: under load, queueing (unattributed) swamps every handoff's share.
    light_shares: dict[str, float] = {}
    if handoffs.per_stage:
        lightest = min(handoffs.per_stage, key=lambda ps: (ps.users or 0, ps.stage))
        light_shares = {k: v.share for k, v in lightest.stages.items()}
    code = code or {}
    return Signals(
        stages=tuple(stage_signals),
        ncpu=ncpu,
        processes=max(procs) if procs else 1,
        rss_series=tuple(rss_series),
        rss_times=tuple(rss_times),
        first_latencies=tuple(first),
        ready_after_s=run.meta.get("target", {}).get("ready_after_s"),
        responses=responses,
        cookie_responses=flags[FLAG_COOKIE],
        event_stream_responses=flags[FLAG_EVENT_STREAM],
        chunked_responses=flags[FLAG_CHUNKED],
        dominant_handoff=dominant,
        dominant_share=light_shares.get(dominant, handoffs.stages[dominant].share) if dominant else 0.0,
        handoff_shares=light_shares or {k: v.share for k, v in handoffs.stages.items()},
        gpu=tuple(gpu),
        gpu_available=gpu_available,
        blocking_on_loop_share=code.get("blocking_on_loop_share"),
        idle_share=code.get("idle_share"),
        top_function=code.get("top_function"),
        blocking_function=code.get("blocking_function"),
        open_model=any(s.rate for s in stages),
        slo_percentile=slo_percentile,
    )
