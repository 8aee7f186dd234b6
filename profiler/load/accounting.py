"""The load worker's running counts: the stage so far (for early stop and the live view), and
the accounting that puts every request on disk once (requests started per stage, in flight,
written) and tells a hung target from a slow one (when anything last came back).

No Locust or gevent here: plain counters the worker updates, testable on their own.
"""

from __future__ import annotations

import random
import time
from collections import deque
from dataclasses import dataclass, field
from itertools import islice

from profiler.base.stats import percentile
from profiler.runfolder import messages
from profiler.runfolder.records import UNFINISHED, UNSENT, failed, timed_out

LIVE_WINDOW_S = 2.0  # the live view's figures cover the last two seconds
LIVE_SAMPLE = 1000  # answers its percentiles are read from (the report's come from requests.csv)
RESERVOIR = 20_000  # latencies kept per stage for the early-stop rule: p95 within ~0.3%, bounded memory


@dataclass
class Reservoir:
    """A uniform sample of a stage's latencies (Vitter's algorithm R): the early-stop rule's
    percentiles from a fixed amount of memory, however long the stage. The report's figures
    never come from here: they are exact, from requests.csv."""

    count: int = 0
    values: list[float] = field(default_factory=list)
    rng: random.Random = field(default_factory=lambda: random.Random(0))

    def add(self, value: float) -> None:
        self.count += 1
        if len(self.values) < RESERVOIR:
            self.values.append(value)
            return
        slot = int(self.rng.random() * self.count)  # randrange's exactness costs 3x, per request
        if slot < RESERVOIR:
            self.values[slot] = value


@dataclass
class StageCounter:
    """The running stage so far, and the run's request accounting."""

    stage: int = 0
    total: int = 0  # main requests recorded in the whole run
    latencies: Reservoir = field(default_factory=Reservoir)  # of this stage's requests
    errors: int = 0  # of this stage's requests (sent in it), so a rate over them is at most 1
    answered: int = 0  # responses received during this stage, whichever stage sent them: its throughput
    # (end time, latency, failed) of the last LIVE_WINDOW_S: a deque, dropped from the old end as
    # it ages (rebuilding a list of thousands twice a second was a percent of the generator's CPU)
    window: deque[tuple[float, float, bool]] = field(default_factory=deque)
    started: dict[int, int] = field(default_factory=dict)  # main requests started (or unsent), by stage
    written: int = 0  # main request rows handed to the log
    in_flight: int = 0  # requests (main and probe) sent and not yet recorded
    # When the first request still unanswered was sent: anything coming back clears it; a timeout
    # does not, so a lone user whose every request times out is silence, not a fresh start each time.
    waiting_since: float | None = None

    def restart(self, stage: int) -> None:
        self.stage, self.latencies, self.errors, self.answered = stage, Reservoir(), 0, 0

    def begin(self, stage: int, main: bool, sent: bool = True, n: int = 1) -> None:
        """A request starts (or, unsent, an arrival the generator could not send is counted);
        `n` of them at once when a load worker reports what it started."""
        if main:
            self.started[stage] = self.started.get(stage, 0) + n
        if sent and self.waiting_since is None:
            self.waiting_since = time.monotonic()  # silence counts from when something was waiting
        self.in_flight += sent * n

    def end(self, status: int, error: str, sent: bool = True) -> None:
        """A request is recorded. Anything that came back (a response, a refusal, a reset) shows
        the target alive; a timeout or a request cut short at the end does not."""
        self.in_flight -= sent
        if sent and (status > 0 or (error and not timed_out(error) and error != UNFINISHED)):
            self.waiting_since = None if self.in_flight == 0 else time.monotonic()

    def count(self, stage: int, latency_ms: float, status: int, error: str, end: float | None = None) -> None:
        """A main request recorded; `end` (epoch s) when it was answered, now when not given."""
        self.total += 1
        self.written += 1
        bad = failed(status, error)
        self.answered += status > 0
        if error == UNSENT:  # the generator's own shortfall: not the app's error, and no latency
            return
        end = end if end is not None else time.time()
        if stage == self.stage:
            self.latencies.add(latency_ms)
            self.errors += bad
        self.window.append((end, latency_ms, bad))

    def silent_s(self) -> float:
        """Seconds requests have waited with nothing coming back; 0 when none waits."""
        return time.monotonic() - self.waiting_since if self.waiting_since is not None else 0.0

    def recent(self, now: float) -> deque[tuple[float, float, bool]]:
        window, oldest = self.window, now - LIVE_WINDOW_S
        while window and window[0][0] < oldest:  # answers arrive about in order: the old are at the left
            window.popleft()
        return window


def tick_of(
    c: StageCounter, stage: int, users: int | None, rate: float | None, started: float, planned_s: float
) -> messages.Tick:
    """The live view's figures: the last LIVE_WINDOW_S seconds of answers."""
    now = time.time()
    window = c.recent(now)
    # The live view's percentiles from at most LIVE_SAMPLE answers, evenly spread: sorting every
    # one of a fast stage's twice a second costs the generator more than the view is worth.
    step = max(1, len(window) // LIVE_SAMPLE)
    lat = sorted(w[1] for w in islice(window, 0, None, step))
    return messages.Tick(
        stage=stage,
        users=users,
        rate=rate,
        stage_elapsed_s=now - started,
        stage_planned_s=planned_s,
        rps=len(window) / min(LIVE_WINDOW_S, max(0.25, now - started)),
        p50=percentile(lat, 50),
        p95=percentile(lat, 95),
        errors=sum(1 for w in window if w[2]),
        requests=c.total,
    )
