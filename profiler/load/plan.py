"""The load plan (stages of users or arrival rates) and the rule that stops climbing early.

Pure functions: the worker applies them, tests check them on synthetic stage results.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from profiler.base.config import MAX_RATE, MAX_USERS, MIN_STAGE_S, RunConfig, ShapeStep
from profiler.base.durations import parse_duration
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


MAX_SHAPE_STEPS = 200  # a shape is a timeline a person wrote (or a LoadTestShape ticked once a second)
_SHAPE_FIX = "write it as DURATION:USERS or DURATION:RATE/s steps, e.g. --shape 20s:2,6s:40,30s:2"


def _shape_step(text: str) -> ShapeStep:
    length, sep, load = text.strip().partition(":")
    if not sep or not load.strip():
        raise ConfigError(f"--shape step '{text.strip()}' is not DURATION:LOAD.", _SHAPE_FIX)
    duration = parse_duration(length.strip(), "--shape")
    if duration <= 0:
        raise ConfigError(f"--shape step '{text.strip()}' has zero length.", "give each step a duration, e.g. 5s")
    load = load.strip()
    try:
        if load.endswith("/s"):
            rate = float(load[:-2])
            if not 0 < rate <= MAX_RATE:
                raise ValueError
            return ShapeStep(duration, rate=rate)
        users = int(load)
        if not 1 <= users <= MAX_USERS:
            raise ValueError
        return ShapeStep(duration, users=users)
    except ValueError:
        raise ConfigError(
            f"--shape step '{text.strip()}': '{load}' is not a number of users (1-{MAX_USERS}) "
            f"nor an arrival rate (e.g. 40/s, up to {MAX_RATE:g}/s).",
            _SHAPE_FIX,
        ) from None


def parse_shape(text: str) -> tuple[ShapeStep, ...]:
    """`20s:2,6s:40,30s:2` (users: the closed model) or `20s:10/s,5s:200/s` (arrivals: the open one)."""
    steps = tuple(_shape_step(part) for part in text.split(",") if part.strip())
    if not steps:
        raise ConfigError("--shape is empty.", _SHAPE_FIX)
    if len(steps) > MAX_SHAPE_STEPS:
        raise ConfigError(f"--shape has more than {MAX_SHAPE_STEPS} steps.", "merge steps of the same load")
    if len({s.users is None for s in steps}) > 1:
        raise ConfigError("--shape mixes users and arrival rates.", "give every step users (closed) or N/s (open)")
    return steps


def build_plan(config: RunConfig) -> tuple[StagePlan, ...]:
    """A shape's steps as they are; else equal stage lengths within the run's duration."""
    if config.shape:
        return tuple(StagePlan(i, s.users, s.rate, s.duration_s) for i, s in enumerate(config.shape))
    if config.rates:
        each = config.duration_s / len(config.rates)
        return tuple(StagePlan(i, None, r, each) for i, r in enumerate(config.rates))
    users = config.users or user_ladder(config.max_users, config.stage_count)
    each = config.duration_s / len(users)
    ws = config.websocket
    if ws is not None:  # each stage of connections is held for its share, after its ramp at the connect rate
        return tuple(StagePlan(i, u, None, each + ws.ramp_s(users[i - 1] if i else 0, u)) for i, u in enumerate(users))
    return tuple(StagePlan(i, u, None, each) for i, u in enumerate(users))


def check_plan(config: RunConfig) -> RunConfig:
    """The run's stages each at least MIN_STAGE_S long; checked before anything starts."""
    plan = build_plan(config)
    short = next((p for p in plan if p.planned_s < MIN_STAGE_S), None)
    if config.shape and short is not None:
        raise ConfigError(f"--shape step {short.index + 1} lasts {short.planned_s:g}s, under the {MIN_STAGE_S:g}s a "
                          "step needs.", "make it longer, or merge it with its neighbour")  # fmt: skip
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
