"""Per-stage load figures: the engine's tally of each stage's requests and its samples' window."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from profiler.base.config import MIB
from profiler.runfolder.engine import Distribution, StageTally, WindowFigures
from profiler.runfolder.engine.streams import StreamTally, stream_tallies
from profiler.runfolder.read import RunData, StageWindow
from profiler.runfolder.records import error_kind
from profiler.schema.report import LatencyStats, StageReport, StreamStats


def latency_stats(d: Distribution) -> LatencyStats:
    return LatencyStats(count=d.count, mean=d.mean, p50=d.p50, p90=d.p90, p95=d.p95, p99=d.p99, max=d.max)


_NO_REQUESTS = Distribution(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


def error_kinds(errors: dict[str, int]) -> dict[str, int]:
    """Failures by kind (timeout, refused, reset, body-cut, http-5xx...), most frequent first."""
    kinds: Counter[str] = Counter()
    for name, n in errors.items():
        kinds[error_kind(name)] += n
    return dict(kinds.most_common())


def stream_stats(t: StreamTally | None, measured_s: float) -> StreamStats | None:
    if t is None:
        return None
    return StreamStats(
        streamed=t.streamed, first_chunk_p50_ms=t.first_chunk_p50, first_chunk_p95_ms=t.first_chunk_p95,
        gap_p50_ms=t.gap_p50, gap_p95_ms=t.gap_p95, gap_max_ms=t.gap_max,
        chunks_per_s=1000.0 / t.gap_p50 if t.gap_p50 else None, chunks_mean=t.chunks_mean,
        duration_p50_ms=t.duration_p50, first_token_p50_ms=t.first_token_p50, first_token_p95_ms=t.first_token_p95,
        itl_p50_ms=t.itl_p50, itl_p95_ms=t.itl_p95, tokens=t.tokens,
        tokens_per_response=t.tokens / t.token_responses if t.token_responses else None,
        tokens_per_s=t.tokens / measured_s if t.token_responses and measured_s > 0 else None,
    )  # fmt: skip


def _io_per_request(figures: WindowFigures, answered: int) -> dict[str, float | None]:
    """The tree's I/O in the window over the responses that came in it: bytes per request."""
    pairs = (("disk_read", figures.disk_read), ("disk_write", figures.disk_write), ("io_read", figures.io_read),
             ("io_write", figures.io_write))  # fmt: skip
    return {
        f"{name}_per_request": round(value / answered, 1) if value is not None and answered else None
        for name, value in pairs
    }


def stage_report(
    window: StageWindow,
    tally: StageTally | None,
    figures: WindowFigures,
    profiled: bool,
    completed: tuple[int, int],
    stream: StreamTally | None = None,
) -> StageReport:
    """One stage's figures. `completed`: the responses, and the successful ones, that came within
    the stage's window (throughput); everything else is of the requests the stage sent."""
    n = tally.count if tally else 0
    failed = tally.failed if tally else 0
    unsent = tally.unsent if tally else 0
    measured = window.measured_s
    answered, ok = completed
    # The accounting invariant: every request the generator started is a row, once.
    missing = max(0, window.started - n - unsent) if window.started is not None else 0
    return StageReport(
        index=window.index,
        users=window.users,
        rate=window.rate,
        measured_s=round(measured, 3),
        completed=window.cut_short is None,
        cut_short=window.cut_short,
        started=window.started,
        missing=missing,
        requests=n,
        offered_rps=(n + unsent) / measured,
        rps=answered / measured,
        ok_rps=ok / measured,
        unsent=unsent,
        in_flight_at_end=window.in_flight_at_end,
        latency=latency_stats(tally.latency if tally else _NO_REQUESTS),
        ttfb=latency_stats(tally.ttfb if tally else _NO_REQUESTS),
        # The app's error rate: of the requests sent. Arrivals the generator could not send are the
        # generator's failure (counted in `unsent`, judged by validity), not the app's.
        error_rate=failed / n if n else 0.0,
        errors=dict(list(tally.errors.items())[:10]) if tally else {},
        error_kinds=error_kinds(tally.errors) if tally else {},
        statuses={str(k): v for k, v in sorted(tally.statuses.items())} if tally else {},
        bytes_per_request=tally.bytes_total / n if tally and n else 0.0,
        probe=latency_stats(tally.probe) if tally and tally.probe else None,
        stream=stream_stats(stream, measured),
        target_cpu_pct=figures.cpu_mean,
        target_cpu_max_pct=figures.cpu_max,
        target_busiest_process_cpu_pct=figures.busiest_cpu,
        target_rss_mb=figures.rss_max / MIB if figures.rss_max is not None else None,
        target_threads=int(figures.threads_max) if figures.threads_max is not None else None,
        target_sockets=int(figures.sockets_max) if figures.sockets_max is not None else None,
        **_io_per_request(figures, answered),
        loadgen_cpu_pct=figures.loadgen_cpu_mean,
        loadgen_busiest_cpu_pct=figures.loadgen_busiest_mean,
        machine_cpu_pct=figures.machine_cpu_mean,
        machine_steal_pct=figures.machine_steal_mean,
        server_timing_coverage=tally.timed / n if tally and n else 0.0,
        profiled=profiled,
    )


def _cut_reason(run: RunData, w: StageWindow) -> StageWindow:
    """The generator only knows it was stopped; the run knows why (the target died)."""
    if run.meta.status == "target-exited" and w.cut_short in ("interrupted", "run ended inside it"):
        return replace(w, cut_short="target exited")
    return w


def stage_reports(run: RunData) -> list[StageReport]:
    profiled = set(run.meta.profiled_stages)
    completed = run.requests.completed_in([(w.start, w.end) for w in run.stages])
    streams = stream_tallies(run.requests)
    return [
        stage_report(
            _cut_reason(run, w),
            run.tally(w.index),
            run.samples.window(w.start, w.end),
            w.profiled or w.index in profiled,
            done,
            streams.get(w.index),
        )
        for w, done in zip(run.stages, completed, strict=True)
    ]
