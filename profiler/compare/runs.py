"""Two run folders, stage by stage: the same load in both (users or rate), each metric's change,
and whether it is more than the runs' own noise."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from profiler.analysis.validity import STEAL_PCT
from profiler.base.errors import ConfigError
from profiler.compare.bootstrap import Interval, change_intervals
from profiler.compare.loads import stage_words
from profiler.compare.metrics import (
    RUN_METRICS,
    STAGE_METRICS,
    CompareMetric,
    StageData,
    handoff_metric,
)
from profiler.compare.notes import comparable, comparison_notes
from profiler.compare.verdict import judged
from profiler.report.saved import load_report
from profiler.runfolder.read import RunData, read_run
from profiler.schema.report import Report, StageReport
from profiler.schema.verdicts import Comparison, StageDelta, TraitChange

NOISE_FLOOR_PCT = 10.0  # see docs/compare.md: the bootstrap sees within-run noise, not run-to-run
TAIL_MIN = 10  # requests beyond a percentile for its change to be judged against the plain floor


@dataclass(frozen=True, slots=True)
class Run:
    folder: Path
    data: RunData
    report: Report

    @classmethod
    def read(cls, folder: Path) -> Run:
        return cls(folder, read_run(folder), load_report(folder))

    def stage(self, s: StageReport) -> StageData:
        window = next((w for w in self.data.stages if w.index == s.index), None)
        start, end = (window.start, window.end) if window is not None else (0.0, 0.0)
        cpu = self.data.samples.cpu_values(start, end) if window is not None else None
        return StageData(s, self.data.requests.arrays(s.index), start, end, cpu)


def _metrics(base: Run, new: Run) -> list[CompareMetric]:
    names = sorted(set(base.data.requests.handoff_names) & set(new.data.requests.handoff_names))
    return [*STAGE_METRICS, *(handoff_metric(name) for name in names)]


def _intervals(metrics: list[CompareMetric], b: StageData, n: StageData) -> dict[str, Interval | None]:
    """Each metric's bootstrap interval; metrics that share a sample share its resamples."""
    groups: dict[str, list[CompareMetric]] = {}
    for m in metrics:
        if m.sample is not None:
            groups.setdefault(m.sample_key or m.name, []).append(m)
    found: dict[str, Interval | None] = {}
    for group in groups.values():
        first = group[0]
        assert first.sample is not None
        sb, sn = first.sample(b), first.sample(n)
        if sb is None or sn is None:
            continue
        intervals = change_intervals(sb, sn, [m.stat for m in group], relative=first.relative)
        found.update({m.name: i for m, i in zip(group, intervals, strict=True)})
    return found


def _floor(m: CompareMetric, b: StageReport, n: StageReport, floor: float) -> float:
    """The metric's floor; doubled for a percentile past which fewer than TAIL_MIN requests lie
    in either run (p99 of 230 requests rests on its two slowest: it moves 10% between two runs
    of one app, and the bootstrap, resampling those same few, cannot see it)."""
    q = m.stat.q
    if q is not None and min(b.requests, n.requests) * (1 - q / 100.0) < TAIL_MIN:
        return floor * m.floor_factor * 2.0
    return floor * m.floor_factor


def _stage_delta(base: Run, new: Run, b: StageReport, n: StageReport, floor: float) -> StageDelta:
    bd, nd = base.stage(b), new.stage(n)
    metrics = _metrics(base, new)
    intervals = _intervals(metrics, bd, nd)
    deltas = [
        judged(m.name, m.unit, m.direction, m.value(bd), m.value(nd), intervals.get(m.name), m.relative,
               _floor(m, b, n, floor))
        for m in metrics
    ]  # fmt: skip
    steal = max(b.machine_steal_pct or 0.0, n.machine_steal_pct or 0.0)
    if steal >= STEAL_PCT:
        # The hypervisor took the CPU in one of the two: a timing's change that steal could account
        # for may be the machine's, not the app's; a larger one is still the app's.
        deltas = [
            d.model_copy(update={"verdict": "unknown", "significant": False})
            if d.verdict in ("better", "worse") and abs(d.change_pct or 0.0) < m.steal_factor * steal
            else d
            for m, d in zip(metrics, deltas, strict=True)
        ]
    return StageDelta(load=stage_words(b), base_stage=b.index, new_stage=n.index, metrics=deltas)


def _traits(base: Report, new: Report) -> list[TraitChange]:
    before = {t.id: t for t in base.traits}
    after = {t.id: t for t in new.traits}
    gained = [
        TraitChange(trait=i, change="appeared", confidence=t.confidence) for i, t in after.items() if i not in before
    ]
    lost = [
        TraitChange(trait=i, change="disappeared", confidence=t.confidence) for i, t in before.items() if i not in after
    ]
    return gained + lost


def compare_runs(base: Path, new: Path, noise_floor_pct: float = NOISE_FLOOR_PCT) -> Comparison:
    """What changed from the run in folder `base` to the run in folder `new`, stage by stage and
    for the run as a whole (RunFolderError when either is not a run folder)."""
    if not math.isfinite(noise_floor_pct) or noise_floor_pct < 0:
        raise ConfigError(f"the noise floor {noise_floor_pct!r}% is not a percentage.", "give a number >= 0, e.g. 10")
    b, n = Run.read(base), Run.read(new)
    b_stages, n_stages = comparable(b.report), comparable(n.report)
    same_model = b.report.load.model == n.report.load.model
    matched = [k for k in b_stages if k in n_stages] if same_model else []
    stages = [_stage_delta(b, n, b_stages[k], n_stages[k], noise_floor_pct) for k in matched]
    unmatched = [f"{stage_words(s)} (base only)" for k, s in b_stages.items() if k not in matched]
    unmatched += [f"{stage_words(s)} (new only)" for k, s in n_stages.items() if k not in matched]
    run_metrics = [
        judged(m.name, m.unit, m.direction, m.read(b.report), m.read(n.report), None, True, noise_floor_pct)
        for m in RUN_METRICS
    ]
    return Comparison(
        base=str(base),
        new=str(new),
        stages=stages,
        unmatched=unmatched,
        traits=_traits(b.report, n.report),
        run_metrics=run_metrics,
        notes=comparison_notes(b.report, n.report),
    )
