"""The burst playbook (the plan's `playbook`, docs/hosting-plan.md): normal, surge and emergency
operation read from a measured spike, not guessed from steady capacity.

- The spike: the largest step up of a shape run's timeline (this run's, or `profiler plan
  --burst SHAPE_RUN`'s). Its demand in requests per second: the arrivals it asked (open model), or
  its users times each user's rate before it (closed model: what it would have asked at the
  baseline's latency; the rate served under it is lower when the target queued).
- The queue bound (Little's law, L = lambda x W): at capacity an instance serves capacity_rps, so
  a request that may wait W = request timeout - p95 at capacity finds at most capacity_rps x W
  ahead of it; past that it would time out anyway, and is better refused at once.
- The lead time: restart-to-ready of one instance as measured (a --fault restart's, else the
  launch's); the platform's own (scheduling, image pull) comes on top and is not measured here.
- Warm spares: instances that must already run to absorb what the spike adds before a new one
  answers. A step (all at once) needs its whole jump covered; a ramp of several steps, what it
  adds within the lead time (slope x lead time).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from profiler.analysis.advice.rollout import RunFacts, restart_figures
from profiler.schema.events import Event
from profiler.schema.plan import BurstMode, Envelope, MeasuredSpike, Playbook, ShedRoute
from profiler.schema.routes import RouteReport


def _demand(e: Event, load: float, open_model: bool) -> float:
    """Requests per second asked at `load` (users or arrivals), per the module docstring."""
    if open_model:
        return load
    b = e.baseline
    per_user = b.rps / e.load_before if b is not None and e.load_before > 0 else 0.0
    return load * per_user if per_user else e.during.rps


def _ramps(events: Sequence[Event]) -> list[list[Event]]:
    """Runs of consecutive step-ups, each climbing from where the last left off (one: a step)."""
    out: list[list[Event]] = []
    for e in events:
        if e.kind != "step-up":
            if e.kind == "step-down" and out and out[-1]:
                out.append([])  # a step down ends a ramp
            continue
        if out and out[-1] and abs(e.load_before - out[-1][-1].load_after) < 1e-9:
            out[-1].append(e)
        else:
            out.append([e])
    return [r for r in out if r]


def measured_spike(facts: RunFacts) -> tuple[MeasuredSpike, float, float | None] | None:
    """The spike, its demand jump (rps) and its slope (rps a second; None: a step)."""
    if facts.events is None:
        return None
    ramps = _ramps(facts.events.events)
    if not ramps:
        return None
    ramp = max(ramps, key=lambda r: r[-1].load_after - r[0].load_before)
    first, peak = ramp[0], ramp[-1]
    before = (
        _demand(first, first.load_before, facts.open_model) if first.baseline is not None or facts.open_model else 0.0
    )
    demand = _demand(first, peak.load_after, facts.open_model)
    jump = max(0.0, demand - before)
    slope = jump / (peak.at_s - first.at_s) if len(ramp) > 1 and peak.at_s > first.at_s else None
    d = peak.during
    spike = MeasuredSpike(source=facts.folder, at_s=peak.at_s, load_before=first.load_before, load_after=peak.load_after,
                          demand_rps=round(demand, 3), served_rps=d.rps, p95_ms=d.p95_ms, max_in_flight=d.max_in_flight,
                          failed=peak.failed, shed=d.shed, recovery_s=peak.recovery_s)  # fmt: skip
    return spike, jump, slope


def _lead_time(this: RunFacts | None, spike_run: RunFacts | None) -> tuple[float | None, str | None]:
    for facts in (this, spike_run):
        _, ready = restart_figures(facts)
        if facts is not None and ready is not None:
            return ready, f"a --fault restart of {facts.folder} (started again until it answered)"
    for facts in (this, spike_run):
        if facts is not None and facts.ready_after_s is not None:
            return facts.ready_after_s, f"the launch of {facts.folder} (the process started until it answered)"
    return None, None


def shed_order(routes: Sequence[RouteReport]) -> list[ShedRoute]:
    if len(routes) < 2:
        return []
    ranked = sorted(routes, key=lambda r: (-(r.cpu_ms or 0.0), -(r.light_p50_ms or 0.0)))
    return [ShedRoute(route=r.route, cpu_ms=r.cpu_ms, p50_ms=r.light_p50_ms, share=r.share) for r in ranked]


def playbook(env: Envelope, usable: float, limit: int | None, timeout_s: float, this: RunFacts | None,
             spike_run: RunFacts | None, routes: Sequence[RouteReport]) -> Playbook:  # fmt: skip
    cap = env.capacity_rps
    queue = max(0, math.floor(cap * max(0.0, timeout_s - env.latency_p95_ms / 1000.0)))
    lead, lead_source = _lead_time(this, spike_run)
    found = measured_spike(spike_run) if spike_run is not None else None
    if found is None and this is not None:
        found = measured_spike(this)
    spike, spares = (found[0] if found else None), None
    slope = found[2] if found else None
    if found is not None and cap > 0:
        added = found[1] if slope is None or lead is None else min(found[1], slope * lead)
        spares = math.ceil(round(added / cap, 9))
    shed = shed_order(routes)
    surge_at = math.ceil(limit * usable) if limit else None
    seen = (f"; measured: from {spike.load_before:g} to {spike.load_after:g} it asked {spike.demand_rps:,.1f} rps and "
            f"got {spike.served_rps:,.1f} at p95 {spike.p95_ms or 0:,.0f} ms" if spike else "")  # fmt: skip
    keep = (f"; keep {spares} warm spare(s): a new instance answers {lead:.1f}s after it starts, plus the platform's own"
            if spares is not None and lead is not None else "")  # fmt: skip
    order = f"; shed {shed[0].route} first (the costliest per request)" if shed else ""
    modes = [
        BurstMode(mode="normal", from_rps=0.0, action="autoscale on the plan's signal; nothing to switch"),
        BurstMode(mode="surge", from_rps=round(cap * usable, 2), in_flight_from=surge_at,
                  action=f"the headroom is in use: scale out now, not at the signal's next reading{seen}{keep}"),
        BurstMode(mode="emergency", from_rps=round(cap, 2), in_flight_from=limit,
                  action=f"past capacity: queue at most {queue} per instance, refuse the rest at once (503 with "
                  f"Retry-After){order}"),
    ]  # fmt: skip
    return Playbook(spike=spike, queue_bound=queue, lead_time_s=lead, lead_time_source=lead_source,
                    spike_slope_rps_per_s=round(slope, 3) if slope is not None else None, warm_spares=spares,
                    modes=modes, shed_first=shed)  # fmt: skip
