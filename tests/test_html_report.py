"""report.html: written by every run, self-contained, opened in a real headless Chromium offline
with no console error, every chart drawn (pixels on its canvas), the USL curve and the knee marked
when fitted, hostile text escaped; `profiler report --html` rebuilds it.

The browser is Debian's `chromium` driven by Playwright (`.ci/run` installs it). Under CI=true a
missing browser fails the test; elsewhere it is skipped with the command that installs it. The
page's uPlot comes from the installed package's assets, so under CI (a non-editable install) this
also proves the assets are packaged."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from profiler.report import html
from profiler.report.saved import load_report
from profiler.runfolder.read import read_run
from tests.conftest import BASIC_APP, assert_no_traceback, launch_args, run_cli, shared_measurement

pytestmark = pytest.mark.slow
HOSTILE = "http://127.0.0.1:9/x?q=</script><script>window.__pwned=1</script>&<b>"


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing under CI: .ci/run installs Debian's chromium")
        pytest.skip("no Chromium here: install Debian's chromium (apt-get install chromium)")
    return path


@shared_measurement
def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real run with six stages (so the USL is fitted), Server-Timing handoffs and py-spy."""
    out = tmp_path_factory.mktemp("html") / "run"
    result = run_cli(
        "run", *launch_args(BASIC_APP, "/timing"), "--users", "1,2,3,4,6,8", "--duration", "12s",
        "--pyspy-seconds", "3s", "--quiet", "--out", str(out),
    )  # fmt: skip
    assert_no_traceback(result)
    assert result.code == 0, result.output
    return out


def _open(page_path: Path) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        context = browser.new_context(offline=True)
        page = context.new_page()
        problems: list[str] = []
        requests: list[str] = []
        page.on("console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
        page.on("dialog", lambda d: problems.append(f"dialog: {d.message}"))
        page.on("request", lambda r: requests.append(r.url))
        page.route(re.compile(r"^(?!file:).*"), lambda route: route.abort())
        page.goto(page_path.as_uri())
        page.wait_for_function("document.querySelectorAll('.chart[data-drawn]').length > 0")
        drawn = page.evaluate(
            """() => Array.from(document.querySelectorAll('.chart')).map(el => {
                const c = el.querySelector('canvas');
                if (!c) return [el.id, 0];
                const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
                return [el.id, n];
            })"""
        )
        headings = page.eval_on_selector_all("h2", "els => els.map(e => e.textContent)")
        pwned = page.evaluate("() => window.__pwned === 1")
        browser.close()
    return {"problems": problems, "requests": requests, "drawn": dict(drawn), "headings": headings, "pwned": pwned}


def _chart_data(page: str) -> dict[str, Any]:
    m = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page, re.S)
    assert m is not None
    return json.loads(m.group(1))  # type: ignore[no-any-return]


def test_every_run_writes_a_page_that_opens_offline_with_every_chart_drawn(run_folder: Path) -> None:
    page = run_folder / "report.html"
    seen = _open(page)
    assert seen["problems"] == [] and seen["requests"] == [page.as_uri()]
    drawn = seen["drawn"]
    for chart in (
        "chart-throughput",
        "chart-latency",
        "chart-stage-latency",
        "chart-cpu",
        "chart-rss",
        "chart-threads",
    ):
        assert drawn.get(chart, 0) > 2000, drawn  # axes alone are a few hundred pixels; lines add thousands
    for heading in ("Load stages", "Behavioural traits", "Handoffs per stage (mean, share of latency)", "Hosting plan"):
        assert heading in seen["headings"]


def test_the_scaling_chart_carries_the_usl_curve_knee_and_capacity(run_folder: Path) -> None:
    report = json.loads((run_folder / "report.json").read_text())
    charts = {c["id"]: c for c in _chart_data((run_folder / "report.html").read_text())["charts"]}
    throughput = charts["throughput"]
    labels = [s["label"] for s in throughput["series"]]
    usl = report["capacity"]["usl"]
    assert ("USL fit" in " ".join(labels)) == (usl is not None)
    marks = " ".join(m["label"] for m in throughput["marks"])
    if report["capacity"]["knee_users"] is not None:
        assert f"knee {report['capacity']['knee_users']} users" in marks
    if report["capacity"]["capacity_rps"] is not None:
        assert "capacity" in marks
    assert usl is not None, "six stages of a non-saturated app should give a USL fit"


def test_the_flame_graph_is_linked_and_the_page_is_self_contained(run_folder: Path) -> None:
    page = (run_folder / "report.html").read_text()
    links = re.findall(r'href="(pyspy/[^"]+)"', page)
    assert links and all((run_folder / link).is_file() for link in links)
    for outside in ('src="http', "src='http", 'href="http', "url(http", "@import", "<link"):
        assert outside not in page


def test_hostile_text_cannot_break_out_of_the_page(run_folder: Path) -> None:
    report = load_report(run_folder)
    hostile = report.model_copy(update={"target": report.target.model_copy(update={"url": HOSTILE})})
    page = html.render(hostile, read_run(run_folder))
    assert "<script>window.__pwned" not in page
    assert _chart_data(page)["charts"]  # the data block still parses
    out = run_folder.parent / "hostile.html"
    out.write_text(page)
    seen = _open(out)
    assert not seen["pwned"] and seen["problems"] == []


def test_report_html_is_rebuilt_from_the_folder(run_folder: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(run_folder, copy)
    (copy / "report.html").unlink()
    result = run_cli("report", str(copy), "--html", "--markdown", str(tmp_path / "summary.md"))
    assert result.code == 0, result.output
    assert (copy / "report.html").is_file() and "| 8 users |" in (tmp_path / "summary.md").read_text()
    (copy / "report.html").unlink()
    assert run_cli("analyze", str(copy), "-q").code == 0
    assert (copy / "report.html").is_file()  # analyze without a what-if rewrites both reports
    bad = run_cli("report", str(copy))
    assert bad.code == 2 and "nothing to rebuild" in bad.stderr


def test_gpu_timelines_are_drawn_when_the_sampler_read_nvml(run_folder: Path, tmp_path: Path) -> None:
    """No GPU here: the sampler's NVML lines (the format profiler/sampling/gpu.py writes) are
    added to a copy of the real run, as a machine with a GPU would have them."""
    copy = tmp_path / "gpu-run"
    shutil.copytree(run_folder, copy)
    start = read_run(copy).stages[0].start
    rows = [
        {"t": start + i * 0.5, "gpu": [{"index": 0, "mig_index": None, "util_gpu": 20 + i % 60, "mem_used": 2**30}]}
        for i in range(40)
    ]
    with (copy / "samples.jsonl").open("a") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    assert run_cli("report", str(copy), "--html").code == 0
    seen = _open(copy / "report.html")
    assert seen["problems"] == [] and seen["drawn"].get("chart-gpu-gpu-0", 0) > 2000, seen["drawn"]
