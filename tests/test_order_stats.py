"""Streamed exact percentiles (profiler/runfolder/engine/order.py) give numpy's answer, bit for bit,
without reading the column whole: on skewed, tied, negative and missing values, and when a stage's
or the whole run's rows pass the size read into memory (the request table switches to them)."""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from profiler.runfolder.engine import RequestTable, order, requests
from profiler.runfolder.names import REQUESTS, REQUESTS_COLUMNAR
from profiler.runfolder.write import RequestLog, prepare_folder

PCTS = (0, 1, 50, 90, 95, 99, 99.9, 100)


def _numpy(values: list[float | None], pcts: tuple[float, ...]) -> tuple[float, ...] | None:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return tuple(float(x) for x in np.percentile(finite, pcts)) if finite else None


def _streamed(values: list[float | None], pcts: tuple[float, ...]) -> tuple[float, ...] | None:
    frame = pl.DataFrame({"v": values}, schema={"v": pl.Float64}).lazy()
    return order.streamed_percentiles(frame, "v", pcts)


@pytest.fixture
def narrow_often(monkeypatch: pytest.MonkeyPatch) -> None:
    """Slices of 4 values and 8 slices a narrowing: every test value set narrows several times."""
    monkeypatch.setattr(order, "_FEW", 4)
    monkeypatch.setattr(order, "_SLICES", 8)


finite = st.floats(min_value=-1e6, max_value=1e9, allow_nan=False, allow_infinity=False)
value = st.one_of(finite, st.sampled_from([0.0, -0.0, 1.0, 1.5, None, math.nan, math.inf]))


@settings(max_examples=150, deadline=None)
@given(st.lists(value, max_size=300))
def test_streamed_percentiles_equal_numpys(values: list[float | None]) -> None:
    assert _streamed(values, PCTS) == _numpy(values, PCTS)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(value, max_size=300), st.lists(st.floats(0, 100), min_size=1, max_size=4))
def test_streamed_percentiles_equal_numpys_when_narrowed_many_times(
    narrow_often: None, values: list[float | None], pcts: list[float]
) -> None:
    assert _streamed(values, tuple(pcts)) == _numpy(values, tuple(pcts))


def test_heavy_ties_and_a_far_outlier_narrow_to_the_exact_value(
    narrow_often: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Most values equal, a long tail and one outlier 10^6 times the rest: equal-width slices put
    # nearly everything in the first slice, which must be narrowed again, and the ties resolved.
    rng = random.Random(3)
    values: list[float | None] = [5.0] * 500
    values.extend([rng.lognormvariate(2, 1) for _ in range(500)] + [9e6])
    rng.shuffle(values)
    slicings: list[int] = []
    sliced = order._sliced

    def counting(v: Any, part: Any) -> Any:
        slicings.append(part.count)
        return sliced(v, part)

    monkeypatch.setattr(order, "_sliced", counting)
    assert _streamed(values, PCTS) == _numpy(values, PCTS)
    assert len(slicings) >= 3 and slicings[0] == len(values)  # it narrowed, from the whole column down


def test_no_finite_value_is_none() -> None:
    assert _streamed([], (50,)) is None
    assert _streamed([None, math.nan, math.inf, -math.inf], (50, 95)) is None


def test_a_range_too_narrow_to_slice_is_read_whole(narrow_often: None) -> None:
    # Two neighbouring subnormals: 4096 over their difference is infinite, so no slicing can help.
    tiny = [5e-324, 1e-323] * 20
    assert _streamed(list(tiny), (10, 50, 90)) == _numpy(list(tiny), (10, 50, 90))


def test_request_table_percentiles_agree_past_the_rows_held(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The request table through its streamed path (every stage and the whole run past `_HELD`) and
    through its in-memory one give the same tallies and handoffs."""
    folder = tmp_path / "run"
    prepare_folder(folder)
    rng = random.Random(7)
    log = RequestLog(folder)
    for stage in (0, 1):
        for i in range(400):
            latency = rng.lognormvariate(3, 0.7)
            timing = f"db;dur={latency * 0.3:.3f}, model;dur={latency * 0.5:.3f}" if i % 5 else ""
            kind = "probe" if i % 40 == 0 else "main"
            log.add(1000.0 + stage * 10 + i / 100, latency, latency * 0.9, 200, 100, "", stage, kind, "", timing)
    log.close()
    names = {slot: name for name, slot in log.slots.slots.items()}
    held = RequestTable.read(folder / REQUESTS, names)
    monkeypatch.setattr(requests, "_HELD", 10)
    monkeypatch.setattr(order, "_FEW", 16)
    (folder / REQUESTS_COLUMNAR).unlink(missing_ok=True)
    streamed = RequestTable.read(folder / REQUESTS, names)
    assert streamed.stages() == held.stages()
    assert streamed.handoffs() == held.handoffs()
    assert streamed.handoffs(by_stage=True) == held.handoffs(by_stage=True)
    assert streamed.percentile(1, 97.5) == held.percentile(1, 97.5)
