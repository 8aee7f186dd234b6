"""Per-stage GPU and energy figures from the sampler's samples. Pure: values in, values out.

A sample is a JSON object with `t` (epoch seconds) and optionally `gpu` (the list of
per-device dicts from GpuBackend.sample) and `rapl_uj` (RaplReader.read()). A stage is
(stage index, t_start, t_end, requests completed in it). `device_sections` turns the figures
into the report's GPU and energy sections.

Energy is never guessed: a figure is None when its source was not sampled over the stage.
Counters are interpolated linearly at the stage edges (stages rarely start on a sample)
and clamped to the sampled span, never extrapolated; `covered_s` says how much of the
stage the figure actually spans.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from profiler.analysis.attribution.energy import cumulative_between, joules_between
from profiler.base.config import MIB
from profiler.schema.report import EnergySection, EnergyStage, GpuDeviceStage, GpuSection

StageSpan = tuple[int, float, float, int]  # (stage, start, end, requests completed)
DeviceKey = tuple[int, int | None]  # (GPU index, MIG instance or None)

SOURCE_GPU_COUNTER = "nvml-energy-counter"
SOURCE_GPU_POWER = "nvml-power-integrated"
SOURCE_GPU_MIXED = "nvml-counter+power"
SOURCE_RAPL = "rapl"


@dataclass(frozen=True)
class GpuStageStats:
    """One device over one stage; None where the device never reported the field."""

    index: int
    mig_index: int | None
    samples: int
    util_gpu_mean: float | None
    util_gpu_max: float | None
    util_mem_mean: float | None
    mem_used_max: int | None
    power_w_mean: float | None
    proc_mem_max: int | None


@dataclass(frozen=True)
class EnergyFigures:
    """Energy of one source (all GPUs, or all CPU packages) over one stage."""

    joules: float
    joules_per_request: float | None  # None when the stage completed no request
    joules_per_1k_requests: float | None
    watts: float
    covered_s: float
    source: str


@dataclass(frozen=True)
class StageDevices:
    stage: int
    t_start: float
    t_end: float
    requests: int
    gpu: tuple[GpuStageStats, ...]
    gpu_energy: EnergyFigures | None
    cpu_energy: EnergyFigures | None


def _device_order(item: tuple[DeviceKey, object]) -> tuple[int, int]:
    index, mig = item[0]
    return index, -1 if mig is None else mig  # the GPU first, then its MIG instances


def _num(value: object) -> float | None:
    # bool is an int subclass; a stray True must not read as 1.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _timed(samples: Sequence[Mapping[str, object]]) -> list[tuple[float, Mapping[str, object]]]:
    timed = [(t, s) for s in samples if (t := _num(s.get("t"))) is not None]
    return sorted(timed, key=lambda pair: pair[0])


def _gpu_rows(sample: Mapping[str, object]) -> list[tuple[DeviceKey, Mapping[str, object]]]:
    rows = sample.get("gpu")
    if not isinstance(rows, list):
        return []
    keyed: list[tuple[DeviceKey, Mapping[str, object]]] = []
    for row in rows:
        if not isinstance(row, Mapping):
            continue
        index = _num(row.get("index"))
        mig = _num(row.get("mig_index"))
        if index is not None:
            keyed.append(((int(index), int(mig) if mig is not None else None), row))
    return keyed


def _device_series(
    timed: list[tuple[float, Mapping[str, object]]],
) -> dict[DeviceKey, list[tuple[float, Mapping[str, object]]]]:
    series: dict[DeviceKey, list[tuple[float, Mapping[str, object]]]] = {}
    for t, sample in timed:
        for key, row in _gpu_rows(sample):
            series.setdefault(key, []).append((t, row))
    return series


def gpu_timelines(samples: Sequence[Mapping[str, object]]) -> dict[str, list[tuple[float, float | None, float | None]]]:
    """Per device ('GPU 0', 'GPU 0 MIG 1'): (time, SM utilisation %, memory used MiB)."""
    out: dict[str, list[tuple[float, float | None, float | None]]] = {}
    for (index, mig), rows in sorted(_device_series(_timed(samples)).items(), key=_device_order):
        label = f"GPU {index}" + (f" MIG {mig}" if mig is not None else "")
        out[label] = [(t, _num(r.get("util_gpu")), _mb_of(_num(r.get("mem_used")))) for t, r in rows]
    return out


def _mb_of(value: float | None) -> float | None:
    return value / 2**20 if value is not None else None


def _field(rows: Sequence[tuple[float, Mapping[str, object]]], name: str) -> list[float]:
    return [v for _, row in rows if (v := _num(row.get(name))) is not None]


def _gpu_stats(key: DeviceKey, rows: list[tuple[float, Mapping[str, object]]], t0: float, t1: float) -> GpuStageStats:
    # Half-open: consecutive stages share their boundary, and a sample on it is one sample.
    inside = [(t, row) for t, row in rows if t0 <= t < t1]
    util = _field(inside, "util_gpu")
    mem_used = _field(inside, "mem_used")
    proc_mem = _field(inside, "proc_mem")
    return GpuStageStats(
        index=key[0],
        mig_index=key[1],
        samples=len(inside),
        util_gpu_mean=_mean(util),
        util_gpu_max=max(util) if util else None,
        util_mem_mean=_mean(_field(inside, "util_mem")),
        mem_used_max=int(max(mem_used)) if mem_used else None,
        power_w_mean=_mean(_field(inside, "power_w")),
        proc_mem_max=int(max(proc_mem)) if proc_mem else None,
    )


def _covered(times: Sequence[float], t0: float, t1: float) -> float:
    if len(times) < 2:
        return 0.0
    return max(0.0, min(t1, times[-1]) - max(t0, times[0]))


def _counter_joules(rows: list[tuple[float, Mapping[str, object]]], t0: float, t1: float) -> tuple[float, float] | None:
    """(joules, covered seconds) from the NVML total-energy counter (millijoules)."""
    points: list[tuple[float, float]] = []
    running = 0.0
    previous: float | None = None
    for t, row in rows:
        value = _num(row.get("energy_mj"))
        if value is None:
            continue
        if previous is not None and value >= previous:
            running += value - previous
        # A drop means the driver reloaded and the counter restarted: count nothing.
        previous = value
        points.append((t, running / 1000.0))
    joules = cumulative_between(points, t0, t1)
    if joules is None:
        return None
    return joules, _covered([t for t, _ in points], t0, t1)


def _power_joules(rows: list[tuple[float, Mapping[str, object]]], t0: float, t1: float) -> tuple[float, float] | None:
    """(joules, covered seconds) integrating power_w over time by trapezoids."""
    points: list[tuple[float, float]] = []
    running = 0.0
    last: tuple[float, float] | None = None
    for t, row in rows:
        watts = _num(row.get("power_w"))
        if watts is None:
            continue
        if last is not None:
            running += (last[1] + watts) / 2.0 * (t - last[0])
        last = (t, watts)
        points.append((t, running))
    joules = cumulative_between(points, t0, t1)
    if joules is None:
        return None
    return joules, _covered([t for t, _ in points], t0, t1)


def _figures(joules: float, watts: float, covered: float, requests: int, source: str) -> EnergyFigures:
    per_request = joules / requests if requests > 0 else None
    return EnergyFigures(
        joules=joules,
        joules_per_request=per_request,
        joules_per_1k_requests=per_request * 1000.0 if per_request is not None else None,
        watts=watts,
        covered_s=covered,
        source=source,
    )


def _gpu_energy(
    series: dict[DeviceKey, list[tuple[float, Mapping[str, object]]]],
    t0: float,
    t1: float,
    requests: int,
) -> EnergyFigures | None:
    joules = watts = 0.0
    covered: list[float] = []
    sources: set[str] = set()
    for (_, mig), rows in sorted(series.items(), key=_device_order):
        if mig is not None:
            continue  # MIG instances draw from their parent's power; counting both doubles
        measured = _counter_joules(rows, t0, t1)
        source = SOURCE_GPU_COUNTER
        if measured is None:
            measured = _power_joules(rows, t0, t1)
            source = SOURCE_GPU_POWER
        if measured is None or measured[1] <= 0:
            continue
        joules += measured[0]
        watts += measured[0] / measured[1]
        covered.append(measured[1])
        sources.add(source)
    if not sources:
        return None
    source = sources.pop() if len(sources) == 1 else SOURCE_GPU_MIXED
    return _figures(joules, watts, min(covered), requests, source)


def _cpu_energy(
    readings: list[tuple[float, dict[str, int]]],
    max_ranges: Mapping[str, int] | None,
    t0: float,
    t1: float,
    requests: int,
) -> EnergyFigures | None:
    if not max_ranges or not readings:
        return None
    joules = joules_between(readings, max_ranges, t0, t1)
    covered = _covered([t for t, _ in readings], t0, t1)
    if joules is None or covered <= 0:
        return None
    return _figures(joules, joules / covered, covered, requests, SOURCE_RAPL)


def _rapl_readings(
    timed: list[tuple[float, Mapping[str, object]]],
) -> list[tuple[float, dict[str, int]]]:
    readings: list[tuple[float, dict[str, int]]] = []
    for t, sample in timed:
        raw = sample.get("rapl_uj")
        if not isinstance(raw, Mapping):
            continue
        values = {str(k): int(v) for k, v in raw.items() if isinstance(v, int) and not isinstance(v, bool)}
        if values:
            readings.append((t, values))
    return readings


def summarize_devices(
    samples: Sequence[Mapping[str, object]],
    rapl_max_ranges: Mapping[str, int] | None,
    stages: Sequence[StageSpan],
) -> tuple[StageDevices, ...]:
    """GPU statistics and GPU/CPU energy for every stage, in the order given."""
    timed = _timed(samples)
    series = _device_series(timed)
    readings = _rapl_readings(timed)
    result: list[StageDevices] = []
    for stage, t0, t1, requests in stages:
        gpu = tuple(_gpu_stats(key, rows, t0, t1) for key, rows in sorted(series.items(), key=_device_order))
        result.append(
            StageDevices(
                stage=stage,
                t_start=t0,
                t_end=t1,
                requests=requests,
                gpu=gpu,
                gpu_energy=_gpu_energy(series, t0, t1, requests),
                cpu_energy=_cpu_energy(readings, rapl_max_ranges, t0, t1, requests),
            )
        )
    return tuple(result)


# -- the report's GPU and energy sections ------------------------------------------------------


def _mb(value: int | None) -> float | None:
    return value / MIB if value is not None else None


def _gpu_report_rows(per_stage: Sequence[StageDevices]) -> list[GpuDeviceStage]:
    """One row per stage and whole GPU (MIG instances are left to their parent)."""
    return [
        GpuDeviceStage(
            stage=sd.stage,
            device=g.index,
            util_gpu_mean=g.util_gpu_mean,
            util_gpu_max=g.util_gpu_max,
            util_mem_mean=g.util_mem_mean,
            mem_used_max_mb=_mb(g.mem_used_max),
            power_mean_w=g.power_w_mean,
            proc_mem_max_mb=_mb(g.proc_mem_max),
        )
        for sd in per_stage
        for g in sd.gpu
        if g.mig_index is None
    ]


def _energy_section(per_stage: Sequence[StageDevices], notices: list[str]) -> EnergySection:
    rows: list[EnergyStage] = []
    gpu_source = cpu_source = None
    for sd in per_stage:
        ge, ce = sd.gpu_energy, sd.cpu_energy
        if ge is None and ce is None:
            continue
        gpu_source = gpu_source or (ge.source if ge else None)
        cpu_source = cpu_source or (ce.source if ce else None)
        rows.append(
            EnergyStage(
                stage=sd.stage,
                gpu_joules=ge.joules if ge else None,
                cpu_joules=ce.joules if ce else None,
                gpu_j_per_request=ge.joules_per_request if ge else None,
                cpu_j_per_request=ce.joules_per_request if ce else None,
                gpu_j_per_1k=ge.joules_per_1k_requests if ge else None,
                cpu_j_per_1k=ce.joules_per_1k_requests if ce else None,
                gpu_watts=ge.watts if ge else None,
                cpu_watts=ce.watts if ce else None,
            )
        )
    return EnergySection(gpu_source=gpu_source, cpu_source=cpu_source, notices=notices, per_stage=rows)


def device_sections(
    samples: Sequence[Mapping[str, object]],
    windows: Sequence[tuple[int, float, float, int]],
    sampler_info: Mapping[str, Any],
) -> tuple[GpuSection, EnergySection]:
    """The report's GPU and energy sections: `windows` are (stage, start, end, requests in it),
    `sampler_info` what the sampler could read (sampler.json: its "gpu" and "rapl" parts)."""
    rapl = sampler_info.get("rapl") or {}
    gpu_info = sampler_info.get("gpu") or {}
    per_stage = summarize_devices(samples, rapl.get("max_range_uj") or None, windows)
    gpu = GpuSection(
        available=bool(gpu_info.get("available")),
        notice=gpu_info.get("notice"),
        devices=gpu_info.get("devices", []),
        per_stage=_gpu_report_rows(per_stage),
    )
    notices = [n for n in (gpu_info.get("notice"), rapl.get("notice")) if n]
    return gpu, _energy_section(per_stage, notices)
