from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType, SimpleNamespace

import pytest

from profiler.base.errors import GpuUnavailable
from profiler.sampling.gpu import GpuDevice, NvmlBackend, open_gpu_backend

Install = Callable[[ModuleType], ModuleType]


class NVMLError(Exception):
    pass


class NVMLError_NotSupported(NVMLError):
    pass


class NVMLError_NotFound(NVMLError):
    pass


class NVMLError_LibraryNotFound(NVMLError):
    def __str__(self) -> str:
        return "NVML Shared Library Not Found"


@dataclass
class FakeGpu:
    """What one fake device reports; a field set to None raises NotSupported."""

    name: str
    uuid: str
    total: int = 16 * 2**30
    used: int | None = 2 * 2**30
    util: tuple[int, int] | None = (50, 20)
    power_mw: int | None = 150_000
    temp: int | None = 60
    clocks: dict[int, int] | None = field(default_factory=lambda: {1: 1410, 2: 1215})
    energy_mj: int | None = 123_456
    mig: list[FakeGpu | None] | None = None  # None: board without MIG support
    compute: list[tuple[int, int | None]] = field(default_factory=list)
    graphics: list[tuple[int, int | None]] = field(default_factory=list)


def _need(value: object) -> object:
    if value is None:
        raise NVMLError_NotSupported()
    return value


def fake_pynvml(gpus: list[FakeGpu], init_error: Exception | None = None) -> ModuleType:
    """A module with the slice of pynvml's API the backend uses, over `gpus`."""
    module = ModuleType("pynvml")
    state = {"shutdowns": 0}

    def init() -> None:
        if init_error is not None:
            raise init_error

    def shutdown() -> None:
        state["shutdowns"] += 1

    def memory(gpu: FakeGpu) -> SimpleNamespace:
        return SimpleNamespace(total=gpu.total, used=_need(gpu.used), free=0)

    def util(gpu: FakeGpu) -> SimpleNamespace:
        rates = _need(gpu.util)
        assert isinstance(rates, tuple)
        return SimpleNamespace(gpu=rates[0], memory=rates[1])

    def clock(gpu: FakeGpu, kind: int) -> object:
        return _need((gpu.clocks or {}).get(kind))

    def mig_mode(gpu: FakeGpu) -> list[int]:
        if gpu.mig is None:
            raise NVMLError_NotSupported()
        return [1, 1] if gpu.mig else [0, 0]

    def mig_handle(gpu: FakeGpu, slot: int) -> FakeGpu:
        instance = (gpu.mig or [])[slot]
        if instance is None:
            raise NVMLError_NotFound()
        return instance

    def procs(entries: list[tuple[int, int | None]]) -> list[SimpleNamespace]:
        return [SimpleNamespace(pid=pid, usedGpuMemory=used) for pid, used in entries]

    functions = {
        "nvmlInit": init,
        "nvmlShutdown": shutdown,
        "nvmlDeviceGetCount": lambda: len(gpus),
        "nvmlDeviceGetHandleByIndex": lambda i: gpus[i],
        "nvmlDeviceGetName": lambda g: g.name,
        "nvmlDeviceGetUUID": lambda g: g.uuid.encode(),  # old releases return bytes
        "nvmlDeviceGetMemoryInfo": memory,
        "nvmlDeviceGetUtilizationRates": util,
        "nvmlDeviceGetPowerUsage": lambda g: _need(g.power_mw),
        "nvmlDeviceGetTemperature": lambda g, sensor: _need(g.temp),
        "nvmlDeviceGetClockInfo": clock,
        "nvmlDeviceGetTotalEnergyConsumption": lambda g: _need(g.energy_mj),
        "nvmlDeviceGetComputeRunningProcesses": lambda g: procs(g.compute),
        "nvmlDeviceGetGraphicsRunningProcesses": lambda g: procs(g.graphics),
        "nvmlDeviceGetMigMode": mig_mode,
        "nvmlDeviceGetMaxMigDeviceCount": lambda g: len(g.mig or []),
        "nvmlDeviceGetMigDeviceHandleByIndex": mig_handle,
    }
    for name, function in functions.items():
        setattr(module, name, function)
    module.NVMLError = NVMLError  # type: ignore[attr-defined]
    module.NVML_TEMPERATURE_GPU = 0  # type: ignore[attr-defined]
    module.NVML_CLOCK_SM = 1  # type: ignore[attr-defined]
    module.NVML_CLOCK_MEM = 2  # type: ignore[attr-defined]
    module.NVML_DEVICE_MIG_ENABLE = 1  # type: ignore[attr-defined]
    module.state = state  # type: ignore[attr-defined]
    return module


@pytest.fixture
def install(monkeypatch: pytest.MonkeyPatch) -> Install:
    """Puts a fake pynvml where `import pynvml` finds it: the module boundary."""

    def put(module: ModuleType) -> ModuleType:
        monkeypatch.setitem(sys.modules, "pynvml", module)
        return module

    return put


def test_two_devices(install: Install) -> None:
    install(fake_pynvml([FakeGpu("A100", "GPU-a"), FakeGpu("T4", "GPU-b", power_mw=70_000)]))
    backend = open_gpu_backend()
    assert backend.devices() == [
        GpuDevice(0, "A100", "GPU-a", 16 * 2**30, None),
        GpuDevice(1, "T4", "GPU-b", 16 * 2**30, None),
    ]
    first, second = backend.sample([])
    assert first == {
        "index": 0,
        "mig_index": None,
        "util_gpu": 50,
        "util_mem": 20,
        "mem_used": 2 * 2**30,
        "mem_total": 16 * 2**30,
        "power_w": 150.0,
        "temp_c": 60,
        "sm_clock_mhz": 1410,
        "mem_clock_mhz": 1215,
        "energy_mj": 123_456,
        "proc_mem": 0,
        "proc_count": 0,
    }
    assert second["index"] == 1
    assert second["power_w"] == 70.0
    backend.close()
    backend.close()


def test_not_supported_fields_are_none(install: Install) -> None:
    bare = FakeGpu(
        "GeForce",
        "GPU-c",
        used=None,
        util=None,
        power_mw=None,
        temp=None,
        clocks=None,
        energy_mj=None,
    )
    install(fake_pynvml([bare]))
    (sample,) = open_gpu_backend().sample([1])
    for key in (
        "util_gpu",
        "util_mem",
        "mem_used",
        "power_w",
        "temp_c",
        "sm_clock_mhz",
    ):
        assert sample[key] is None, key
    assert sample["mem_clock_mhz"] is None
    assert sample["energy_mj"] is None
    assert sample["mem_total"] is None  # memory info as a whole failed
    assert sample["proc_count"] == 0


def test_process_memory_counts_only_given_pids(install: Install) -> None:
    gpu = FakeGpu(
        "A100",
        "GPU-a",
        compute=[(100, 1_000), (101, 2_000), (999, 50_000)],
        graphics=[(100, 1_000), (102, None)],  # 100 has both contexts: counted once
    )
    other = FakeGpu("A100", "GPU-b", compute=[(101, 4_000)])
    install(fake_pynvml([gpu, other]))
    first, second = open_gpu_backend().sample({100, 101, 102})
    assert first["proc_mem"] == 3_000
    assert first["proc_count"] == 3
    assert second["proc_mem"] == 4_000
    assert second["proc_count"] == 1


def test_process_memory_hidden_is_none(install: Install) -> None:
    install(fake_pynvml([FakeGpu("A100", "GPU-a", compute=[(7, None)])]))
    (sample,) = open_gpu_backend().sample([7])
    assert sample["proc_mem"] is None
    assert sample["proc_count"] == 1


def test_mig_instances_are_reported(install: Install) -> None:
    small = FakeGpu(
        "A100 MIG 1g.5gb",
        "MIG-1",
        total=5 * 2**30,
        used=1 * 2**30,
        util=None,
        power_mw=None,
        energy_mj=None,
        mig=None,
        compute=[(42, 900)],
    )
    large = FakeGpu("A100 MIG 3g.20gb", "MIG-2", total=20 * 2**30, used=3 * 2**30, util=None)
    parent = FakeGpu("A100", "GPU-a", total=40 * 2**30, util=None, mig=[small, None, large])
    plain = FakeGpu("A100", "GPU-b", mig=[])  # MIG-capable, MIG off
    install(fake_pynvml([parent, plain]))
    backend = open_gpu_backend()
    devices = backend.devices()
    assert [(d.index, d.mig_index, d.mig_mode) for d in devices] == [
        (0, None, True),
        (0, 0, None),
        (0, 2, None),
        (1, None, False),
    ]
    assert devices[1].memory_total_bytes == 5 * 2**30
    samples = backend.sample([42])
    assert [(s["index"], s["mig_index"]) for s in samples] == [
        (0, None),
        (0, 0),
        (0, 2),
        (1, None),
    ]
    assert samples[1]["mem_used"] == 2**30
    assert samples[1]["util_gpu"] is None
    assert samples[1]["proc_mem"] == 900
    assert samples[2]["mem_total"] == 20 * 2**30


def test_library_not_found_is_unavailable(install: Install) -> None:
    install(fake_pynvml([], init_error=NVMLError_LibraryNotFound()))
    with pytest.raises(GpuUnavailable) as info:
        open_gpu_backend()
    message = str(info.value)
    assert message.startswith("GPU: none found (NVML library not available: NVML Shared Library")
    assert "\n" not in message


def test_zero_devices_is_unavailable(install: Install) -> None:
    module = install(fake_pynvml([]))
    with pytest.raises(GpuUnavailable, match="0 devices"):
        open_gpu_backend()
    assert module.state["shutdowns"] == 1


def test_missing_module_is_unavailable() -> None:
    def loader() -> ModuleType:
        raise ImportError("No module named 'pynvml'")

    with pytest.raises(GpuUnavailable, match="nvidia-ml-py not importable"):
        open_gpu_backend(loader)


def test_backend_takes_an_injected_module() -> None:
    backend = NvmlBackend(fake_pynvml([FakeGpu("L4", "GPU-l")]))
    assert backend.devices()[0].name == "L4"


def _real_gpu_present() -> bool:
    pynvml = importlib.import_module("pynvml")
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return False
    try:
        return int(pynvml.nvmlDeviceGetCount()) > 0
    finally:
        pynvml.nvmlShutdown()


@pytest.mark.skipif(_real_gpu_present(), reason="a GPU is present; this checks the no-GPU path")
def test_real_pynvml_without_gpu_is_unavailable() -> None:
    with pytest.raises(GpuUnavailable) as info:
        open_gpu_backend()
    assert str(info.value).startswith("GPU: none found (")
