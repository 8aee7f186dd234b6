"""The report: built from a run's data in one place (`build`), then one renderer per output
(report.json, report.html, the terminal's tables, JUnit, Markdown, speedscope, Kubernetes, the plan in words)."""
