"""The one metrics table (profiler/schema/metrics.py): the gate and the comparison know the same
metrics by the same names, units and directions, and read the same value from the same stage, so
`p95<250ms` and `p95:+10%` can never mean two different figures."""

from __future__ import annotations

import pytest

from benchmarks.analyze_large import write_run
from profiler.compare import metrics as compared
from profiler.compare.metrics import StageData
from profiler.gate import metrics as gated
from profiler.report.saved import load_report
from profiler.schema import metrics as table
from profiler.schema.report import Report


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    folder = tmp_path_factory.mktemp("table") / "run"
    write_run(folder, 2000, 1, "desc")
    return load_report(folder)


def test_gate_and_compare_know_their_metrics_from_the_one_table() -> None:
    assert gated.METRIC_NAMES == table.METRIC_NAMES  # a gate can check every metric of the table
    assert set(compared.METRIC_NAMES) <= set(table.METRIC_NAMES)
    assert set(compared.RUN_BY_NAME) == set(gated.RUN_BY_NAME) == set(table.RUN_BY_NAME)
    for m in compared.STAGE_METRICS:
        known = gated.STAGE_BY_NAME[m.name]
        assert (m.unit, m.direction) == (known.unit, known.direction), m.name


def test_a_metric_reads_the_same_value_in_gate_and_compare(report: Report) -> None:
    stages = report.load.stages
    empty = stages[0].model_copy(update={"requests": 0})  # no requests: no latency, in both
    for s in [*stages, empty]:
        for m in compared.STAGE_METRICS:
            assert m.value(StageData(s, None, 0.0, 0.0)) == gated.STAGE_BY_NAME[m.name].read(s), (m.name, s.index)
    assert any(m.value(StageData(stages[0], None, 0.0, 0.0)) is not None for m in compared.STAGE_METRICS)
    for name, m in compared.RUN_BY_NAME.items():
        assert m.read(report) == gated.RUN_BY_NAME[name].read(report), name
