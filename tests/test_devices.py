from __future__ import annotations

import pytest

from profiler.analysis.attribution.devices import (
    SOURCE_GPU_COUNTER,
    SOURCE_GPU_MIXED,
    SOURCE_GPU_POWER,
    SOURCE_RAPL,
    GpuStageStats,
    summarize_devices,
)

T0 = 1_700_000_000.0
RAPL_MAX = 1_000_000  # 1 J range: wraps every 2.5 s at 0.4 W


def _gpu_row(index: int, second: int, *, counter: bool, mig: int | None = None) -> dict[str, object]:
    """A device drawing 100 W on GPU 0 and 50 W on GPU 1, busier in the second stage."""
    power = 100.0 if index == 0 else 50.0
    return {
        "index": index,
        "mig_index": mig,
        "util_gpu": 40 if second < 5 else 90,
        "util_mem": 10,
        "mem_used": 1_000 + second,
        "mem_total": 10_000,
        "power_w": power if mig is None else None,
        "temp_c": 60,
        "sm_clock_mhz": 1400,
        "mem_clock_mhz": 1200,
        # GPU 0 has the total-energy counter (mJ); GPU 1 does not.
        "energy_mj": 5_000_000 + int(power * 1000) * second if counter else None,
        "proc_mem": 500 if second < 5 else 700,
        "proc_count": 1,
    }


def _samples() -> list[dict[str, object]]:
    samples: list[dict[str, object]] = []
    for second in range(11):
        rapl = (second * 400_000) % RAPL_MAX  # 0.4 W, wrapping every 2.5 s
        samples.append(
            {
                "t": T0 + second,
                "gpu": [
                    _gpu_row(0, second, counter=True),
                    _gpu_row(1, second, counter=False),
                ],
                "rapl_uj": {"package-0": rapl, "package-1": 2 * second * 100_000},
            }
        )
    return samples


MAX_RANGES = {"package-0": RAPL_MAX, "package-1": 10**12}
STAGES = [(0, T0, T0 + 5, 500), (1, T0 + 5, T0 + 10, 1000)]


def test_gpu_stats_per_stage_and_device() -> None:
    first, second = summarize_devices(_samples(), MAX_RANGES, STAGES)
    assert [(g.index, g.samples) for g in first.gpu] == [(0, 5), (1, 5)]
    gpu0 = first.gpu[0]
    assert gpu0 == GpuStageStats(
        index=0,
        mig_index=None,
        samples=5,  # [t_start, t_end): the sample at t=5 belongs to the next stage
        util_gpu_mean=40.0,
        util_gpu_max=40.0,
        util_mem_mean=10.0,
        mem_used_max=1_004,
        power_w_mean=100.0,
        proc_mem_max=500,
    )
    assert second.gpu[0].samples == 5
    assert second.gpu[0].proc_mem_max == 700
    assert second.gpu[1].util_gpu_mean == 90.0
    assert second.gpu[1].power_w_mean == 50.0


def test_energy_counter_power_integration_and_rapl_wrap() -> None:
    first, second = summarize_devices(_samples(), MAX_RANGES, STAGES)
    energy = first.gpu_energy
    assert energy is not None
    # GPU 0 by its counter (500 J over 5 s) plus GPU 1 by power (50 W * 5 s).
    assert energy.joules == pytest.approx(750.0)
    assert energy.source == SOURCE_GPU_MIXED
    assert energy.watts == pytest.approx(150.0)
    assert energy.joules_per_request == pytest.approx(1.5)
    assert energy.joules_per_1k_requests == pytest.approx(1500.0)
    assert energy.covered_s == pytest.approx(5.0)
    cpu = first.cpu_energy
    assert cpu is not None
    # package-0 wraps twice in the stage (0.4 W) and package-1 does not (0.2 W).
    assert cpu.joules == pytest.approx(3.0)
    assert cpu.watts == pytest.approx(0.6)
    assert cpu.source == SOURCE_RAPL
    assert second.cpu_energy is not None
    assert second.cpu_energy.joules_per_request == pytest.approx(0.003)


def test_power_only_device_is_integrated_by_trapezoid() -> None:
    samples = [
        {"t": T0, "gpu": [{"index": 0, "power_w": 100.0, "energy_mj": None}]},
        {"t": T0 + 2, "gpu": [{"index": 0, "power_w": 200.0, "energy_mj": None}]},
        {"t": T0 + 4, "gpu": [{"index": 0, "power_w": 200.0, "energy_mj": None}]},
    ]
    (stage,) = summarize_devices(samples, None, [(0, T0, T0 + 4, 0)])
    energy = stage.gpu_energy
    assert energy is not None
    assert energy.source == SOURCE_GPU_POWER
    assert energy.joules == pytest.approx(300.0 + 400.0)
    assert energy.joules_per_request is None  # no request completed: no ratio
    assert energy.joules_per_1k_requests is None
    assert stage.cpu_energy is None  # RAPL never sampled


def test_counter_only_stage_edges_are_interpolated() -> None:
    samples = [{"t": T0 + s, "gpu": [{"index": 0, "energy_mj": 1_000 * s, "power_w": 999.0}]} for s in range(5)]
    (stage,) = summarize_devices(samples, None, [(3, T0 + 0.5, T0 + 2.5, 10)])
    energy = stage.gpu_energy
    assert energy is not None
    assert energy.source == SOURCE_GPU_COUNTER  # the counter wins over power
    assert energy.joules == pytest.approx(2.0)
    assert energy.watts == pytest.approx(1.0)
    assert energy.joules_per_request == pytest.approx(0.2)


def test_absent_sources_are_none_not_guessed() -> None:
    samples: list[dict[str, object]] = [{"t": T0 + s} for s in range(5)]
    (stage,) = summarize_devices(samples, {"package-0": 10}, [(0, T0, T0 + 4, 10)])
    assert stage.gpu == ()
    assert stage.gpu_energy is None
    assert stage.cpu_energy is None


def test_device_without_power_or_counter_gives_no_gpu_energy() -> None:
    samples = [{"t": T0 + s, "gpu": [{"index": 0, "util_gpu": 5, "power_w": None}]} for s in range(3)]
    (stage,) = summarize_devices(samples, None, [(0, T0, T0 + 2, 1)])
    assert stage.gpu[0].util_gpu_mean == 5.0
    assert stage.gpu[0].power_w_mean is None
    assert stage.gpu_energy is None


def test_stage_outside_samples_has_no_figures() -> None:
    (stage,) = summarize_devices(_samples(), MAX_RANGES, [(9, T0 + 100, T0 + 110, 5)])
    assert all(g.samples == 0 and g.util_gpu_mean is None for g in stage.gpu)
    assert stage.gpu_energy is None
    assert stage.cpu_energy is None


def test_mig_instances_listed_but_not_double_counted() -> None:
    samples = [
        {
            "t": T0 + s,
            "gpu": [
                {"index": 0, "mig_index": None, "power_w": 100.0},
                {"index": 0, "mig_index": 0, "mem_used": 10 + s, "util_gpu": None},
                {"index": 0, "mig_index": 1, "mem_used": 20, "util_gpu": None},
            ],
        }
        for s in range(3)
    ]
    (stage,) = summarize_devices(samples, None, [(0, T0, T0 + 2, 1)])
    assert [(g.index, g.mig_index) for g in stage.gpu] == [(0, None), (0, 0), (0, 1)]
    assert stage.gpu[1].mem_used_max == 11  # t=2 is the stage's end, outside it
    assert stage.gpu[1].util_gpu_mean is None
    assert stage.gpu_energy is not None
    assert stage.gpu_energy.joules == pytest.approx(200.0)


def test_malformed_samples_are_ignored() -> None:
    samples: list[dict[str, object]] = [
        {"t": "soon"},
        {"t": T0, "gpu": "broken", "rapl_uj": [1, 2]},
        {"t": T0 + 1, "gpu": [None, {"index": True}, {"index": 0, "util_gpu": True}]},
    ]
    (stage,) = summarize_devices(samples, {"package-0": 10}, [(0, T0, T0 + 2, 1)])
    (gpu,) = stage.gpu
    assert (gpu.index, gpu.samples, gpu.util_gpu_mean) == (0, 1, None)  # True is no number
    assert stage.cpu_energy is None


def test_gpu_timelines_per_device_for_report_html() -> None:
    from profiler.analysis.attribution.devices import gpu_timelines

    samples = _samples()
    samples[3]["gpu"].append(_gpu_row(0, 3, counter=True, mig=1))  # type: ignore[union-attr]
    lines = gpu_timelines(samples)
    assert list(lines) == ["GPU 0", "GPU 0 MIG 1", "GPU 1"]
    t, util, mem = lines["GPU 0"][6]
    assert (t, util) == (T0 + 6, 90) and mem == pytest.approx((1_000 + 6) / 2**20)
    assert len(lines["GPU 1"]) == 11 and len(lines["GPU 0 MIG 1"]) == 1
