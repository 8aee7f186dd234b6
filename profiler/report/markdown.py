"""`--markdown PATH`: a short summary for a pull request (and `$GITHUB_STEP_SUMMARY`): the verdict,
each check, the stages, the traits, what limits trust, and what changed against the baseline."""

from __future__ import annotations

from collections.abc import Sequence

from profiler.report.connections_text import connection_lines, connections_table
from profiler.report.events_text import event_lines
from profiler.report.payload_text import payload_table
from profiler.report.terminal import beside_table, route_table, where_time_table
from profiler.schema.report import Report, StageReport
from profiler.schema.verdicts import CheckResult, Comparison, MetricDelta

_MARK = {"pass": "✅ pass", "fail": "❌ fail", "unknown": "⚠️ not judged"}


def _cell(text: object) -> str:
    # A pipe would end the cell; a line break would end the table.
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(head: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    return [
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
        *("| " + " | ".join(_cell(c) for c in row) + " |" for row in rows),
        "",
    ]


def _load(s: StageReport) -> str:
    if s.users is not None:
        return f"{s.users} users"
    return f"{s.rate:g} rps" if s.rate is not None else f"stage {s.index}"


def _stage_row(s: StageReport) -> list[object]:
    note = "py-spy" if s.profiled else (s.cut_short or "") if not s.completed else ""
    return [
        _load(s),
        s.requests,
        f"{s.rps:.1f}",
        f"{s.latency.p50:.1f}",
        f"{s.latency.p95:.1f}",
        f"{s.latency.p99:.1f}",
        f"{s.error_rate:.1%}",
        note,
    ]


def _delta(m: MetricDelta) -> str:
    if m.change_pct is None:
        return "n/a"
    interval = f" [{m.ci_low_pct:+.0f}%, {m.ci_high_pct:+.0f}%]" if m.ci_low_pct is not None else ""
    return f"{m.change_pct:+.1f}%{interval}"


def _comparison(c: Comparison) -> list[str]:
    lines = [f"### Against the baseline `{c.base}`", ""]
    changed = [(sd.load, m) for sd in c.stages for m in sd.metrics if m.verdict in ("better", "worse")]
    steady = sum(1 for sd in c.stages for m in sd.metrics if m.verdict == "no change")
    if changed:
        rows = [[load, m.metric, f"{m.base:.4g}", f"{m.new:.4g} {m.unit}", _delta(m), m.verdict] for load, m in changed]
        lines += _table(["load", "metric", "base", "new", "change [95% CI]", "verdict"], rows)
    lines.append(f"{steady} figures show no change beyond the runs' own noise.")
    lines += [f"- trait **{t.trait}** {t.change} (confidence {t.confidence:.2f})" for t in c.traits]
    lines += [f"- {m.metric}: {m.base} → {m.new} ({m.verdict})" for m in c.run_metrics if m.verdict != "no change"]
    lines += [f"- note: {n}" for n in c.notes]
    return [*lines, ""]


def render(report: Report, results: Sequence[CheckResult], headline: str, comparison: Comparison | None = None) -> str:
    lines = [f"## profiler: {headline}", ""]
    what = report.load.users_from or report.target.method
    lines += [f"`{what}` against `{report.target.url}`, run `{report.run.folder}` ({report.run.status})", ""]
    if results:
        lines += _table(["result", "check", "detail"], [[_MARK[r.outcome], f"`{r.check}`", r.detail] for r in results])
    lines += _table(
        ["load", "requests", "rps", "p50 ms", "p95 ms", "p99 ms", "errors", "note"],
        [_stage_row(s) for s in report.load.stages],
    )
    routes = route_table(report)
    if routes is not None:
        lines += _table(routes.columns, routes.rows)
    if report.capacity is not None and report.capacity.capacity_rps is not None:
        lines += [
            f"Capacity per instance: **{report.capacity.capacity_rps:.1f} rps** ({report.capacity.slo_basis}).",
            "",
        ]
    held = connections_table(report)
    if held is not None:
        lines += ["**Connections**", "", *connection_lines(report), ""]
        lines += _table(held.columns, held.rows)
    timeline = event_lines(report)
    if timeline:
        lines += [f"**{timeline[0]}**", "", *(f"- {line.strip()}" for line in timeline[1:]), ""]
    payload = payload_table(report)
    if payload is not None:
        lines += ["**Bytes and caching**", ""]
        lines += _table(payload.columns, payload.rows)
    where = where_time_table(report)
    if where is not None:
        lines += ["**Where the time goes** (py-spy stacks by category)", ""]
        lines += _table(where.columns, where.rows)
    beside = beside_table(report)
    if beside is not None:
        lines += [f"**{beside.title}**", ""]
        lines += _table(beside.columns, beside.rows)
    if report.traits:
        lines += ["**Traits**", ""]
        lines += [f"- **{t.id}** ({t.confidence:.2f}): {t.evidence.summary}" for t in report.traits]
        lines.append("")
    issues = report.validity.issues
    if issues:
        lines += ["**What limits trust in these numbers**", ""]
        lines += [f"- {i.severity}: {i.message}" for i in issues]
        lines.append("")
    if comparison is not None:
        lines += _comparison(comparison)
    return "\n".join(lines).rstrip("\n") + "\n"
