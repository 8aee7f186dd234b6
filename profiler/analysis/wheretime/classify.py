"""Which category one stack is in, and the frame that says so. Pure: frames and a source line in.

A stack's category is its outermost frame that the table knows (app -> SQLAlchemy -> socket is
storage: the app asked for a query, the socket is how it went), found by the longest module prefix
that matches (`asyncio/locks.py` is a lock, `asyncio/base_events.py` the framework). Where no
Python frame knows (a C call such as sqlite3's execute or orjson.dumps has none), native frames
(py-spy --native) are read, then the innermost Python frame's source line. Else the app's own code
where the innermost frame is the app's, the framework where a framework frame is on the stack.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from profiler.analysis.attribution.stacks import Frame, short_location
from profiler.analysis.wheretime.table import APP, FRAMEWORK, OTHER, Category, CategoryTable

_LIBRARY_DIR = re.compile(r"/(?:site|dist)-packages/|/lib/python\d+(?:\.\d+)?t?/|^<frozen ")

How = Literal["frame", "native", "call", "app", "framework", "other"]


@dataclass(frozen=True, slots=True)
class Placement:
    category: str
    how: How  # what told it: a Python frame, a native frame, the source line of a call, or the leaf
    frame: Frame | None  # the frame that told it (the app's frame for a call from its source line)
    caller: Frame | None  # the innermost app frame above it: the app's function that asked


def is_python(frame: Frame) -> bool:
    return frame.file.endswith((".py", ".pyx")) or frame.file.startswith("<frozen ")


def is_app(frame: Frame) -> bool:
    """The app's own code: a Python file outside the standard library and site-packages."""
    return is_python(frame) and _LIBRARY_DIR.search(frame.file.replace("\\", "/")) is None


def _module_match(location: str, module: str) -> bool:
    if location == module or location.startswith((module + "/", module + ".")):
        return True
    return "/" in module and location.startswith(module)


def module_category(frame: Frame, table: CategoryTable) -> Category | None:
    """The category of a Python library frame, by the longest module prefix of any category."""
    location = short_location(frame.file)
    best: tuple[int, Category] | None = None
    for category in table.categories:
        for module in category.modules:
            if _module_match(location, module) and (best is None or len(module) > best[0]):
                best = (len(module), category)
    return best[1] if best is not None else None


def native_category(frame: Frame, table: CategoryTable) -> Category | None:
    library = frame.file.rsplit("/", 1)[-1].removeprefix("lib")
    for category in table.categories:
        if any(frame.name.startswith(p) or library.startswith(p) for p in category.native):
            return category
    return None


def call_category(line: str | None, table: CategoryTable) -> Category | None:
    """The category of the C call a source line makes (`cur.execute(`, `orjson.dumps(`), if any."""
    if not line:
        return None
    code = line.split("#", 1)[0]
    return next((c for c in table.categories if any(p.search(code) for p in c.calls)), None)


def _innermost_app(frames: list[Frame], before: int, table: CategoryTable) -> Frame | None:
    for f in reversed(frames[:before]):
        if is_app(f):
            return f
        if _is_framework(f, table):
            return None  # an app frame above the server only started it (`waitress.serve(app)`)
    return None


def _is_framework(frame: Frame, table: CategoryTable) -> bool:
    found = module_category(frame, table) if is_python(frame) else None
    return found is not None and found.name == FRAMEWORK


def place(frames: list[Frame], leaf_line: str | None, table: CategoryTable) -> Placement:
    """The category of one stack (frames root to leaf, prefix frames removed)."""
    app_seen = False  # an app frame below the last framework frame: the app's request code
    for i, frame in enumerate(frames):
        if is_app(frame):
            app_seen = True
            continue
        found = module_category(frame, table) if is_python(frame) else native_category(frame, table)
        if found is not None and found.name == FRAMEWORK:
            app_seen = False  # the script that called `waitress.serve(app)` is not the app's request code
            continue
        if found is None or (found.under_app and not app_seen):
            continue
        return Placement(found.name, "frame" if is_python(frame) else "native", frame, _innermost_app(frames, i, table))
    python = [i for i, f in enumerate(frames) if is_python(f)]
    if python:
        leaf_at = python[-1]
        leaf = frames[leaf_at]
        # The C call a line makes, where the line is not the server's own (its socket reads).
        called = call_category(leaf_line, table) if not _is_framework(leaf, table) else None
        if called is not None and called.name != FRAMEWORK and (not called.under_app or app_seen):
            return Placement(called.name, "call", leaf, _innermost_app(frames, leaf_at + 1, table))
        if is_app(leaf):
            return Placement(APP, "app", leaf, leaf)
    leaf_frame = frames[python[-1]] if python else (frames[-1] if frames else None)
    if any(is_python(f) and (c := module_category(f, table)) is not None and c.name == FRAMEWORK for f in frames):
        return Placement(FRAMEWORK, "framework", leaf_frame, None)
    return Placement(OTHER, "other", leaf_frame, None)
