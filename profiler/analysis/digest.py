"""Build the `Signals` digest from a run's data: the one step between the run folder and the rules."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from profiler.analysis.attribution.profiled import CodeSignals
from profiler.analysis.figures.generator import generator_limit
from profiler.analysis.figures.payload import route_payloads
from profiler.analysis.figures.signals import Signals, StageSignal, WorkSignal
from profiler.runfolder.read import RunData, StageWindow
from profiler.schema.report import GpuDeviceStage, HandoffSection, ServerInfo, StageReport

FIRST_REQUESTS = 200  # how many of the run's first requests the cold-start rule reads


def _handler_p50(handoffs: HandoffSection, stage: int) -> float | None:
    for ps in handoffs.per_stage:
        if ps.stage == stage and ps.handoffs:
            # Server time = the handoffs' medians summed; unattributed is the client's remainder.
            return sum(h.p50_ms for h in ps.handoffs.values())
    return None


def _slo_latency(run: RunData, s: StageReport, pct: float) -> float | None:
    if not s.requests:
        return None
    known = {50.0: s.latency.p50, 90.0: s.latency.p90, 95.0: s.latency.p95, 99.0: s.latency.p99}
    return known[pct] if pct in known else run.requests.percentile(s.index, pct)


def _stream_fields(s: StageReport) -> dict[str, Any]:
    st = s.stream
    if st is None:
        return {}
    return {
        "streamed": st.streamed,
        "gap_p50": st.gap_p50_ms,
        "gap_max": st.gap_max_ms,
        "itl_p50": st.itl_p50_ms,
        "first_token_p50": st.first_token_p50_ms if st.first_token_p50_ms is not None else st.first_chunk_p50_ms,
        "stream_p95": s.latency.p95,
    }


def stage_signal(run: RunData, s: StageReport, handoffs: HandoffSection, slo_percentile: float) -> StageSignal:
    # The generator's and this machine's CPU say nothing of the CPU left to a target elsewhere.
    here = run.meta.config.observed
    return StageSignal(
        index=s.index,
        users=s.users,
        rate=s.rate,
        requests=s.requests,
        duration_s=s.measured_s,
        rps=s.rps,
        ok_rps=s.ok_rps,
        p50=s.latency.p50,
        p95=s.latency.p95,
        p99=s.latency.p99,
        ttfb_p50=s.ttfb.p50,
        error_rate=s.error_rate,
        bytes_per_request=s.bytes_per_request,
        unsent=s.unsent,
        generator_limited=generator_limit(s, run.meta.config.observed) is not None,
        probe_p50=s.probe.p50 if s.probe else None,
        cpu=s.target_cpu_pct,
        busiest_cpu=s.target_busiest_process_cpu_pct,
        loadgen_cpu=s.loadgen_cpu_pct if here else None,
        machine_cpu=s.machine_cpu_pct if here else None,
        steal=s.machine_steal_pct if here else None,
        handler_p50=_handler_p50(handoffs, s.index),
        slo_latency=_slo_latency(run, s, slo_percentile),
        profiled=s.profiled,
        **_stream_fields(s),
        statuses=s.statuses,
        errors=s.errors,
    )


def _light_shares(handoffs: HandoffSection) -> dict[str, float]:
    # Shares at the lightest stage: under load, queueing (unattributed) swamps every handoff's share.
    if not handoffs.per_stage:
        return {}
    lightest = min(handoffs.per_stage, key=lambda ps: (ps.users or 0, ps.stage))
    return {k: v.share for k, v in lightest.handoffs.items()}


def _stage_at(times: Sequence[float], windows: Sequence[StageWindow]) -> tuple[int | None, ...]:
    """The stage each time fell in (start <= t < end), None between stages: memory-growth tells
    growth at constant load from growth with load by it."""
    return tuple(next((w.index for w in windows if w.start <= t < w.end), None) for t in times)


def measurable(s: StageReport) -> bool:
    """A stage the traits, capacity and scaling may read: it ran whole and lost no request."""
    return s.completed and s.missing == 0


def target_ncpu(run: RunData) -> int | None:
    """The cores of the target's machine: this one's, or for a target elsewhere its host's as node
    exporter tells them; None where nothing tells."""
    sampler = run.meta.sampler
    if run.meta.config.observed:
        return sampler.ncpu
    return next((m.host_ncpu for m in sampler.metrics if m.host_ncpu), None)


def build_signals(
    run: RunData,
    stages: Sequence[StageReport],
    handoffs: HandoffSection,
    slo_percentile: float,
    gpu: Sequence[GpuDeviceStage] = (),
    gpu_available: bool = False,
    code: CodeSignals | None = None,
    server: ServerInfo | None = None,
) -> Signals:
    # Memory against work done: requests sent by each sample time.
    rss = run.samples.rss_series()
    sent = run.requests.started_by([t for t, _ in rss])
    tallies = run.tallies.values()
    dominant = handoffs.dominant
    light_shares = _light_shares(handoffs)
    code = code or CodeSignals()
    ncpu = target_ncpu(run)
    return Signals(
        # Only whole stages with every request on disk: a stage cut short, hung or missing rows
        # would pass its partial figures off as a measurement.
        stages=tuple(stage_signal(run, s, handoffs, slo_percentile) for s in stages if measurable(s)),
        ncpu=ncpu or 1,
        cores_known=ncpu is not None,
        processes=run.samples.processes_max(),
        rss_series=tuple((float(n), r) for n, (_, r) in zip(sent, rss, strict=True)),
        rss_times=tuple(t for t, _ in rss),
        rss_stages=_stage_at([t for t, _ in rss], run.stages),
        first_latencies=run.requests.first_latencies(FIRST_REQUESTS),
        ready_after_s=run.meta.target.ready_after_s,
        responses=sum(t.count for t in tallies),
        cookie_responses=sum(t.cookie for t in tallies),
        event_stream_responses=sum(t.event_stream for t in tallies),
        chunked_responses=sum(t.chunked for t in tallies),
        dominant_handoff=dominant,
        dominant_share=light_shares.get(dominant, handoffs.handoffs[dominant].share) if dominant else 0.0,
        handoff_shares=light_shares or {k: v.share for k, v in handoffs.handoffs.items()},
        gpu=tuple(gpu),
        gpu_available=gpu_available,
        blocking_on_loop_share=code.blocking_on_loop_share,
        idle_share=code.idle_share,
        top_function=code.top_function,
        blocking_function=code.blocking_function,
        work=_work(code),
        open_model=any(s.rate for s in stages),
        slo_percentile=slo_percentile,
        server=server,
        payload=route_payloads(run.requests, run.meta.format_version),
    )


def _work(code: CodeSignals) -> WorkSignal | None:
    if code.work_category is None or code.work_share is None or code.work_function is None:
        return None
    return WorkSignal(code.work_category, code.work_label or code.work_category, code.work_share,
                      code.work_on_cpu_share, code.work_function, code.work_largest)  # fmt: skip
