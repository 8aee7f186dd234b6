"""demo_app: the pilot "AI app" behind `profiler demo` (features, model, serialize).

The app lives in the package (`profiler/demo_app.py`) so the installed CLI can
run it with `python -m profiler.demo_app`; this file only runs that copy from
a checkout.  See that module's docstring for the behaviour: an awaited ~4 ms
feature fetch, ~3 ms of pure-Python inference on the event loop, and JSON
serialisation of 256 floats, each reported as a Server-Timing handoff.  The
model step dominates and CPU climbs to a full core under load.

Expected profiler trait: cpu-bound (model on the event loop), with the
per-handoff breakdown showing `model` as the largest phase.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from profiler.demo_app import app, main

__all__ = ["app", "main"]

if __name__ == "__main__":
    main()
