from __future__ import annotations

import os
from pathlib import Path

import pytest

from profiler.analysis.attribution.energy import cumulative_between, energy_delta_uj, joules_between
from profiler.base.errors import EnergyUnavailable
from profiler.sampling.energy import RaplReader


def _domain(root: Path, dirname: str, name: str, energy: int, max_range: int) -> Path:
    path = root / dirname
    path.mkdir(parents=True)
    (path / "name").write_text(f"{name}\n")
    (path / "energy_uj").write_text(f"{energy}\n")
    (path / "max_energy_range_uj").write_text(f"{max_range}\n")
    return path


@pytest.fixture
def sysfs(tmp_path: Path) -> Path:
    root = tmp_path / "powercap"
    (root / "intel-rapl").mkdir(parents=True)  # the control-type dir, no counters
    _domain(root, "intel-rapl:0", "package-0", 1_000, 262_143_328_850)
    _domain(root, "intel-rapl:0:0", "core", 400, 262_143_328_850)
    _domain(root, "intel-rapl:0:1", "dram", 100, 65_712_999_613)
    _domain(root, "intel-rapl:1", "package-1", 2_000, 262_143_328_850)
    _domain(root, "intel-rapl:2", "psys", 9_999, 262_143_328_850)
    return root


def test_discovers_packages_and_subdomains(sysfs: Path) -> None:
    reader = RaplReader(sysfs)
    assert [d.key for d in reader.packages] == ["package-0", "package-1"]
    assert [d.key for d in reader.subdomains] == ["package-0/core", "package-0/dram"]
    assert reader.read() == {"package-0": 1_000, "package-1": 2_000}
    assert reader.read(include_subdomains=True)["package-0/dram"] == 100
    assert reader.max_ranges == {"package-0": 262_143_328_850, "package-1": 262_143_328_850}
    assert reader.subdomains[1].max_energy_range_uj == 65_712_999_613


def test_reads_follow_the_counter(sysfs: Path) -> None:
    reader = RaplReader(sysfs)
    (sysfs / "intel-rapl:0" / "energy_uj").write_text("5000\n")
    assert reader.read()["package-0"] == 5_000


def test_no_domains_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "intel-rapl").mkdir()
    with pytest.raises(EnergyUnavailable) as info:
        RaplReader(tmp_path)
    message = str(info.value)
    assert message.startswith("CPU energy: RAPL counters not readable (")
    assert "run as root or on bare metal" in message
    assert "\n" not in message


def test_missing_root_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(EnergyUnavailable, match="no powercap directory"):
        RaplReader(tmp_path / "absent")


def test_unreadable_counter_is_unavailable(sysfs: Path) -> None:
    counter = sysfs / "intel-rapl:0" / "energy_uj"
    # A directory in place of the file gives an OSError even as root, where chmod 000 would
    # not stop us; it stands in for the root-only energy_uj of Linux >= 5.10.
    counter.unlink()
    counter.mkdir()
    with pytest.raises(EnergyUnavailable, match="energy_uj"):
        RaplReader(sysfs)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_permission_denied_is_unavailable(sysfs: Path) -> None:
    (sysfs / "intel-rapl:0" / "energy_uj").chmod(0o000)
    with pytest.raises(EnergyUnavailable, match="permission denied"):
        RaplReader(sysfs)


def test_garbage_counter_is_unavailable(sysfs: Path) -> None:
    reader = RaplReader(sysfs)
    (sysfs / "intel-rapl:1" / "energy_uj").write_text("not a number\n")
    with pytest.raises(EnergyUnavailable):
        reader.read()


def test_energy_delta_plain_and_wrapped() -> None:
    assert energy_delta_uj(100, 350, 1_000) == 250
    assert energy_delta_uj(900, 50, 1_000) == 150  # 100 to the top, then 50
    with pytest.raises(ValueError):
        energy_delta_uj(900, 50, 0)


def test_joules_between_sums_across_several_wraps() -> None:
    max_ranges = {"package-0": 1_000_000}
    # 400_000 uJ per second, wrapping every 2.5 s.
    readings = []
    counter = 0
    for second in range(11):
        readings.append((float(second), {"package-0": counter}))
        counter = (counter + 400_000) % 1_000_000
    joules = joules_between(readings, max_ranges, 0.0, 10.0)
    assert joules == pytest.approx(4.0)


def test_joules_between_interpolates_window_edges_and_sums_packages() -> None:
    max_ranges = {"package-0": 10**9, "package-1": 10**9}
    readings = [
        (0.0, {"package-0": 0, "package-1": 0}),
        (1.0, {"package-0": 1_000_000, "package-1": 2_000_000}),
        (2.0, {"package-0": 2_000_000, "package-1": 4_000_000}),
    ]
    assert joules_between(readings, max_ranges, 0.5, 1.5) == pytest.approx(3.0)
    # Outside the covered range the window is clamped, never extrapolated.
    assert joules_between(readings, max_ranges, -5.0, 1.0) == pytest.approx(3.0)
    assert joules_between(readings, max_ranges, 5.0, 6.0) is None
    assert joules_between(readings[:1], max_ranges, 0.0, 1.0) is None


def test_joules_between_ignores_unknown_domains_and_resets() -> None:
    readings = [
        (0.0, {"package-0": 500, "mystery": 1}),
        (1.0, {"package-0": 1_500, "mystery": 2}),
        (
            2.0,
            {"package-0": 10},
        ),  # fell back from above its max range: a reset, not a wrap
    ]
    # Reset counted as zero; unknown-range domain ignored.
    assert joules_between(readings, {"package-0": 400}, 0.0, 2.0) == pytest.approx(0.001)


def test_cumulative_between() -> None:
    points = [(0.0, 0.0), (2.0, 10.0), (4.0, 30.0)]
    assert cumulative_between(points, 1.0, 3.0) == pytest.approx(15.0)
    assert cumulative_between(points, 3.0, 3.0) is None


def test_real_sysfs_reads_or_says_why() -> None:
    try:
        reader = RaplReader()
    except EnergyUnavailable as err:
        message = str(err)
        assert "CPU energy: RAPL counters not readable" in message
        assert "run as root or on bare metal" in message
        return
    values = reader.read()
    assert values, "a reader that constructs must report at least one package"
    assert all(isinstance(v, int) and v >= 0 for v in values.values())
