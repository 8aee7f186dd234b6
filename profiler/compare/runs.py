"""Two run folders, stage by stage: the same load in both (users or rate), each metric's change,
and whether it is more than the runs' own noise."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from profiler.analysis.digest import measurable
from profiler.compare.bootstrap import Interval, change_intervals
from profiler.compare.loads import stage_words
from profiler.compare.metrics import (
    RUN_METRICS,
    STAGE_METRICS,
    CompareMetric,
    StageData,
    handoff_metric,
)
from profiler.compare.verdict import judged
from profiler.report.saved import load_report
from profiler.runfolder.read import RunData, read_run
from profiler.schema import Report, StageReport
from profiler.verdicts import Comparison, StageDelta, TraitChange

NOISE_FLOOR_PCT = 10.0  # see docs/compare.md: the bootstrap sees within-run noise, not run-to-run
FEW_REQUESTS = 30


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
        return StageData(s, self.data.requests.arrays(s.index), start, end)


def _key(s: StageReport) -> tuple[str, float] | None:
    if s.users is not None:
        return ("users", float(s.users))
    return ("rate", s.rate) if s.rate is not None else None


def _comparable(report: Report) -> dict[tuple[str, float], StageReport]:
    """Whole stages without the profiler's cost, by load (the first, when a load ran twice)."""
    out: dict[tuple[str, float], StageReport] = {}
    for s in report.load.stages:
        key = _key(s)
        if key is not None and measurable(s) and not s.profiled:
            out.setdefault(key, s)
    return out


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


def _stage_delta(base: Run, new: Run, b: StageReport, n: StageReport, floor: float) -> StageDelta:
    bd, nd = base.stage(b), new.stage(n)
    metrics = _metrics(base, new)
    intervals = _intervals(metrics, bd, nd)
    deltas = [
        judged(m.name, m.unit, m.direction, m.value(bd), m.value(nd), intervals.get(m.name), m.relative,
               floor * m.floor_factor)
        for m in metrics
    ]  # fmt: skip
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


def _notes(base: Run, new: Run) -> list[str]:
    notes = []
    for label, run in (("base", base), ("new", new)):
        errors = [i.message for i in run.report.validity.issues if i.severity == "error"]
        if errors:
            notes.append(f"the {label} run is not valid: {errors[0]}")
        few = [stage_words(s) for s in _comparable(run.report).values() if s.requests < FEW_REQUESTS]
        if few:
            notes.append(
                f"the {label} run has under {FEW_REQUESTS} requests at {', '.join(few)}: percentiles are shaky"
            )
    bt, nt = base.report.target, new.report.target
    if (bt.method, bt.url.split("//")[-1].split("/", 1)[-1]) != (nt.method, nt.url.split("//")[-1].split("/", 1)[-1]):
        notes.append(f"the runs loaded different endpoints ({bt.method} {bt.url} and {nt.method} {nt.url})")
    if base.report.load.model != new.report.load.model:
        notes.append("one run is a closed model (users), the other open (rates): no stage can be matched")
    return notes


def compare_runs(base_folder: Path, new_folder: Path, noise_floor_pct: float = NOISE_FLOOR_PCT) -> Comparison:
    """What changed from `base_folder` to `new_folder`, stage by stage and for the run as a whole."""
    base, new = Run.read(base_folder), Run.read(new_folder)
    b_stages, n_stages = _comparable(base.report), _comparable(new.report)
    same_model = base.report.load.model == new.report.load.model
    matched = [k for k in b_stages if k in n_stages] if same_model else []
    stages = [_stage_delta(base, new, b_stages[k], n_stages[k], noise_floor_pct) for k in matched]
    unmatched = [f"{stage_words(s)} (base only)" for k, s in b_stages.items() if k not in matched]
    unmatched += [f"{stage_words(s)} (new only)" for k, s in n_stages.items() if k not in matched]
    run_metrics = [
        judged(m.name, m.unit, m.direction, m.value(base.report), m.value(new.report), None, True, noise_floor_pct)
        for m in RUN_METRICS
    ]
    return Comparison(
        base=str(base_folder),
        new=str(new_folder),
        stages=stages,
        unmatched=unmatched,
        traits=_traits(base.report, new.report),
        run_metrics=run_metrics,
        notes=_notes(base, new),
    )
