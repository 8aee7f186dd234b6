"""CPU package energy from Linux RAPL counters under /sys/class/powercap.

Layout the kernel exposes (powercap framework, intel_rapl driver; AMD Zen uses it too):

    /sys/class/powercap/intel-rapl:0/name                 "package-0"
    /sys/class/powercap/intel-rapl:0/energy_uj            cumulative microjoules, wraps
    /sys/class/powercap/intel-rapl:0/max_energy_range_uj  value at which energy_uj wraps
    /sys/class/powercap/intel-rapl:0:0/...                sub-domain ("core", "uncore", "dram")

Only top-level `intel-rapl:N` domains named `package-*` make up the total: sub-domains are
already inside their package, and `psys` (platform) overlaps the packages, so adding either
would double count. Since Linux 5.10 `energy_uj` is readable by root only (CVE-2020-8694),
and virtual machines and most containers expose no RAPL at all.

This module only reads the counters; turning readings into joules over a window (wraps
included) is analysis: profiler/analysis/attribution/energy.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from profiler.base.errors import EnergyUnavailable

DEFAULT_POWERCAP_ROOT = Path("/sys/class/powercap")

_TOP_LEVEL = re.compile(r"^intel-rapl:(\d+)$")
_SUB_LEVEL = re.compile(r"^intel-rapl:(\d+):(\d+)$")
_FIX = "run as root or on bare metal to get CPU energy."


@dataclass(frozen=True)
class RaplDomain:
    """One RAPL counter: `key` is its name file (e.g. package-0), unique within the reader."""

    key: str
    name: str
    path: Path
    max_energy_range_uj: int
    parent: str | None  # key of the package a sub-domain belongs to; None for packages


def _unavailable(reason: str) -> EnergyUnavailable:
    return EnergyUnavailable(f"CPU energy: RAPL counters not readable ({reason}).", _FIX)


def _read_int(path: Path) -> int:
    return int(path.read_text().strip())


class RaplReader:
    """Reads the package energy counters; construction fails early if none is readable."""

    def __init__(self, root: Path = DEFAULT_POWERCAP_ROOT) -> None:
        self.root = root
        self._domains = self._discover()
        # Read once now so a permission problem surfaces before the run, not in the sampler.
        self.read()

    @property
    def packages(self) -> tuple[RaplDomain, ...]:
        return tuple(d for d in self._domains if d.parent is None)

    @property
    def subdomains(self) -> tuple[RaplDomain, ...]:
        return tuple(d for d in self._domains if d.parent is not None)

    @property
    def max_ranges(self) -> dict[str, int]:
        """Wrap point per package, needed to integrate read() values later. Sub-domains
        are left out so that summing over these keys never counts energy twice."""
        return {d.key: d.max_energy_range_uj for d in self.packages}

    def read(self, include_subdomains: bool = False) -> dict[str, int]:
        """Current counter of each package (domain key -> microjoules)."""
        domains = self._domains if include_subdomains else self.packages
        values: dict[str, int] = {}
        for domain in domains:
            try:
                values[domain.key] = _read_int(domain.path / "energy_uj")
            except PermissionError as err:
                raise _unavailable(f"permission denied reading {err.filename}") from err
            except (OSError, ValueError) as err:
                raise _unavailable(f"{domain.path / 'energy_uj'}: {err}") from err
        return values

    def _discover(self) -> list[RaplDomain]:
        try:
            entries = sorted(p for p in self.root.iterdir() if p.name.startswith("intel-rapl:"))
        except OSError as err:
            raise _unavailable(f"no powercap directory {self.root}: {err.strerror}") from err
        domains: list[RaplDomain] = []
        package_keys: dict[str, str] = {}  # package number -> key
        # Top-level first, so sub-domains can name their package.
        for entry in sorted(entries, key=lambda p: (p.name.count(":"), p.name)):
            top = _TOP_LEVEL.match(entry.name)
            sub = _SUB_LEVEL.match(entry.name)
            if top is None and sub is None:
                continue
            try:
                name = (entry / "name").read_text().strip() or entry.name
                max_range = _read_int(entry / "max_energy_range_uj")
            except PermissionError as err:
                raise _unavailable(f"permission denied reading {err.filename}") from err
            except (OSError, ValueError) as err:
                raise _unavailable(f"{entry}: {err}") from err
            if top is not None:
                if not name.startswith("package"):
                    continue  # psys and friends overlap the packages
                package_keys[top.group(1)] = name
                domains.append(RaplDomain(name, name, entry, max_range, None))
            elif sub is not None and sub.group(1) in package_keys:
                parent = package_keys[sub.group(1)]
                key = f"{parent}/{name}"
                domains.append(RaplDomain(key, name, entry, max_range, parent))
        if not any(d.parent is None for d in domains):
            raise _unavailable(f"no intel-rapl package domains under {self.root}")
        return domains
