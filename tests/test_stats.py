"""Order statistics and the least-squares fit."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from profiler.base.stats import linear_fit, mean, percentile


@pytest.mark.parametrize(
    ("values", "pct", "expected"),
    [
        ([1.0, 2.0, 3.0, 4.0, 5.0], 50, 3.0),
        ([1.0, 2.0, 3.0, 4.0], 50, 2.5),
        ([1.0, 2.0, 3.0, 4.0, 5.0], 0, 1.0),
        ([1.0, 2.0, 3.0, 4.0, 5.0], 100, 5.0),
        ([10.0, 20.0, 30.0, 40.0, 50.0], 90, 46.0),  # rank 3.6: 40 + 0.6 * 10
        ([10.0, 20.0, 30.0, 40.0, 50.0], 25, 20.0),
        ([0.0, 100.0], 95, 95.0),
        ([5.0, 5.0, 5.0], 99, 5.0),
    ],
)
def test_percentile_known_values(values: list[float], pct: float, expected: float) -> None:
    assert percentile(values, pct) == pytest.approx(expected)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("n", [2, 3, 10, 101, 1000])
def test_percentile_matches_statistics_inclusive(seed: int, n: int) -> None:
    rng = random.Random(seed)
    data = sorted(rng.lognormvariate(3.0, 1.0) for _ in range(n))
    cuts = statistics.quantiles(data, n=100, method="inclusive")  # cuts[k - 1] is the k-th percentile
    for pct in (50, 90, 95, 99):
        assert percentile(data, pct) == pytest.approx(cuts[pct - 1], rel=1e-12, abs=1e-12)


def test_percentile_empty_is_zero() -> None:
    assert percentile([], 50) == 0.0
    assert percentile([], 99) == 0.0


@pytest.mark.parametrize("pct", [0, 50, 95, 99, 100])
def test_percentile_single_value(pct: float) -> None:
    assert percentile([42.5], pct) == 42.5


def test_percentile_returns_float_for_ints() -> None:
    result = percentile([1, 2, 3], 50)
    assert isinstance(result, float)
    assert result == 2.0


def test_mean() -> None:
    assert mean([]) == 0.0
    assert mean([1.0, 2.0, 3.0, 4.0]) == 2.5


def test_linear_fit_exact_line() -> None:
    xs = [1.0, 2.0, 3.0, 4.0, 5.0]
    ys = [2.0 + 3.0 * x for x in xs]
    a, b, r2 = linear_fit(xs, ys)
    assert a == pytest.approx(2.0)
    assert b == pytest.approx(3.0)
    assert r2 == pytest.approx(1.0)


def test_linear_fit_noisy_against_statistics() -> None:
    rng = random.Random(7)
    xs = [float(i) for i in range(50)]
    ys = [1.5 - 0.25 * x + rng.gauss(0.0, 2.0) for x in xs]
    a, b, r2 = linear_fit(xs, ys)
    ref = statistics.linear_regression(xs, ys)
    assert b == pytest.approx(ref.slope)
    assert a == pytest.approx(ref.intercept)
    assert r2 == pytest.approx(statistics.correlation(xs, ys) ** 2)
    assert 0.0 < r2 < 1.0


def test_linear_fit_flat_ys_is_a_perfect_fit() -> None:
    a, b, r2 = linear_fit([1.0, 2.0, 3.0], [4.0, 4.0, 4.0])
    assert (a, b, r2) == (pytest.approx(4.0), pytest.approx(0.0), 1.0)


def test_linear_fit_degenerate_inputs() -> None:
    assert linear_fit([], []) == (0.0, 0.0, 0.0)
    assert linear_fit([3.0], [7.0]) == (7.0, 0.0, 0.0)
    # All xs equal: no slope can be fitted; the intercept is the mean of ys.
    a, b, r2 = linear_fit([2.0, 2.0, 2.0], [1.0, 2.0, 6.0])
    assert a == pytest.approx(3.0)
    assert b == 0.0
    assert r2 == 0.0
    assert not math.isnan(a)
