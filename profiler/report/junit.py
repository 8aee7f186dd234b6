"""`--junit PATH`: a gate as JUnit XML, one test case per check, in the Apache Ant schema that CI
systems read (Jenkins, GitLab, GitHub test reporters). A check that could not be judged is an
`<error>`, never a `<skipped>`: a CI summary must not show "could not measure" as green."""

from __future__ import annotations

import re
import socket
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from profiler.schema.report import Report
from profiler.schema.verdicts import CheckResult

# Characters XML 1.0 cannot carry at all, even escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_CLASS = {"slo": "profiler.checks", "trait": "profiler.traits", "fail-on": "profiler.baseline"}


def _text(value: str) -> str:
    return _NOT_XML.sub("?", value)


def _suite_attributes(report: Report, results: Sequence[CheckResult]) -> dict[str, str]:
    ended = report.run.ended_at or report.run.started_at
    return {
        "name": _text(f"profiler gate {report.target.method} {report.target.url}"),
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(report.run.started_at)),
        "hostname": _text(socket.gethostname() or "localhost"),
        "tests": str(len(results)),
        "failures": str(sum(r.outcome == "fail" for r in results)),
        "errors": str(sum(r.outcome == "unknown" for r in results)),
        "skipped": "0",
        "time": f"{max(0.0, ended - report.run.started_at):.3f}",
        "package": "profiler",
        "id": "0",
    }


def render(report: Report, results: Sequence[CheckResult], headline: str, exit_code: int) -> str:
    root = ET.Element("testsuites")
    suite = ET.SubElement(root, "testsuite", _suite_attributes(report, results))
    props = ET.SubElement(suite, "properties")
    for name, value in (
        ("run_folder", report.run.folder),
        ("run_status", report.run.status),
        ("verdict", headline),
        ("exit_code", str(exit_code)),
        ("profiler_version", report.run.profiler_version),
    ):
        ET.SubElement(props, "property", name=name, value=_text(value))
    for r in results:
        case = ET.SubElement(suite, "testcase", name=_text(r.check), classname=_CLASS[r.kind], time="0")
        if r.outcome == "fail":
            ET.SubElement(case, "failure", message=_text(r.detail), type="check-failed").text = _text(r.detail)
        elif r.outcome == "unknown":
            ET.SubElement(case, "error", message=_text(r.detail), type="not-judged").text = _text(r.detail)
    lines = [headline, *(f"{r.outcome:7} {r.check}: {r.detail}" for r in results)]
    ET.SubElement(suite, "system-out").text = _text("\n".join(lines) + "\n")
    ET.SubElement(suite, "system-err").text = ""
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
