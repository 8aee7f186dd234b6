"""Rules on what the traffic shows: per-client state in cookies, and errors that rise with load."""

from __future__ import annotations

from profiler.analysis.figures.signals import Signals
from profiler.analysis.traits.common import load_text
from profiler.analysis.traits.evidence import ErrorsUnderLoad, Finding, StatefulSessions, finding
from profiler.analysis.traits.thresholds import ERRORS_HIGH, ERRORS_LOW
from profiler.runfolder.records import timed_out

# Confidence when only a cookie is seen: the cookie says the app tells clients apart, not that
# the server keeps state behind it (signed-cookie sessions keep none), so never above 0.5.
SESSION_CONFIDENCE = {True: 0.5, False: 0.4}  # by once_per_client


def stateful_sessions(signals: Signals) -> Finding[StatefulSessions] | None:
    if signals.cookie_responses == 0 or signals.responses == 0:
        return None
    share = signals.cookie_responses / signals.responses
    max_users = max((s.users or 0 for s in signals.stages), default=0)
    once_per_client = max_users > 0 and signals.cookie_responses <= 2 * max_users + 5
    summary = (
        f"The app set a cookie on {signals.cookie_responses} of {signals.responses} responses"
        + (" (once per client, then sent back)" if once_per_client else "")
        + ": it sets a per-client cookie; whether the server keeps state behind it is not known: "
        "signed-cookie sessions keep none."
    )
    evidence = StatefulSessions(
        cookie_responses=signals.cookie_responses,
        responses=signals.responses,
        share=share,
        once_per_client=once_per_client,
    )
    return finding(evidence, SESSION_CONFIDENCE[once_per_client], summary)


def _error_kind(top_kind: str) -> str:
    if top_kind in ("HTTP 503", "HTTP 429"):
        return "load shedding (503/429)"
    if timed_out(top_kind):
        return "timeouts"
    if top_kind.startswith("HTTP 5"):
        return "server errors"
    return top_kind


def errors_under_load(signals: Signals) -> Finding[ErrorsUnderLoad] | None:
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
    evidence = ErrorsUnderLoad(
        error_rate_light=light.error_rate,
        error_rate_max=worst.error_rate,
        onset_stage=onset.index,
        onset_users=onset.users,
        main_error=top_kind,
    )
    summary = (
        f"Errors rose with load: {light.error_rate:.1%} at light load, {worst.error_rate:.0%} at "
        f"{load_text(worst)} (above {ERRORS_HIGH:.0%} from {load_text(onset)}), mostly {top_kind} ({_error_kind(top_kind)})."
    )
    return finding(evidence, 0.6 + 0.35 * min(1.0, worst.error_rate / 0.5), summary)
