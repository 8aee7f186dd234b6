"""The load plan and the early-stop rule, on synthetic stage results."""

from __future__ import annotations

from pathlib import Path

import pytest

from profiler.base.config import RunConfig
from profiler.load.plan import (
    ERROR_CEILING,
    GROWTH_FLOOR,
    LATENCY_RISE,
    MIN_STAGES,
    StageOutcome,
    StagePlan,
    build_plan,
    saturation_reason,
    user_ladder,
)

# ---------------------------------------------------------------- user_ladder


@pytest.mark.parametrize(
    ("max_users", "expected"),
    [
        (1, (1,)),
        (2, (1, 2)),
        (8, (1, 2, 4, 8)),
        (64, (1, 2, 4, 8, 16, 32, 64)),
    ],
)
def test_ladder_doubles_to_max(max_users: int, expected: tuple[int, ...]) -> None:
    assert user_ladder(max_users) == expected


@pytest.mark.parametrize(
    ("max_users", "expected"),
    [
        (3, (1, 2, 3)),
        (48, (1, 2, 4, 8, 16, 32, 48)),
        (100, (1, 2, 4, 8, 16, 32, 64, 100)),
    ],
)
def test_ladder_non_power_of_two_max_ends_at_max(max_users: int, expected: tuple[int, ...]) -> None:
    assert user_ladder(max_users) == expected


def _strictly_increasing(steps: tuple[int, ...]) -> bool:
    return all(b > a for a, b in zip(steps, steps[1:], strict=False))


@pytest.mark.parametrize(("max_users", "count"), [(64, 7), (64, 4), (10, 6), (5, 5), (100, 10), (200, 50), (2, 2)])
def test_ladder_count_geometric_steps(max_users: int, count: int) -> None:
    steps = user_ladder(max_users, count)
    assert len(steps) == count
    assert steps[0] == 1
    assert steps[-1] == max_users
    assert _strictly_increasing(steps)


def test_ladder_count_is_geometric() -> None:
    assert user_ladder(64, 7) == (1, 2, 4, 8, 16, 32, 64)
    assert user_ladder(1000, 4) == (1, 10, 100, 1000)


def test_ladder_count_exhaustive_when_count_fits() -> None:
    for max_users in range(2, 201):
        for count in range(2, min(max_users, 50) + 1):
            steps = user_ladder(max_users, count)
            assert len(steps) == count, (max_users, count, steps)
            assert steps[0] == 1 and steps[-1] == max_users, (max_users, count, steps)
            assert _strictly_increasing(steps), (max_users, count, steps)


@pytest.mark.parametrize("count", [0, 1])
def test_ladder_count_of_one_is_just_max(count: int) -> None:
    assert user_ladder(16, count) == (16,)


@pytest.mark.parametrize(("max_users", "count"), [(4, 10), (3, 5), (1, 3)])
def test_ladder_count_never_exceeds_max_users(max_users: int, count: int) -> None:
    # `profiler run --users 4 --stages 10` reaches user_ladder(4, 10): the top of the ladder is
    # what the user allowed, so no stage may run more users than that.
    steps = user_ladder(max_users, count)
    assert max(steps) <= max_users, steps
    assert steps[-1] == max_users
    assert _strictly_increasing(steps)


# ---------------------------------------------------------------- build_plan


def _config(**kw: object) -> RunConfig:
    return RunConfig(url="http://127.0.0.1:8000/", out=Path("unused"), **kw)  # type: ignore[arg-type]


def test_build_plan_users_ladder_equal_stages() -> None:
    plan = build_plan(_config(duration_s=42.0, max_users=64))
    assert [p.users for p in plan] == [1, 2, 4, 8, 16, 32, 64]
    assert all(p.rate is None for p in plan)
    assert [p.index for p in plan] == list(range(7))
    assert all(p.planned_s == pytest.approx(6.0) for p in plan)
    assert sum(p.planned_s for p in plan) == pytest.approx(42.0)


def test_build_plan_explicit_users() -> None:
    plan = build_plan(_config(duration_s=30.0, users=(1, 4, 16)))
    assert plan == (
        StagePlan(0, 1, None, 10.0),
        StagePlan(1, 4, None, 10.0),
        StagePlan(2, 16, None, 10.0),
    )


def test_build_plan_stage_count() -> None:
    plan = build_plan(_config(duration_s=20.0, max_users=100, stage_count=4))
    assert [p.users for p in plan] == [1, 5, 22, 100]
    assert all(p.planned_s == pytest.approx(5.0) for p in plan)


def test_build_plan_rates_equal_stages() -> None:
    plan = build_plan(_config(duration_s=30.0, rates=(10.0, 20.0, 40.0)))
    assert [p.rate for p in plan] == [10.0, 20.0, 40.0]
    assert all(p.users is None for p in plan)
    assert [p.index for p in plan] == [0, 1, 2]
    assert all(p.planned_s == pytest.approx(10.0) for p in plan)


def test_build_plan_rates_win_over_users() -> None:
    plan = build_plan(_config(duration_s=10.0, rates=(5.0,), users=(1, 2)))
    assert plan == (StagePlan(0, None, 5.0, 10.0),)


# ---------------------------------------------------------------- saturation_reason


def _stage(users: int, rps: float, p50: float, error_rate: float = 0.0, requests: int = 1000) -> StageOutcome:
    return StageOutcome(users, rps, p50, p50 * 2, error_rate, requests)


def test_no_history_no_stop() -> None:
    assert saturation_reason([]) is None


def test_no_stop_while_throughput_grows() -> None:
    history = [_stage(1, 100, 10), _stage(2, 190, 10.5), _stage(4, 370, 11), _stage(8, 700, 11.5)]
    for k in range(1, len(history) + 1):
        assert saturation_reason(history[:k]) is None


def test_no_stop_while_throughput_grows_even_with_latency_rising() -> None:
    history = [_stage(1, 100, 10), _stage(2, 150, 13), _stage(4, 220, 18), _stage(8, 300, 26)]
    assert saturation_reason(history) is None


def test_stop_on_plateau_with_rising_latency() -> None:
    history = [_stage(1, 200, 5), _stage(2, 210, 9), _stage(4, 212, 18)]
    reason = saturation_reason(history)
    assert reason is not None
    assert "throughput stopped growing" in reason
    assert "median latency rose" in reason


def test_stop_on_plateau_later_in_the_climb() -> None:
    history = [_stage(1, 100, 5), _stage(2, 195, 5.1), _stage(4, 380, 5.3), _stage(8, 400, 10), _stage(16, 405, 20)]
    assert saturation_reason(history[:4]) is None  # one flat stage is not yet a plateau
    assert saturation_reason(history) is not None


def test_no_stop_on_plateau_with_flat_latency() -> None:
    # Throughput flat but latency unchanged: not saturated (e.g. the open-model rate is the cap).
    history = [_stage(1, 200, 5), _stage(2, 205, 5.2), _stage(4, 208, 5.5)]
    assert saturation_reason(history) is None


def test_latency_rise_threshold_is_relative_to_lightest_stage() -> None:
    below = [_stage(1, 200, 10), _stage(2, 205, 12), _stage(4, 208, 10 * LATENCY_RISE * 0.99)]
    at = [_stage(1, 200, 10), _stage(2, 205, 12), _stage(4, 208, 10 * LATENCY_RISE)]
    assert saturation_reason(below) is None
    assert saturation_reason(at) is not None


def test_growth_floor_threshold() -> None:
    # The last stage grew enough over the best earlier one: not flat.
    growing = [_stage(1, 200, 5), _stage(2, 210, 9), _stage(4, 200 * GROWTH_FLOOR * 1.01, 18)]
    assert saturation_reason(growing) is None


def test_stop_on_error_ceiling() -> None:
    history = [_stage(1, 100, 5), _stage(2, 180, 6, error_rate=ERROR_CEILING)]
    reason = saturation_reason(history)
    assert reason is not None
    assert "errors climbed to 50%" in reason


def test_error_ceiling_needs_two_stages() -> None:
    assert saturation_reason([_stage(1, 100, 5, error_rate=0.9)]) is None


def test_errors_below_ceiling_do_not_stop() -> None:
    history = [_stage(1, 100, 5), _stage(2, 190, 6, error_rate=ERROR_CEILING - 0.01)]
    assert saturation_reason(history) is None


def test_error_ceiling_ignored_for_a_stage_without_requests() -> None:
    history = [_stage(1, 100, 5), _stage(2, 0, 0, error_rate=1.0, requests=0)]
    assert saturation_reason(history) is None


def test_no_plateau_stop_before_min_stages() -> None:
    # Flat and much slower, but too few stages to judge a plateau.
    history = [_stage(1, 200, 5), _stage(2, 200, 50)]
    assert len(history) < MIN_STAGES
    assert saturation_reason(history) is None
    assert saturation_reason(history[:1]) is None
