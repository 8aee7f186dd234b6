"""What limits a comparison, in words: a run that is not valid or ended early, a stage cut short
(left out), a stage too small for its percentiles, two different endpoints or load models."""

from __future__ import annotations

from urllib.parse import urlsplit

from profiler.analysis.digest import measurable
from profiler.analysis.validity import STEAL_PCT
from profiler.compare.loads import stage_words
from profiler.compare.metrics import STAGE_BY_NAME
from profiler.schema.report import Report, StageReport

FEW_REQUESTS = 30  # fewer requests than this in a stage: its p95/p99 rest on a handful of values
_WHOLE_RUN = ("completed", "saturated")


def comparable(report: Report) -> dict[tuple[str, float], StageReport]:
    """Whole stages without the profiler's cost (py-spy's stage), by load (the first, when a load
    ran twice): the only stages a comparison matches."""
    out: dict[tuple[str, float], StageReport] = {}
    for s in report.load.stages:
        key = ("users", float(s.users)) if s.users is not None else ("rate", s.rate) if s.rate is not None else None
        if key is not None and measurable(s) and not s.profiled:
            out.setdefault(key, s)
    return out


TIMING_STEAL = STAGE_BY_NAME["p95"].steal_factor
CPU_STEAL = STAGE_BY_NAME["cpu_ms_per_request"].steal_factor


def _run_notes(label: str, r: Report) -> list[str]:
    notes = []
    errors = [i.message for i in r.validity.issues if i.severity == "error"]
    if errors or not r.validity.valid:
        notes.append(f"the {label} run is not valid: {errors[0] if errors else 'see its report'}")
    if r.run.status not in _WHOLE_RUN:
        why = f" ({r.run.stop_reason})" if r.run.stop_reason else ""
        notes.append(f"the {label} run ended early: {r.run.status}{why}")
    cut = [s for s in r.load.stages if not s.profiled and not measurable(s)]
    if cut:
        said = ", ".join(f"{stage_words(s)} ({s.cut_short or f'{s.missing} requests lost'})" for s in cut)
        notes.append(f"the {label} run's stages at {said} are not whole and were left out")
    steal = [f"{stage_words(s)} ({s.machine_steal_pct:.1f}%)" for s in comparable(r).values()
             if s.machine_steal_pct is not None and s.machine_steal_pct >= STEAL_PCT]  # fmt: skip
    if steal:
        notes.append(f"the {label} run's machine lost CPU to its hypervisor (steal) at {', '.join(steal)}: a change "
                     f"in those stages' timings under {TIMING_STEAL:g}x the steal (CPU per request: {CPU_STEAL:g}x) is "
                     "marked unknown")  # fmt: skip
    few = [stage_words(s) for s in comparable(r).values() if s.requests < FEW_REQUESTS]
    if few:
        notes.append(f"the {label} run has under {FEW_REQUESTS} requests at {', '.join(few)}: percentiles are shaky")
    return notes


def _endpoint(r: Report) -> tuple[str, str]:
    """Method and path (the host and port differ between two launches of one app)."""
    parts = urlsplit(r.target.url)
    return r.target.method.upper(), parts.path or "/"


def comparison_notes(base: Report, new: Report) -> list[str]:
    notes = _run_notes("base", base) + _run_notes("new", new)
    if _endpoint(base) != _endpoint(new):
        b, n = base.target, new.target
        notes.append(f"the runs loaded different endpoints ({b.method} {b.url} and {n.method} {n.url})")
    if base.load.model != new.load.model:
        notes.append("one run is a closed model (users), the other open (rates): no stage can be matched")
    return notes
