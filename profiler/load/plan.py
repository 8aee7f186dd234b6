"""The load plan (stages of users or arrival rates) and the rule that stops climbing early.

Pure functions: the worker applies them, tests check them on synthetic stage results.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from profiler.base.config import MIN_STAGE_S, RunConfig
from profiler.base.errors import ConfigError


@dataclass(frozen=True, slots=True)
class StagePlan:
    index: int
    users: int | None  # closed model: concurrent users
    rate: float | None  # open model: arrivals per second
    planned_s: float


@dataclass(frozen=True, slots=True)
class StageOutcome:
    """What one finished stage achieved, as the early-stop rule needs it."""

    users: int | None
    rps: float
    p50_ms: float
    p95_ms: float
    error_rate: float
    requests: int


def user_ladder(max_users: int, count: int | None = None) -> tuple[int, ...]:
    """1, 2, 4, ... up to max_users (doubling), or `count` geometric steps from 1 to max_users."""
    if count is None:
        ladder = [1]
        while ladder[-1] * 2 <= max_users:
            ladder.append(ladder[-1] * 2)
        if ladder[-1] != max_users:
            ladder.append(max_users)
        return tuple(ladder)
    count = min(count, max_users)  # never more stages than distinct user counts up to the top
    if count <= 1:
        return (max_users,)
    ratio = max_users ** (1.0 / (count - 1))
    steps: list[int] = []
    for i in range(count):
        value = max(1, round(ratio**i))
        if steps and value <= steps[-1]:
            value = steps[-1] + 1
        steps.append(min(value, max_users))
    steps[-1] = max_users
    return tuple(sorted(set(steps)))


def build_plan(config: RunConfig) -> tuple[StagePlan, ...]:
    """Equal stage lengths within the run's duration."""
    if config.rates:
        each = config.duration_s / len(config.rates)
        return tuple(StagePlan(i, None, r, each) for i, r in enumerate(config.rates))
    users = config.users or user_ladder(config.max_users, config.stage_count)
    each = config.duration_s / len(users)
    return tuple(StagePlan(i, u, None, each) for i, u in enumerate(users))


def check_plan(config: RunConfig) -> RunConfig:
    """The run's stages each at least MIN_STAGE_S long; checked before anything starts."""
    plan = build_plan(config)
    each = plan[0].planned_s if plan else config.duration_s
    if each < MIN_STAGE_S:
        need = MIN_STAGE_S * len(plan)
        raise ConfigError(
            f"--duration {config.duration_s:g} split over {len(plan)} stages gives {each:.2g}s a stage,"
            f" under the {MIN_STAGE_S:g}s a stage needs.",
            f"raise --duration to at least {math.ceil(need):d}, or ask for fewer stages (--users, --stages, --rate)",
        )
    return config


# Early stop: climbing further only adds queueing once the target is clearly saturated.
GROWTH_FLOOR = 1.15  # a stage that adds less than 15% throughput over the best earlier one is flat
LATENCY_RISE = 1.5  # ... while median latency has risen by half over the lightest stage's
ERROR_CEILING = 0.5  # half the requests failing: more load teaches nothing
MIN_STAGES = 3


def saturation_reason(history: Sequence[StageOutcome]) -> str | None:
    """Why to stop climbing after the last stage of `history`, or None to go on."""
    if not history:
        return None
    last = history[-1]
    if last.requests > 0 and last.error_rate >= ERROR_CEILING and len(history) >= 2:
        return f"errors climbed to {last.error_rate:.0%} of requests"
    if len(history) < MIN_STAGES:
        return None
    earlier = history[:-2]
    best_before = max(s.rps for s in earlier)
    light_p50 = min((s.p50_ms for s in history if s.requests), default=0.0)
    flat = all(s.rps < best_before * GROWTH_FLOOR for s in history[-2:])
    slower = light_p50 > 0 and last.p50_ms >= light_p50 * LATENCY_RISE
    if flat and slower:
        return (
            f"throughput stopped growing ({last.rps:.0f} rps vs {best_before:.0f} rps earlier)"
            f" while median latency rose {last.p50_ms / light_p50:.1f}x"
        )
    return None
