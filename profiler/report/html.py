"""report.html: the run for people who were not at the terminal (an audit handed to a team lead).

One self-contained file: uPlot (vendored in assets/, MIT, ~51 KB; docs/report-html.md says why),
the chart script, the styles and the data are inlined, and a Content-Security-Policy forbids any
request, so the page opens offline and cannot call out. Tables are plain HTML (they read without
JavaScript); the tables reuse the terminal's (`report.terminal`), so both say the same.
"""

from __future__ import annotations

import html
import json
import time
from importlib import resources
from pathlib import Path
from typing import Any

from profiler.report import json_file
from profiler.report.connections_text import connections_table
from profiler.report.events_text import event_table
from profiler.report.html_data import charts
from profiler.report.payload_text import payload_table
from profiler.report.plan_text import plan_lines
from profiler.report.terminal import (
    TextTable,
    beside_table,
    capacity_lines,
    handoff_table,
    recommendation_table,
    route_stage_table,
    route_table,
    route_trait_table,
    stage_table,
    stream_table,
    trait_table,
    validity_lines,
)
from profiler.runfolder.atomic import write_text_atomic
from profiler.runfolder.names import REPORT_HTML
from profiler.runfolder.read import RunData
from profiler.schema.report import Report

_CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:"
_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:1em 1.5em;color:#222}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0;font-size:13px}th,td{padding:.25em .6em;border-bottom:1px solid #eee}
th{text-align:left;background:#f6f6f6}td.n{text-align:right;font-variant-numeric:tabular-nums}
.meta{color:#555}.bad{color:#b00020}.ok{color:#1b7f3b}.note{color:#666;font-size:12px}
.wt{display:flex;gap:8px;align-items:center;font-size:13px;margin:2px 0}.wt-label{width:190px}.wt-bar{display:flex;width:320px;height:12px;background:#eee}
.chart{margin:.5em 0 1em}.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(480px,1fr));gap:1em}
"""


def _asset(name: str) -> str:
    return resources.files("profiler.report").joinpath("assets", name).read_text(encoding="utf-8")


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _numeric(cell: str) -> bool:
    return cell.replace(".", "", 1).replace("-", "", 1).replace("%", "").isdigit()


def _table(t: TextTable) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in t.columns)
    rows = "".join(
        "<tr>" + "".join(f'<td class="n">{_e(c)}</td>' if _numeric(c) else f"<td>{_e(c)}</td>" for c in r) + "</tr>"
        for r in t.rows
    )
    notes = "".join(f'<div class="note">{_e(n)}</div>' for n in t.notes)
    return f"<h2>{_e(t.title)}</h2><table><tr>{head}</tr>{rows}</table>{notes}"


def _where_time(report: Report) -> str:
    """A bar per category of work (share of the working samples), the on-CPU part darker."""
    section, w = report.where_time_goes, report.where_time_goes.overall
    head = "<h2>Where the time goes (py-spy stacks by category)</h2>"
    if not section.available or w is None:
        return f"{head}<p class=note>{_e(section.notice or 'not measured')}</p>"
    rows = []
    for c in w.categories[:8]:
        on_cpu = (c.on_cpu_share or 0.0) * c.share * 100
        waiting = c.share * 100 - on_cpu
        cpu = f"{c.on_cpu_share:.0%} on CPU" if c.on_cpu_share is not None else "on CPU not told"
        rows.append(
            f'<div class="wt" data-category="{_e(c.category)}"><span class="wt-label">{_e(c.label)}</span>'
            f'<span class="wt-bar"><span style="width:{on_cpu:.1f}%;background:#3465a4"></span>'
            f'<span style="width:{waiting:.1f}%;background:#9fb8d9"></span></span>'
            f"<span>{c.share:.0%} ({_e(cpu)}) {_e(c.top_function or '')}</span></div>"
        )
    note = f"{w.working_samples} working thread samples, {w.idle_share:.0%} of all idle; {w.method}"
    return head + "".join(rows) + f"<div class=note>{_e(note)}</div>"


def _handoffs_per_stage(report: Report) -> TextTable | None:
    per = report.handoffs.per_stage
    names = sorted({n for ps in per for n in ps.handoffs})
    if not names:
        return None
    rows = []
    for ps in per:
        cells = [f"{h.mean_ms:.1f} ms ({h.share:.0%})" if (h := ps.handoffs.get(n)) else "-" for n in names]
        un = ps.unattributed
        rows.append(
            (str(ps.stage), str(ps.users or "-"), *cells, f"{un.mean_ms:.1f} ms ({un.share:.0%})" if un else "-")
        )
    cols = ("stage", "users", *names, "unattributed")
    return TextTable("Handoffs per stage (mean, share of latency)", cols, tuple(rows))


def _code(report: Report) -> str:
    code = report.code
    if not code.available:
        return f"<h2>Where the code spends its time</h2><p class=note>{_e(code.notice or 'py-spy did not run.')}</p>"
    parts = ["<h2>Where the code spends its time (py-spy)</h2>"]
    for cs in code.per_stage:
        link = f' — flame graph: <a href="{_e(cs.speedscope)}">{_e(cs.speedscope)}</a>' if cs.speedscope else ""
        parts.append(f"<p>Stage {cs.stage}: {cs.samples} samples, {cs.idle_share:.0%} waiting{link} "
                     "(open it at speedscope.app, or with the speedscope command)</p>")  # fmt: skip
        rows = tuple((f.function, f"{f.share:.1%}") for f in cs.top_self[:10])
        parts.append(_table(TextTable(f"Stage {cs.stage}: functions by own time", ("function", "share"), rows)))
    return "".join(parts)


def _header(report: Report) -> str:
    r, t = report.run, report.target
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(r.started_at))
    verdict = (
        '<p class="ok">The measurements are valid.</p>'
        if report.validity.valid
        else '<p class="bad">Not valid: some figures cannot be trusted (see below).</p>'
    )
    issues = "".join(f"<li>{_e(line)}</li>" for line in validity_lines(report))
    notices = "".join(f"<li>{_e(n)}</li>" for n in report.notices)
    capacity = "".join(f"<p>{_e(line)}</p>" for line in capacity_lines(report))
    return (
        f"<h1>profiler: {_e(t.method)} {_e(t.url)}</h1>"
        f'<p class="meta">Run {_e(r.status)}, {when}, {report.load.requests} requests, profiler {_e(r.profiler_version)},'
        f" folder {_e(r.folder)}</p>{verdict}"
        + (f"<ul>{issues}</ul>" if issues else "")
        + capacity
        + (f"<h2>Notices</h2><ul>{notices}</ul>" if notices else "")
    )


def _plan(report: Report) -> str:
    """The "Hosting plan" block: the same lines as the terminal's (report/plan_text.py)."""
    lines = plan_lines(report.plan)
    if not lines:
        return ""
    items = "".join(f"<li>{_e(line)}</li>" for line in lines[1:])
    return f'<h2 id="hosting-plan">{_e(lines[0])}</h2><ul>{items}</ul>'


def _data_script(payload: dict[str, Any]) -> str:
    # JSON inside <script> ends at the first "</script>": <, > and & written as \\u escapes cannot.
    text = json.dumps(payload, separators=(",", ":"), allow_nan=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f'<script type="application/json" id="report-data">{text}</script>'


def render(report: Report, run: RunData) -> str:
    found = charts(report, run)
    divs = "".join(
        f'<div><h3>{_e(c["title"])}</h3><div class="chart" id="chart-{_e(c["id"])}"></div></div>' for c in found
    )
    tables = [stage_table(report), connections_table(report), event_table(report), stream_table(report), route_table(report),
              route_stage_table(report)]  # fmt: skip
    tables += [route_trait_table(report), payload_table(report)]
    tables += [handoff_table(report), _handoffs_per_stage(report), beside_table(report), trait_table(report)]
    tables.append(recommendation_table(report))
    body = (
        _header(report)
        + (f'<h2>Charts</h2><div class="grid">{divs}</div>' if found else "<p class=note>No chart: no samples.</p>")
        + "".join(_table(t) for t in tables if t is not None)
        + _plan(report)
        + _where_time(report)
        + _code(report)
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>profiler report: {_e(report.target.url)}</title>"
        f"<style>{_asset('uPlot.min.css')}{_STYLE}</style></head><body>{body}"
        f"{_data_script({'charts': found})}<script>{_asset('uPlot.iife.min.js')}</script>"
        f"<script>{_asset('charts.js')}</script></body></html>\n"
    )


def save(report: Report, run: RunData, folder: Path) -> Path:
    """Write report.html whole or not at all."""
    path = folder / REPORT_HTML
    write_text_atomic(path, render(report, run))
    return path


def save_outputs(report: Report, run: RunData, folder: Path) -> None:
    """report.json, then report.html, each whole or not at all (OSError: the disk said no)."""
    json_file.save(report, folder)
    try:
        page = render(report, run)
    except Exception:  # noqa: BLE001 - a page that cannot be drawn must not cost the run its report.json
        return
    write_text_atomic(folder / REPORT_HTML, page)
