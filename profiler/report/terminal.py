"""The report as plain tables (titles, headers, rows of strings): pure, no printing.

`profiler.run.console` turns these into Rich tables; tests read them directly.
"""

from __future__ import annotations

from collections.abc import Sequence

from profiler.analysis.figures.server import server_line
from profiler.report.connections_text import connection_lines, connections_table
from profiler.report.events_text import event_lines
from profiler.report.payload_text import payload_table
from profiler.report.plan_text import plan_lines
from profiler.report.text_table import TextTable as TextTable  # re-exported: the tables' type
from profiler.report.text_table import fmt
from profiler.schema.report import CapacitySection, Report, ValidityIssue
from profiler.schema.verdicts import CheckResult, Comparison

_f = fmt


# The columns kept when the terminal is narrow (80 columns): load, volume, speed, latency, errors, CPU.
COMPACT = ("stage", "users", "rate/s", "req", "rps", "p50 ms", "p95 ms", "p99 ms", "err %", "cpu %")


def compact(table: TextTable) -> TextTable:
    """The same table with only the COMPACT columns, saying where the rest is."""
    keep = [i for i, c in enumerate(table.columns) if c in COMPACT]
    rows = tuple(tuple(row[i] for i in keep) for row in table.rows)
    notes = (*table.notes, "narrow terminal: max, ttfb, probe, rss and generator CPU are in report.json (or widen it)")
    return TextTable(table.title, tuple(table.columns[i] for i in keep), rows, notes)


def stage_table(report: Report) -> TextTable:
    open_model = report.load.model == "open"
    cols = (
        "stage",
        "rate/s" if open_model else "connections" if report.connections else "users",
        "req",
        "rps",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "max ms",
        "ttfb p50",
        "err %",
        "probe p50",
        "cpu %",
        "rss MiB",
        "gen cpu %",
    )
    rows = []
    for s in report.load.stages:
        rows.append(
            (
                f"{s.index}{'*' if s.profiled else ''}{'' if s.completed else f' (cut: {s.cut_short})'}",
                _f(s.rate, "{:g}") if open_model else str(s.users or "-"),
                str(s.requests),
                _f(s.rps),
                _f(s.latency.p50),
                _f(s.latency.p95),
                _f(s.latency.p99),
                _f(s.latency.max),
                _f(s.ttfb.p50),
                _f(s.error_rate * 100),
                _f(s.probe.p50 if s.probe else None),
                _f(s.target_cpu_pct, "{:.0f}"),
                _f(s.target_rss_mb, "{:.0f}"),
                _f(s.loadgen_cpu_pct, "{:.0f}"),
            )
        )
    notes = ["* py-spy attached during this stage"] if any(s.profiled for s in report.load.stages) else []
    return TextTable("Load stages", cols, tuple(rows), tuple(notes))


def handoff_table(report: Report) -> TextTable | None:
    h = report.handoffs
    if not h.handoffs and h.unattributed is None:
        return None
    rows = [
        (
            name + (" (dominant)" if name == h.dominant else ""),
            _f(st.p50_ms, "{:.2f}"),
            _f(st.p95_ms, "{:.2f}"),
            _f(st.share * 100),
        )
        for name, st in h.handoffs.items()
    ]
    if h.unattributed is not None:
        u = h.unattributed
        rows.append(("unattributed (queue/network)", _f(u.p50_ms, "{:.2f}"), _f(u.p95_ms, "{:.2f}"), _f(u.share * 100)))
    notes = [f"{h.coverage:.0%} of requests carried Server-Timing; shares are over the whole run"]
    if h.dominant is not None and h.per_stage:
        light = min(h.per_stage, key=lambda ps: (ps.users or 0, ps.stage))
        load = f"{light.users} user{'s' if light.users != 1 else ''}" if light.users else f"stage {light.stage}"
        # Under load, queueing swamps every share: which handoff dominates is read at light load.
        notes.append(f"dominant: the largest share at the lightest load ({load})")
    if h.malformed_entries:
        notes.append(f"{h.malformed_entries} malformed Server-Timing entries skipped")
    return TextTable("Handoffs (Server-Timing)", ("handoff", "p50 ms", "p95 ms", "share %"), tuple(rows), tuple(notes))


def trait_table(report: Report) -> TextTable | None:
    if not report.traits:
        return None
    rows = [
        (
            t.id + (f" [{t.subject}]" if t.subject else ""),
            f"{t.confidence:.2f}" + (" (low)" if t.confidence < 0.5 else ""),
            t.evidence.summary,
        )
        for t in report.traits
    ]
    return TextTable("Behavioural traits", ("trait", "confidence", "evidence"), tuple(rows))


def where_time_table(report: Report) -> TextTable | None:
    """The whole run's profiled time by category of work, largest first (py-spy's stacks)."""
    w = report.where_time_goes.overall
    if not report.where_time_goes.available or w is None or not w.categories:
        return None
    rows = tuple(
        (
            c.label,
            f"{c.share * 100:.0f}",
            _f(c.on_cpu_share * 100 if c.on_cpu_share is not None else None, "{:.0f}", "not told"),
            c.top_function or "-",
            c.called_from or "-",
        )
        for c in w.categories[:8]
    )
    notes = (f"{w.working_samples} working thread samples, {w.idle_share:.0%} of all idle (parked threads)", w.method)
    return TextTable(
        "Where the time goes (py-spy stacks by category)",
        ("category", "share %", "on CPU %", "function", "called from"),
        rows,
        notes,
    )


def beside_table(report: Report) -> TextTable | None:
    """The stacks' split between categories of work beside the app's own Server-Timing, where both."""
    b = report.where_time_goes.server_timing
    if b is None:
        return None
    rows = tuple((r.label, ", ".join(r.handoffs), f"{r.server_timing_share * 100:.0f}", f"{r.stacks_share * 100:.0f}")
                 for r in b.rows)  # fmt: skip
    notes = [f"shares among the categories both accounts name; largest gap {b.largest_gap * 100:.0f} points"]
    if b.unmatched:
        notes.append(f"Server-Timing entries no category claims: {', '.join(b.unmatched)} ([tool.profiler.categories])")
    return TextTable(f"Where the time goes: the stacks beside Server-Timing (stage {b.stage})",
                     ("category", "Server-Timing entries", "Server-Timing %", "stacks %"), rows, tuple(notes))  # fmt: skip


def route_table(report: Report) -> TextTable | None:
    """One line per route when the run had several: each at the heaviest whole stage."""
    if len(report.routes) < 2:
        return None
    rows, heaviest = [], None
    for r in report.routes:
        whole = [s for s in r.stages if s.completed and s.requests]
        top = max(whole, key=lambda s: (s.users or 0, s.stage)) if whole else None
        heaviest = heaviest or (top.users if top else None)
        cpu = _f(r.cpu_ms, "{:.2f}") + (f"±{r.cpu_ms_error:.2f}" if r.cpu_ms is not None and r.cpu_ms_error else "")
        traits = ", ".join(t.id + (f" [{t.subject}]" if t.subject else "") for t in r.traits) or "-"
        rows.append((r.route or "(the URL)", _f(r.share * 100, "{:.0f}"), str(r.requests),
                     _f(top.rps if top else None), _f(top.p50_ms if top else None), _f(top.p95_ms if top else None),
                     _f(top.error_rate * 100 if top else None), cpu, _f(r.capacity_rps), traits))  # fmt: skip
    notes = [
        f"rps and latency at the heaviest whole stage ({heaviest} users); every stage is in report.json",
        "cpu: the target's CPU per request, fitted at the lightest stage from its CPU against each route's"
        " time in flight (docs/traits.md)",
    ]
    if report.capacity and report.capacity.capacity_rps:
        notes.append(f"cap rps: each route's share of the mix's capacity ({report.capacity.capacity_rps:.1f} rps)")
    cols = ("route", "mix %", "req", "rps", "p50 ms", "p95 ms", "err %", "cpu ms/req", "cap rps", "traits")
    return TextTable("Routes", cols, tuple(rows), tuple(notes))


def stream_table(report: Report) -> TextTable | None:
    """Streamed responses per stage, when any stage had some."""
    stages = [(s, s.stream) for s in report.load.stages if s.stream is not None]
    if not stages:
        return None
    tokens = any(st.tokens for _, st in stages)
    rows = [
        (
            str(s.index),
            _f(s.users, "{:d}"),
            str(st.streamed),
            _f(st.first_chunk_p50_ms),
            _f(st.first_token_p50_ms),
            _f(st.gap_p50_ms),
            _f(st.gap_p95_ms),
            _f(st.gap_max_ms),
            _f(st.itl_p50_ms),
            _f(st.chunks_per_s),
            _f(st.tokens_per_s),
        )  # fmt: skip
        for s, st in stages
    ]
    cols = ("stage", "users", "streams", "1st chunk ms", "1st token ms", "gap p50", "gap p95", "gap max", "itl p50",
            "chunks/s", "tok/s")  # fmt: skip
    notes = ["gaps: between chunks (events) of one response, ms; 1st chunk/token: from the send"]
    if tokens:
        notes.append("tokens: OpenAI-style stream, counted from its usage field (else one per chunk with text)")
    return TextTable("Streams", cols, tuple(rows), tuple(notes))


def route_stage_table(report: Report) -> TextTable | None:
    """Every route at every stage (report.html and report.json keep it; the terminal the summary)."""
    if len(report.routes) < 2:
        return None
    rows = [
        (
            r.route,
            str(s.stage),
            _f(s.users, "{:d}"),
            str(s.requests),
            _f(s.rps),
            _f(s.p50_ms),
            _f(s.p95_ms),
            _f(s.p99_ms),
            _f(s.error_rate * 100),
            "" if s.completed else "cut short",
        )  # fmt: skip
        for r in report.routes
        for s in r.stages
    ]
    cols = ("route", "stage", "users", "req", "rps", "p50 ms", "p95 ms", "p99 ms", "err %", "note")
    return TextTable("Routes by stage", cols, tuple(rows))


def route_trait_table(report: Report) -> TextTable | None:
    rows = [
        (r.route, t.id + (f" [{t.subject}]" if t.subject else ""), f"{t.confidence:.2f}", t.evidence.summary)
        for r in report.routes
        for t in r.traits
    ]
    if len(report.routes) < 2 or not rows:
        return None
    return TextTable("Traits per route", ("route", "trait", "confidence", "evidence"), tuple(rows))


def recommendation_table(report: Report) -> TextTable | None:
    if not report.recommendations:
        return None
    rows = [(r.id, r.action, r.rationale) for r in report.recommendations]
    return TextTable("Recommendations", ("id", "action", "why"), tuple(rows))


def _capacity_cause(c: CapacitySection) -> str:
    if c.limited_by == "generator":
        return f" — the load generator was the limit from stage {c.limiting_stage}, not the target"
    return (" — still scaling at the heaviest stage tested" if c.capacity_is_lower_bound else "") + (
        f"; stage {c.limiting_stage} exceeded it on {c.limited_by}" if c.limited_by else ""
    )


def capacity_lines(report: Report) -> list[str]:
    c = report.capacity
    if c is None:
        return []
    lines = []
    if c.capacity_rps is not None:
        bound = "at least " if c.capacity_is_lower_bound else ""
        lines.append(
            f"Capacity per instance: {bound}{c.capacity_rps:.1f} rps at {c.slo or c.slo_basis}"
            f" (stage {c.capacity_stage}, {c.capacity_users or '-'} users)" + _capacity_cause(c)
        )
    elif c.latency_limit_ms is None:
        lines.append(f"Capacity: {c.slo_basis}")
    else:
        lines.append(
            f"Capacity: no stage met {c.slo or c.slo_basis}" + (f" (limited by {c.limited_by})" if c.limited_by else "")
        )
    if c.usl is not None:
        u = c.usl
        lines.append(
            f"Scaling law (USL, {u.quality} fit, R²={u.r_squared:.2f}): sigma={u.sigma:.3f} kappa={u.kappa:.4f}"
            + (f", peak {u.peak_rps:.0f} rps at N*={u.n_star:.0f}" if u.peak_rps and u.n_star else "")
        )
    if c.instances_needed is not None and c.peak_rps is not None:
        lines.append(f"Instances for {c.peak_rps:g} rps with {c.headroom or 0:.0%} headroom: {c.instances_needed}")
    return lines


def _accounted(missing: int | None) -> str:
    if missing is None:
        return " (accounting not known)"
    return " (each on disk with its outcome)" if missing == 0 else f" ({missing} started but missing from disk)"


def validity_lines(report: Report) -> list[str]:
    """One line per kind of issue: the same warning in five stages is said once, naming them."""
    groups: dict[tuple[str, str], list[ValidityIssue]] = {}
    for issue in report.validity.issues:
        groups.setdefault((issue.id, issue.severity), []).append(issue)
    lines: list[str] = []
    for (_id, severity), issues in groups.items():
        stages = [str(i.stage) for i in issues if i.stage is not None]
        if len(issues) == 1 or not stages:
            lines.extend(f"{severity.upper()}: {i.message}" for i in issues)
        else:
            lines.append(
                f"{severity.upper()} in stages {', '.join(stages)}: {issues[0].message} (and alike in the others)"
            )
    return lines


def summary_lines(report: Report) -> list[str]:
    reason = report.run.stop_reason
    if reason and reason.startswith(report.run.status + ": "):
        reason = reason[len(report.run.status) + 2 :]
    lines = [
        f"Run {report.run.status}"
        + (f": {reason}" if reason and reason != report.run.status else "")
        + f" — {report.load.requests} requests{_accounted(report.run.requests_missing)}, folder {report.run.folder} "
        f"(run-folder format {report.run.folder_format})"
    ]
    if report.target.server is not None:
        lines.append(f"Server: {server_line(report.target.server)}")
    if report.load.users_from:
        lines.append(f"Users: {report.load.users_from}, {len(report.routes)} routes")
    lines.extend(validity_lines(report))
    lines.extend(capacity_lines(report))
    lines.extend(event_lines(report))
    lines.extend(connection_lines(report))
    lines.extend(plan_lines(report.plan))
    lines.extend(report.notices)
    return lines


def report_tables(report: Report) -> list[TextTable]:
    tables = [stage_table(report)]
    for t in (connections_table(report), stream_table(report), route_table(report), payload_table(report), handoff_table(report),
              where_time_table(report), beside_table(report), trait_table(report),
              recommendation_table(report)):  # fmt: skip
        if t is not None:
            tables.append(t)
    return tables


_OUTCOME = {"pass": "pass", "fail": "FAIL", "unknown": "not judged"}


def check_table(results: Sequence[CheckResult]) -> TextTable:
    """A gate's checks, one row each: the outcome, the check as written, and what was measured."""
    rows = tuple((_OUTCOME[r.outcome], r.check, r.detail) for r in results)
    return TextTable("Gate", ("result", "check", "detail"), rows)


def comparison_tables(c: Comparison) -> list[TextTable]:
    """The changes beyond noise, one row each, then a line for what did not change; traits and
    run figures that moved; what could not be matched and why the comparison may mislead."""
    rows = []
    steady = unknown = 0
    for sd in c.stages:
        for m in sd.metrics:
            if m.verdict in ("better", "worse"):
                ci = f"[{m.ci_low_pct:+.0f}, {m.ci_high_pct:+.0f}]" if m.ci_low_pct is not None else "-"
                change = f"{m.change_pct:+.1f}%" if m.change_pct is not None else "-"
                rows.append((sd.load, m.metric, _f(m.base, "{:.4g}"), _f(m.new, "{:.4g}"), change, ci, m.verdict))
            else:
                steady += m.verdict == "no change"
                unknown += m.verdict == "unknown"
    notes = [f"{steady} figures show no change beyond the runs' own noise"]
    notes += [f"{unknown} figures could not be compared (one run has no value)"] if unknown else []
    notes += [f"trait {t.trait} {t.change} (confidence {t.confidence:.2f})" for t in c.traits]
    notes += [
        f"{m.metric}: {_f(m.base, '{:g}')} -> {_f(m.new, '{:g}')} ({m.verdict})"
        for m in c.run_metrics
        if m.verdict in ("better", "worse")
    ]
    notes += [f"only in one run: {u}" for u in c.unmatched]
    notes += [f"note: {n}" for n in c.notes]
    cols = ("load", "metric", "base", "new", "change", "95% CI %", "verdict")
    return [TextTable(f"Compared with {c.base}", cols, tuple(rows), tuple(notes))]
