"""Everything Rich: the live view while a run goes, and the report's tables after.

The only module that imports Rich (ruff's banned-api enforces it); the rest of the package hands
it plain values. NO_COLOR is honoured by Rich itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from profiler.base.config import MIB
from profiler.base.secrets import mask_text
from profiler.load.driver import Message
from profiler.load.plan import StagePlan
from profiler.report.terminal import (
    TextTable,
    check_table,
    compact,
    comparison_tables,
    report_tables,
    summary_lines,
)
from profiler.run.session import LiveSample
from profiler.runfolder.messages import StageDone, Tick
from profiler.schema.report import Report
from profiler.schema.verdicts import CheckResult, Comparison


def console(stderr: bool = False) -> Console:
    c = Console(stderr=stderr, highlight=False)
    if not c.is_terminal:
        # Piped or captured output has no width to fit; 80 columns would fold the stage table.
        c = Console(stderr=stderr, highlight=False, width=160)
    return c


def render_table(t: TextTable) -> Table:
    # Every cell as plain Text: a subject such as "[/usr/bin/redis-server ...]" is not Rich markup.
    caption = Text("\n".join(t.notes)) if t.notes else None
    table = Table(title=Text(t.title), title_justify="left", caption=caption, caption_justify="left")
    for i, col in enumerate(t.columns):
        table.add_column(
            Text(col),
            justify="left" if i == 0 or not t.rows or not _numeric(t.rows[0][i]) else "right",
            overflow="fold",
        )
    for row in t.rows:
        table.add_row(*(Text(cell) for cell in row))
    return table


def _numeric(cell: str) -> bool:
    return cell.replace(".", "", 1).replace("-", "", 1).isdigit()


NARROW = 120  # below this many columns the stage table keeps only its key columns


def print_report(report: Report, out: Console | None = None) -> None:
    out = out or console()
    for t in report_tables(report):
        out.print(render_table(compact(t) if t.title == "Load stages" and out.width < NARROW else t))
    for line in summary_lines(report):
        out.print(Text(line), soft_wrap=True)


@dataclass(frozen=True)
class Words:
    """What the live view calls a run's load, its rate and its rows: a ws:// run's users are
    connections, and what it times are messages answered."""

    load: str
    rate: str
    rows: str


WORDS = {"users": Words("users", "rps", "requests"), "connections": Words("connections", "msg/s", "messages")}


class LiveView:
    """Stage, users, rps, p50/p95, errors, target CPU/RSS, and a bar for the whole plan."""

    def __init__(self, out: Console | None = None) -> None:
        self.out = out or console(stderr=True)
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
            # An upper bound: the run may stop climbing early once the target saturates.
            TextColumn("≤{task.remaining:.0f}s left"),
            console=self.out,
        )
        self.task = self.bar.add_task("starting", total=1.0)
        self.status = Text("")
        self.live: Live | None = None
        self.stages: tuple[StagePlan, ...] = ()
        self.words = WORDS["users"]
        self.done: list[StageDone] = []

    def _ensure(self) -> None:
        if self.live is None and self.out.is_terminal:
            self.live = Live(Group(self.bar, self.status), console=self.out, refresh_per_second=4, transient=True)
            self.live.start()

    def phase(self, text: str) -> None:
        self._ensure()
        # Without a terminal (CI logs) only finished stages are printed: phases would be noise.
        self.bar.update(self.task, description=mask_text(text))

    def plan(self, stages: tuple[StagePlan, ...], unit: str = "users") -> None:
        self.stages, self.words = stages, WORDS[unit]
        self.bar.update(self.task, total=sum(s.planned_s for s in stages) or 1.0, completed=0)

    def notice(self, text: str) -> None:
        self.out.print(Text(mask_text(text)), soft_wrap=True)

    def progress(self, message: Message | None, sample: LiveSample | None) -> None:
        self._ensure()
        if isinstance(message, StageDone):
            self.done.append(message)
            if self.live is None:
                self.out.print(_stage_line(message, self.words))
        if isinstance(message, Tick) and self.stages:
            idx = message.stage
            done_s = sum(s.planned_s for s in self.stages[:idx]) + message.stage_elapsed_s
            load = f"{message.users} {self.words.load}" if message.users else f"{message.rate}/s"
            self.bar.update(self.task, completed=done_s, description=f"stage {idx + 1}/{len(self.stages)} · {load}")
            cpu = f"{sample.cpu:.0f}%" if sample else "-"
            rss = f"{sample.rss / MIB:.0f} MiB" if sample else "-"
            self.status.plain = (
                f"{self.words.rate} {message.rps:.1f}  p50 {message.p50:.1f} ms  p95 {message.p95:.1f} ms  errors {message.errors}  "
                f"target cpu {cpu} rss {rss}  {self.words.rows} {message.requests}"
            )

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None


def _stage_line(m: StageDone, words: Words = WORDS["users"]) -> str:
    load = f"{m.users} {words.load}" if m.users else f"{m.rate}/s"
    return f"stage {m.stage}: {load}: {m.rps:.1f} {words.rate}, p50 {m.p50:.1f} ms, p95 {m.p95:.1f} ms, errors {m.error_rate:.1%}"


def print_gate(results: Sequence[CheckResult], out: Console | None = None) -> None:
    """A gate's checks as a table on stdout (the one-line verdict goes to stderr)."""
    (out or console()).print(render_table(check_table(results)))


def print_comparison(c: Comparison, out: Console | None = None) -> None:
    """What changed between two runs (only the changes beyond noise get a row)."""
    out = out or console()
    for t in comparison_tables(c):
        if t.rows:
            out.print(render_table(t))
        else:  # nothing changed: an empty table would only frame the good news
            for line in (t.title, *t.notes):
                out.print(Text(line), soft_wrap=True)


def error_line(message: str) -> None:
    # soft_wrap: one logical line stays one line, whatever the terminal's width. Masked here too:
    # a message may name a URL as the user gave it, credentials and all.
    console(stderr=True).print(Text(f"error: {mask_text(message)}", style="bold red"), soft_wrap=True)
