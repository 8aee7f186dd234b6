"""The hosting plan in words: the "Hosting plan" block of the terminal, `profiler plan` and the
HTML report (one renderer of report.json's `plan`)."""

from __future__ import annotations

from profiler.analysis.advice.rollout import MAX_SURGE, MAX_UNAVAILABLE
from profiler.schema.plan import PlanSection


def _money(value: float) -> str:
    return f"{value:,.4f}" if value < 1 else f"{value:,.2f}"


def envelope_line(plan: PlanSection) -> str:
    e = plan.envelope
    parts = [f"{e.capacity_rps:g} rps at p95 {e.latency_p95_ms:.1f} ms (stage {e.stage}"
             + (f", {e.users} in flight)" if e.users else ")")]  # fmt: skip
    if e.cores_used is not None:
        parts.append(f"{e.cores_used:.2f} cores" + (f" of {e.cores_available:g}" if e.cores_available else ""))
    if e.rss_mb is not None:
        per = f" ({e.rss_mb_per_worker:.0f} MiB x {e.workers} workers)" if e.workers and e.workers > 1 else ""
        parts.append(f"{e.rss_mb:.0f} MiB{per}")
    if e.gpu_memory_mb is not None:
        parts.append(f"{e.gpu_memory_mb:.0f} MiB of GPU memory")
    if e.sockets is not None:
        parts.append(f"{e.sockets} sockets")
    return "Per instance at capacity: " + ", ".join(parts)


def _cost_lines(plan: PlanSection) -> list[str]:
    c = plan.cost
    if c is None:
        return ["Cost: give --price 0.17/h (one instance) or --catalog shapes.toml: the profiler invents no price"]
    lines = []
    if c.per_hour is not None and c.per_month is not None:
        lines.append(f"Cost: {_money(c.per_hour)}/h, {_money(c.per_month)}/month for the fleet")
    if c.per_million_requests is not None:
        lines.append(f"Cost per 1M requests: {_money(c.per_million_requests)} at the planned utilisation")
    for shape in c.shapes[:4]:
        if shape.per_shape <= 0:
            lines.append(f"  {shape.name}: too small for one instance (its {shape.limited_by})")
            continue
        count = f", {shape.count} for the peak = {_money(shape.cost_per_hour or 0)}/h" if shape.count else ""
        lines.append(f"  {shape.name}: {shape.per_shape} per shape (bound by {shape.limited_by}){count}, "
                     f"{_money(shape.cost_per_million or 0)} per 1M requests")  # fmt: skip
    if c.cheapest:
        lines.append(f"Cheapest shape for this app: {c.cheapest}")
    return lines


def plan_lines(plan: PlanSection | None) -> list[str]:
    """The block, one fact a line."""
    if plan is None:
        return []
    lines = ["Hosting plan", envelope_line(plan)]
    f = plan.fleet
    if f is not None:
        extra = "".join(
            part
            for part in (
                f", {f.cores_total:g} cores" if f.cores_total is not None else "",
                f", {f.memory_gb_total:g} GB" if f.memory_gb_total is not None else "",
            )
        )
        lines.append(f"Fleet for {f.peak_rps:g} rps with {f.headroom:.0%} spare: {f.instances} instances "
                     f"({f.utilisation_at_peak:.0%} busy at the peak){extra}")  # fmt: skip
    else:
        lines.append("Fleet: give --peak-rps to size it")
    lines.extend(_cost_lines(plan))
    e = plan.energy
    if e is not None and e.joules_per_request is not None:
        how = (f"estimate: {e.cpu_seconds_per_request:.4g} core-s x {e.watts_per_core:g} W per core"
               if e.cpu_source == "estimate" else "measured")  # fmt: skip
        lines.append(f"Energy: {e.joules_per_request:.4g} J per request, {e.joules_per_1k:.4g} J per 1,000 ({how})")
    a = plan.autoscaling
    if a is not None:
        sep = "" if a.unit.startswith("%") else " "
        lines.append(f"Autoscale on {a.signal} at {a.target:g}{sep}{a.unit}: {a.reason}")
    surge = next((b for b in plan.burst if b.mode == "surge"), None)
    emergency = next((b for b in plan.burst if b.mode == "emergency"), None)
    if surge is not None and emergency is not None:
        limit = f", shed past {plan.concurrency_limit} in flight" if plan.concurrency_limit else ""
        lines.append(f"Burst: surge from {surge.from_rps:g} rps, emergency from {emergency.from_rps:g} rps per "
                     f"instance{limit}; request timeout {plan.request_timeout_s:g} s")  # fmt: skip
    lines.extend(playbook_lines(plan))
    if plan.server is not None and plan.server.command:
        lines.append(f"Server: {plan.server.command}")
    elif plan.server is not None:
        lines.extend(plan.server.notes)
    r = plan.rollout
    if r is not None:
        ready = (
            f"answers {r.ready_after_s:.1f}s after it starts" if r.ready_after_s is not None else "start time not known"
        )
        drain = f", stops {r.stopped_after_s:.1f}s after SIGTERM" if r.stopped_after_s is not None else ""
        flag = f"{r.server_flag}, " if r.server_flag else ""
        lines.append(f"Rollout: one instance {ready}{drain}: {flag}readiness probe on {r.readiness_path}, preStop sleep "
                     f"{r.prestop_s}s, terminationGracePeriodSeconds {r.termination_grace_period_s}, "
                     f"maxUnavailable {MAX_UNAVAILABLE}, maxSurge {MAX_SURGE}")  # fmt: skip
    return lines


def playbook_lines(plan: PlanSection) -> list[str]:
    """The burst playbook: the spike it was read from, then a line per mode."""
    p = plan.playbook
    if p is None:
        return []
    lines = []
    if p.spike is not None:
        s = p.spike
        lines.append(f"Burst playbook from the spike at {s.at_s:.0f}s of {s.source} ({s.load_before:g} -> "
                     f"{s.load_after:g}): asked {s.demand_rps:,.1f} rps, served {s.served_rps:,.1f} at p95 "
                     f"{s.p95_ms or 0:,.0f} ms, {s.failed} failed ({s.shed} shed)")  # fmt: skip
    else:
        lines.append("Burst playbook (no spike measured: give --burst RUN of a --shape run)")
    if p.lead_time_s is not None:
        spares = f"; warm spares for the spike: {p.warm_spares}" if p.warm_spares is not None else ""
        lines.append(f"  lead time {p.lead_time_s:.1f}s ({p.lead_time_source}){spares}; queue bound {p.queue_bound}")
    for m in p.modes:
        at = f" / {m.in_flight_from} in flight" if m.in_flight_from is not None else ""
        lines.append(f"  {m.mode} from {m.from_rps:g} rps{at}: {m.action}")
    return lines
