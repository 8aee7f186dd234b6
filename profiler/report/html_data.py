"""The charts of report.html as plain data: x values, named series and marker lines, built from
the report and the run folder's samples. The page's script only draws what is here."""

from __future__ import annotations

import math
from typing import Any

from profiler.analysis.attribution.devices import gpu_timelines
from profiler.analysis.connections.fit import held_at
from profiler.analysis.transients.series import request_series
from profiler.base.config import MIB
from profiler.runfolder.read import RunData
from profiler.schema.report import Report, StageReport, UslFit

Chart = dict[str, Any]
CURVE_POINTS = 40  # the USL curve drawn between the measured loads


def _load(s: StageReport) -> float | None:
    return float(s.users) if s.users is not None else s.rate


def _drawn(report: Report) -> list[StageReport]:
    """Stages that are capacity points: whole, with every request on disk, without py-spy."""
    return [s for s in report.load.stages if s.completed and not s.missing and not s.profiled and _load(s)]


def _usl(fit: UslFit, n: float) -> float:
    return fit.lambda_ * n / (1 + fit.sigma * (n - 1) + fit.kappa * n * (n - 1))


def _series(label: str, values: list[float | None], color: str, **style: Any) -> dict[str, Any]:
    return {"label": label, "values": values, "color": color, **style}


def scaling_charts(report: Report) -> list[Chart]:
    """Throughput and latency against users (or offered rate): the measured stages, the USL
    curve where fitted, the knee and the capacity marked."""
    stages = sorted(_drawn(report), key=lambda s: _load(s) or 0.0)
    if not stages:
        return []
    measured = {float(_load(s) or 0.0): s for s in stages}
    cap = report.capacity
    usl = cap.usl if cap is not None and report.load.model == "closed" else None
    xs = set(measured)
    if usl is not None:
        top = max(xs) * 1.25
        xs |= {1 + (top - 1) * i / (CURVE_POINTS - 1) for i in range(CURVE_POINTS)}
    x = sorted(xs)
    unit = "users" if report.load.model == "closed" else "offered rps"
    at = [measured.get(v) for v in x]
    rps = [_series("rps (measured)", [s.rps if s else None for s in at], "#1f77b4", points=True)]
    if usl is not None:
        rps.append(_series(f"USL fit (R² {usl.r_squared:.2f})", [_usl(usl, v) for v in x], "#ff7f0e", dash=True))
    marks = []
    if cap is not None and cap.knee_users is not None and report.load.model == "closed":
        marks.append({"x": cap.knee_users, "label": f"knee {cap.knee_users} users", "color": "#d62728"})
    if cap is not None and cap.capacity_rps is not None and cap.capacity_stage is not None:
        stage = next((s for s in stages if s.index == cap.capacity_stage), None)
        if stage is not None:
            label = f"capacity {cap.capacity_rps:.1f} rps"
            marks.append({"x": _load(stage), "label": label, "color": "#2ca02c", "y": cap.capacity_rps})
    latency = [
        _series(name, [getattr(s.latency, name) if s else None for s in at], color, points=True)
        for name, color in (("p50", "#1f77b4"), ("p95", "#ff7f0e"), ("p99", "#d62728"))
    ]
    return [
        {"id": "throughput", "title": f"Throughput against {unit}", "x": x, "xlabel": unit, "ylabel": "rps",
         "series": rps, "marks": marks},
        {"id": "latency", "title": f"Latency against {unit}", "x": x, "xlabel": unit, "ylabel": "ms",
         "series": latency, "marks": marks},
    ]  # fmt: skip


def stage_latency_chart(report: Report) -> Chart | None:
    stages = [s for s in report.load.stages if s.requests]
    if not stages:
        return None
    x = [float(s.index) for s in stages]
    series = [
        _series(name, [getattr(s.latency, name) for s in stages], color, points=True)
        for name, color in (("p50", "#1f77b4"), ("p90", "#9467bd"), ("p95", "#ff7f0e"), ("p99", "#d62728"))
    ]
    return {"id": "stage-latency", "title": "Latency percentiles per stage", "x": x, "xlabel": "stage",
            "ylabel": "ms", "series": series, "marks": []}  # fmt: skip


def _boundaries(run: RunData, t0: float) -> list[dict[str, Any]]:
    marks = []
    for w in run.stages:
        load = f"{w.users}u" if w.users is not None else f"{w.rate:g}/s" if w.rate is not None else ""
        marks.append({"x": round(w.start - t0, 3), "label": f"{w.index}: {load}", "color": "#999999"})
    return marks


def timeline_charts(run: RunData) -> list[Chart]:
    """CPU, memory, threads and sockets of the target over time (and GPUs when sampled), with
    the stage boundaries drawn."""
    tl = run.samples.timeline()
    if not tl.t:
        return []
    t0 = run.stages[0].start if run.stages else tl.t[0]
    x = [round(t - t0, 3) for t in tl.t]
    marks = _boundaries(run, t0)
    charts: list[Chart] = []
    for cid, title, ylabel, series in (
        ("cpu", "Target CPU", "% of a core", [_series("cpu %", list(tl.cpu), "#1f77b4")]),
        ("rss", "Target resident memory", "MiB", [_series("RSS MiB", list(tl.rss_mb), "#2ca02c")]),
        (
            "threads",
            "Target threads and sockets",
            "count",
            [_series("threads", list(tl.threads), "#9467bd"), _series("sockets", list(tl.sockets), "#8c564b")],
        ),
    ):
        charts.append({"id": cid, "title": title, "x": x, "xlabel": "s", "ylabel": ylabel, "series": series,
                       "marks": marks})  # fmt: skip
    charts += _gpu_charts(run, t0, marks)
    return charts


def _gpu_charts(run: RunData, t0: float, marks: list[dict[str, Any]]) -> list[Chart]:
    charts: list[Chart] = []
    for label, rows in gpu_timelines(run.samples.device_rows).items():
        if not rows:
            continue
        step = max(1, -(-len(rows) // 2000))
        rows = rows[::step]
        x = [round(t - t0, 3) for t, _, _ in rows]
        series = [
            _series("SM util %", [u for _, u, _ in rows], "#d62728"),
            _series("memory MiB", [m for _, _, m in rows], "#17becf", axis="right"),
        ]
        cid = "gpu-" + label.lower().replace(" ", "-")
        charts.append({"id": cid, "title": label, "x": x, "xlabel": "s", "ylabel": "%", "series": series,
                       "marks": marks})  # fmt: skip
    return charts


def connection_charts(report: Report, run: RunData) -> list[Chart]:
    """A ws:// run's connections held over time, against the target's memory and against its open
    descriptors with their limit: the sample times, each joined with the connections held then."""
    if report.connections is None or not run.connections:
        return []
    arrays = run.samples.tree_arrays(("rss", "fds"))
    if not arrays["t"].size:
        return []
    t0 = run.stages[0].start if run.stages else float(arrays["t"][0])
    x = [round(float(t) - t0, 3) for t in arrays["t"]]
    held = _series("connections held", list(held_at(run.connections, arrays["t"])), "#1f77b4")
    rss = _series("RSS MiB", list(arrays["rss"] / MIB), "#2ca02c", axis="right")
    fds = [held, _series("open fds", list(arrays["fds"]), "#8c564b", axis="right")]
    if report.connections.fd_limit:
        fds.append(_series(f"fd limit {report.connections.fd_limit}",
                           [float(report.connections.fd_limit)] * len(x), "#d62728", axis="right", dash=True))  # fmt: skip
    marks = _boundaries(run, t0)
    return [
        {"id": "connections-memory", "title": "Connections held and the target's memory", "x": x, "xlabel": "s",
         "ylabel": "connections", "series": [held, rss], "marks": marks},
        {"id": "connections-fds", "title": "Connections held and the target's open descriptors", "x": x,
         "xlabel": "s", "ylabel": "connections", "series": fds, "marks": marks},
    ]  # fmt: skip


def _finite(value: Any) -> Any:
    """The data with every NaN or infinity as null: JSON has no such numbers, and a chart skips nulls."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


EVENT_COLOR = {"step-up": "#d62728", "step-down": "#1f77b4", "restart": "#8c564b", "reload": "#9467bd",
               "kill-worker": "#e377c2", "pause": "#ff7f0e"}  # fmt: skip


def _event_marks(report: Report) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A marker per event at its start; shaded, the event itself and its recovery (to the moment
    it recovered, or the whole time watched when it did not)."""
    assert report.events is not None
    marks, bands = [], []
    for e in report.events.events:
        color = EVENT_COLOR.get(e.kind, "#7f7f7f")
        marks.append({"x": e.at_s, "label": e.label or e.kind, "color": color})
        watched = (e.recovery_s or 0.0) if e.recovered else (e.watched_s or 0.0) if e.recovered is False else 0.0
        bands.append({"from": e.at_s, "to": round(max(e.until_s + watched, e.at_s), 3), "color": color,
                      "label": "recovered" if e.recovered else "not recovered" if e.recovered is False else ""})  # fmt: skip
    return marks, bands


def event_charts(report: Report, run: RunData) -> list[Chart]:
    """A timeline's requests over time (latency, throughput and errors, in flight), each with the
    events marked and their recovery shaded."""
    if report.events is None or not report.events.events or not run.stages:
        return []
    t0, end = run.stages[0].start, run.stages[-1].end
    rs = request_series(run.requests.span(t0, end), t0, end)
    marks, bands = _event_marks(report)
    return [
        {"id": cid, "title": title, "x": rs.x, "xlabel": "s", "ylabel": ylabel, "series": series, "marks": marks,
         "bands": bands}
        for cid, title, ylabel, series in (
            ("events-latency", "Timeline: latency of the requests started", "ms",
             [_series("p95 ms", list(rs.p95_ms), "#ff7f0e")]),
            ("events-throughput", "Timeline: responses and failures a second", "per s",
             [_series("ok/s", list(rs.ok_per_s), "#2ca02c"), _series("failed/s", list(rs.failed_per_s), "#d62728")]),
            ("events-in-flight", "Timeline: requests in flight", "requests",
             [_series("in flight", [float(v) for v in rs.in_flight], "#1f77b4")]),
        )
    ]  # fmt: skip


def charts(report: Report, run: RunData) -> list[Chart]:
    found = [*scaling_charts(report), *connection_charts(report, run), *event_charts(report, run)]
    per_stage = stage_latency_chart(report)
    if per_stage is not None:
        found.append(per_stage)
    return [_finite(c) for c in found + timeline_charts(run)]
