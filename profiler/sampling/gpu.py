"""NVIDIA GPU sampling through NVML (the `pynvml` module of nvidia-ml-py).

This is the only module that imports pynvml, and only inside functions: most machines have
no NVIDIA driver and must not pay for, or fail on, the import.

Every per-field NVML call may fail on some boards (consumer cards have no energy counter,
MIG instances report no utilisation, containers may hide other processes); such a field
becomes None rather than ending the sample. Only `nvmlInit` failing, or no device at all,
makes the GPU unavailable.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from profiler.base.errors import GpuUnavailable

NvmlLoader = Callable[[], ModuleType]

_FIX = (
    "nothing to do if the app does not use a GPU; otherwise install the NVIDIA driver "
    "(or run the container with --gpus all)."
)

# Why nvmlInit failed, by pynvml's exception class name, in words for the terminal.
_INIT_REASONS = {
    "NVMLError_LibraryNotFound": "NVML library not available",
    "NVMLError_DriverNotLoaded": "NVIDIA driver not loaded",
    "NVMLError_NoPermission": "no permission to use NVML",
    "NVMLError_LibRmVersionMismatch": "NVML library and driver versions differ",
}


@dataclass(frozen=True)
class GpuDevice:
    """A physical GPU, or (mig_index set) one MIG instance on GPU `index`."""

    index: int
    name: str
    uuid: str
    memory_total_bytes: int | None
    mig_mode: bool | None  # None where the board has no MIG support
    mig_index: int | None = None


class GpuBackend(ABC):
    """A source of per-device GPU samples."""

    @abstractmethod
    def devices(self) -> list[GpuDevice]:
        """Physical GPUs in index order, each followed by its MIG instances."""

    @abstractmethod
    def sample(self, pids: Collection[int]) -> list[dict[str, object]]:
        """One JSON-ready dict per device in `devices()` order; see NvmlBackend.sample."""

    @abstractmethod
    def close(self) -> None:
        """Release the library; idempotent."""


def _import_pynvml() -> ModuleType:
    return importlib.import_module("pynvml")


def _text(value: object) -> str:
    # Old nvidia-ml-py releases return bytes for names and UUIDs.
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


@dataclass(frozen=True)
class _Handle:
    device: GpuDevice
    handle: Any


class NvmlBackend(GpuBackend):
    """Samples every GPU (and MIG instance) NVML reports. Expects NVML already initialised.

    Devices are enumerated once, at construction: MIG layouts do not change during a run
    without the operator destroying running instances.
    """

    def __init__(self, nvml: ModuleType) -> None:
        self._nvml = nvml
        self._closed = False
        self._handles: list[_Handle] = []
        for index in range(int(nvml.nvmlDeviceGetCount())):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            mig_mode = self._mig_mode(handle)
            self._handles.append(_Handle(self._describe(index, handle, mig_mode, None), handle))
            if mig_mode:
                self._handles.extend(self._mig_handles(index, handle))

    def devices(self) -> list[GpuDevice]:
        return [h.device for h in self._handles]

    def sample(self, pids: Collection[int]) -> list[dict[str, object]]:
        """Per device: index, mig_index, util_gpu/util_mem (%), mem_used/mem_total (bytes),
        power_w, temp_c, sm_clock_mhz, mem_clock_mhz, energy_mj (counter since driver load),
        proc_mem (bytes used by `pids` there) and proc_count (how many of `pids` run there).
        """
        wanted = frozenset(pids)
        return [self._sample_one(h, wanted) for h in self._handles]

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._nvml.nvmlShutdown()
        except self._nvml.NVMLError:
            pass  # shutting down a half-broken driver: nothing left to release

    # -- internals -------------------------------------------------------------------------

    def _call(self, fn: Callable[..., Any], *args: object) -> Any:
        """Call one NVML getter; a field the device cannot report is None."""
        try:
            return fn(*args)
        except self._nvml.NVMLError:
            return None

    def _mig_mode(self, handle: Any) -> bool | None:
        modes = self._call(self._nvml.nvmlDeviceGetMigMode, handle)
        if modes is None:
            return None
        return bool(modes[0] == self._nvml.NVML_DEVICE_MIG_ENABLE)

    def _describe(self, index: int, handle: Any, mig_mode: bool | None, mig_index: int | None) -> GpuDevice:
        nvml = self._nvml
        name = self._call(nvml.nvmlDeviceGetName, handle)
        uuid = self._call(nvml.nvmlDeviceGetUUID, handle)
        memory = self._call(nvml.nvmlDeviceGetMemoryInfo, handle)
        return GpuDevice(
            index=index,
            name=_text(name) if name is not None else "unknown",
            uuid=_text(uuid) if uuid is not None else "",
            memory_total_bytes=int(memory.total) if memory is not None else None,
            mig_mode=mig_mode,
            mig_index=mig_index,
        )

    def _mig_handles(self, index: int, parent: Any) -> list[_Handle]:
        nvml = self._nvml
        count = self._call(nvml.nvmlDeviceGetMaxMigDeviceCount, parent) or 0
        found: list[_Handle] = []
        for slot in range(int(count)):
            # Empty slots raise NVMLError_NotFound; the layout can have holes.
            handle = self._call(nvml.nvmlDeviceGetMigDeviceHandleByIndex, parent, slot)
            if handle is not None:
                found.append(_Handle(self._describe(index, handle, None, slot), handle))
        return found

    def _sample_one(self, entry: _Handle, pids: frozenset[int]) -> dict[str, object]:
        nvml, handle = self._nvml, entry.handle
        util = self._call(nvml.nvmlDeviceGetUtilizationRates, handle)
        memory = self._call(nvml.nvmlDeviceGetMemoryInfo, handle)
        power_mw = self._call(nvml.nvmlDeviceGetPowerUsage, handle)
        temp = self._call(nvml.nvmlDeviceGetTemperature, handle, nvml.NVML_TEMPERATURE_GPU)
        sm_clock = self._call(nvml.nvmlDeviceGetClockInfo, handle, nvml.NVML_CLOCK_SM)
        mem_clock = self._call(nvml.nvmlDeviceGetClockInfo, handle, nvml.NVML_CLOCK_MEM)
        energy = self._call(nvml.nvmlDeviceGetTotalEnergyConsumption, handle)
        proc_mem, proc_count = self._process_memory(handle, pids)
        return {
            "index": entry.device.index,
            "mig_index": entry.device.mig_index,
            "util_gpu": int(util.gpu) if util is not None else None,
            "util_mem": int(util.memory) if util is not None else None,
            "mem_used": int(memory.used) if memory is not None else None,
            "mem_total": int(memory.total) if memory is not None else None,
            "power_w": power_mw / 1000.0 if power_mw is not None else None,
            "temp_c": int(temp) if temp is not None else None,
            "sm_clock_mhz": int(sm_clock) if sm_clock is not None else None,
            "mem_clock_mhz": int(mem_clock) if mem_clock is not None else None,
            "energy_mj": int(energy) if energy is not None else None,
            "proc_mem": proc_mem,
            "proc_count": proc_count,
        }

    def _process_memory(self, handle: Any, pids: frozenset[int]) -> tuple[int | None, int | None]:
        """Bytes and count of `pids` on this device, from compute and graphics processes.

        A process with both contexts is listed twice with the same memory, so memory is
        kept per pid, not summed over the lists. NVML reports host pids: inside a
        container with its own pid namespace the target is not found (count 0).
        """
        nvml = self._nvml
        listings = [
            self._call(nvml.nvmlDeviceGetComputeRunningProcesses, handle),
            self._call(nvml.nvmlDeviceGetGraphicsRunningProcesses, handle),
        ]
        if all(listing is None for listing in listings):
            return None, None
        per_pid: dict[int, int | None] = {}
        for listing in listings:
            for proc in listing or []:
                pid = int(proc.pid)
                if pid not in pids:
                    continue
                used = proc.usedGpuMemory  # None where the driver hides it (MIG, WDDM)
                previous = per_pid.get(pid)
                if used is not None:
                    per_pid[pid] = max(int(used), previous or 0)
                else:
                    per_pid.setdefault(pid, None)
        known = [used for used in per_pid.values() if used is not None]
        if per_pid and not known:
            return None, len(per_pid)
        return sum(known), len(per_pid)


def open_gpu_backend(loader: NvmlLoader = _import_pynvml) -> GpuBackend:
    """Initialise NVML and return a backend over every GPU it sees.

    Raises GpuUnavailable when pynvml is missing, NVML cannot start, or there is no GPU.
    """
    try:
        nvml = loader()
    except ImportError as err:
        raise GpuUnavailable(f"GPU: none found (nvidia-ml-py not importable: {err}).", _FIX) from err
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as err:
        reason = _INIT_REASONS.get(type(err).__name__, "NVML failed to start")
        raise GpuUnavailable(f"GPU: none found ({reason}: {err}).", _FIX) from err
    try:
        backend = NvmlBackend(nvml)
    except nvml.NVMLError as err:
        _shutdown(nvml)
        raise GpuUnavailable(f"GPU: none usable (NVML could not list devices: {err}).", _FIX) from err
    if not backend.devices():
        backend.close()
        raise GpuUnavailable("GPU: none found (NVML reports 0 devices).", _FIX)
    return backend


def _shutdown(nvml: ModuleType) -> None:
    try:
        nvml.nvmlShutdown()
    except nvml.NVMLError:
        pass  # already failing; the GpuUnavailable being raised says why
