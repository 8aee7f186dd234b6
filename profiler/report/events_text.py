"""A shape run's events as lines: one per event, for the terminal and the Markdown summary."""

from __future__ import annotations

from profiler.report.text_table import TextTable
from profiler.schema.events import Event
from profiler.schema.report import Report


def _load(value: float, open_model: bool) -> str:
    return f"{value:g}/s" if open_model else f"{value:g} users"


def _short(process: str | None) -> str:
    """A process as a few words: programs by their name, not their path."""
    words = (process or "?").split(" (pid")[0].split()
    return " ".join(w.rsplit("/", 1)[-1] if w.startswith("/") else w for w in words[:6])[:60]


def _restart(e: Event) -> str:
    r = e.restart
    if r is None:
        return ""
    ready = f"answered {r.ready_after_s:.1f}s after its start" if r.ready_after_s is not None else "never answered"
    return (f"; down {r.down_s:.1f}s (stopped {r.stopped_after_s:.1f}s after SIGTERM"
            + (", SIGKILLed" if r.killed else "") + f", {ready}), {r.in_flight_failed} of {r.in_flight} in flight failed")  # fmt: skip


def event_line(e: Event, open_model: bool) -> str:
    d, b = e.during, e.baseline
    if e.label:  # a fault: what was asked, and which process it acted on
        head = f"{e.label} on {_short(e.process)}"
    else:
        head = f"{e.kind} at {e.at_s:.1f}s ({_load(e.load_before, open_model)} -> {_load(e.load_after, open_model)})"
    p95 = f"p95 {d.p95_ms:.1f} ms" if d.p95_ms is not None else "no request"
    base = f" (baseline {b.p95_ms:.1f} ms)" if b is not None and e.kind != "step-down" else ""
    costs = f"{e.failed} failed, {e.lost} lost" + (f", {d.shed} shed (429/503)" if d.shed else "")
    down = f", unavailable {e.unavailable_s:.1f}s" if e.unavailable_s else ""
    if e.recovered is None:
        rec = ""
    elif e.recovered:
        rec = f"; recovered in {e.recovery_s:.1f}s"
    else:
        rec = f"; NOT recovered within {e.watched_s:.0f}s"
    return (
        f"{head}: {p95}{base}, max {d.max_ms or 0:.0f} ms, {d.max_in_flight} in flight, {costs}{down}{_restart(e)}{rec}"
    )


def event_lines(report: Report) -> list[str]:
    if report.events is None or not report.events.events:
        return []
    s = report.events
    open_model = report.load.model == "open"
    rule = (f"Timeline (recovered: p95 over {s.recovery_window_s:g}s windows within {s.recovery_factor:g}x the "
            f"baseline's and in flight back; no capacity figure from a timeline; docs/transients.md)")  # fmt: skip
    return [rule, *(f"  {event_line(e, open_model)}" for e in s.events)]


def event_table(report: Report) -> TextTable | None:
    """The events as a table (the HTML report's timeline section)."""
    if report.events is None or not report.events.events:
        return None
    open_model = report.load.model == "open"
    rows = tuple(
        (e.kind, f"{e.at_s:.1f}", f"{_load(e.load_before, open_model)} -> {_load(e.load_after, open_model)}",
         f"{e.baseline.p95_ms:.1f}" if e.baseline else "-", f"{e.during.p95_ms:.1f}" if e.during.p95_ms else "-",
         str(e.during.max_in_flight), str(e.failed), str(e.lost), str(e.during.shed), f"{e.unavailable_s:.1f}",
         "-" if e.recovered is None else (f"{e.recovery_s:.1f}" if e.recovered else f"not in {e.watched_s:.0f}s"))
        for e in report.events.events
    )  # fmt: skip
    cols = ("event", "at s", "load", "baseline p95 ms", "p95 ms", "in flight", "failed", "lost", "shed",
            "unavailable s", "recovery s")  # fmt: skip
    return TextTable("Timeline: events", cols, rows, (event_lines(report)[0],))
