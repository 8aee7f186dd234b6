"""A locustfile checked before anything starts, in a process of its own (importing Locust
monkey-patches the standard library with gevent, which the profiler's own process must not have).

`python -m profiler.load.userfile PATH` loads the file as the worker will and prints its user
classes as JSON, with its LoadTestShape's timeline where it has one, or one line naming what is
wrong with it and exits 2.

A LoadTestShape is honoured by reading its `tick()` once a second of run time, before the run
(its `get_run_time` answering each second in turn), until it returns None: the users it asks for
become the run's shape steps (equal neighbours merged). A tick that reads the runner's live state
(`get_current_user_count`) sees none here: such a shape is one line, exit 2.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from profiler.base.config import ShapeStep
from profiler.base.errors import ConfigError

CHECK_TIMEOUT_S = 60.0  # importing Locust takes a second or two; a locustfile that hangs on import is broken


MAX_SHAPE_S = 3600  # a LoadTestShape read for at most an hour of run time
MIN_TICK_STEP_S = 1  # its timeline is read once a second


@dataclass(frozen=True, slots=True)
class UserFile:
    classes: list[str]
    shape: tuple[ShapeStep, ...]  # its LoadTestShape's steps; () when it has none


def check_locustfile(path: Path) -> UserFile:
    """The locustfile's user classes and shape; a ConfigError naming what is wrong otherwise."""
    if not path.is_file():
        raise ConfigError(f"--locustfile '{path}' is not a file.", "give the path of your locustfile.py")
    try:
        done = subprocess.run(
            [sys.executable, "-m", "profiler.load.userfile", str(path.resolve())],
            capture_output=True, text=True, timeout=CHECK_TIMEOUT_S, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise ConfigError(
            f"{path.name} did not finish loading in {CHECK_TIMEOUT_S:g} s.", "does it run work at import?"
        ) from None
    if done.returncode != 0:
        lines = (done.stdout or done.stderr).strip().splitlines()
        raise ConfigError(
            f"{path.name}: {lines[-1] if lines else 'it could not be loaded'}.",
            "fix the locustfile, or run it with `locust -f` to see more",
        )
    found = json.loads(done.stdout)
    steps = tuple(ShapeStep(float(d), users=int(u)) for d, u in found.get("shape") or [])
    return UserFile(list(found["classes"]), steps)


def shape_steps(shape: Any) -> list[tuple[float, int]]:
    """A LoadTestShape instance's timeline as (seconds, users) steps, read a second at a time."""
    clock = {"t": 0.0}
    shape.get_run_time = lambda: clock["t"]
    shape.get_current_user_count = _live_state
    steps: list[tuple[float, int]] = []
    for second in range(0, MAX_SHAPE_S, MIN_TICK_STEP_S):
        clock["t"] = float(second)
        tick = shape.tick()
        if tick is None:
            break
        users = int(tick[0])
        if steps and steps[-1][1] == users:
            steps[-1] = (steps[-1][0] + MIN_TICK_STEP_S, users)
        else:
            steps.append((float(MIN_TICK_STEP_S), users))
    return [(d, u) for d, u in steps if u > 0] if any(u > 0 for _, u in steps) else []


def _live_state() -> int:
    raise RuntimeError("the shape reads the runner's live user count, which the profiler cannot give it ahead")


def _main(path: str) -> int:
    import locust  # noqa: F401  isort: skip  (first: it patches the standard library)

    from profiler.load.usercode import user_classes

    try:
        classes, shapes = user_classes(path)
    except SyntaxError as e:
        print(f"line {e.lineno}: SyntaxError: {e.msg}")
        return 2
    except BaseException as e:  # noqa: BLE001 - whatever the user's import raises, one line says what
        print(f"{type(e).__name__}: {e}".splitlines()[0][:300])
        return 2
    if not classes:
        print("no User class found (a class deriving from HttpUser or FastHttpUser, not abstract)")
        return 2
    try:
        steps = shape_steps(shapes[0]) if shapes else []
    except BaseException as e:  # noqa: BLE001 - a tick that fails says why, in one line
        print(f"its LoadTestShape's tick() failed: {type(e).__name__}: {e}".splitlines()[0][:300])
        return 2
    if len(shapes) > 1:
        print(f"{len(shapes)} LoadTestShape classes: Locust runs one")
        return 2
    print(json.dumps({"classes": [c.__name__ for c in classes], "shape": steps}))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1]))
