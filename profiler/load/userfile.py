"""A locustfile checked before anything starts, in a process of its own (importing Locust
monkey-patches the standard library with gevent, which the profiler's own process must not have).

`python -m profiler.load.userfile PATH` loads the file as the worker will and prints its user
classes as JSON, or one line naming what is wrong with it and exits 2.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from profiler.base.errors import ConfigError

CHECK_TIMEOUT_S = 60.0  # importing Locust takes a second or two; a locustfile that hangs on import is broken


def check_locustfile(path: Path) -> list[str]:
    """The names of the locustfile's user classes; a ConfigError naming what is wrong otherwise."""
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
    return list(json.loads(done.stdout)["classes"])


def _main(path: str) -> int:
    import locust  # noqa: F401  isort: skip  (first: it patches the standard library)

    from profiler.load.usercode import user_classes

    try:
        classes, _shapes = user_classes(path)
    except SyntaxError as e:
        print(f"line {e.lineno}: SyntaxError: {e.msg}")
        return 2
    except BaseException as e:  # noqa: BLE001 - whatever the user's import raises, one line says what
        print(f"{type(e).__name__}: {e}".splitlines()[0][:300])
        return 2
    if not classes:
        print("no User class found (a class deriving from HttpUser or FastHttpUser, not abstract)")
        return 2
    print(json.dumps({"classes": [c.__name__ for c in classes]}))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1]))
