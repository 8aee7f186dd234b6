"""`profiler compare BASE NEW`: two runs stage by stage, each change judged against the runs' own
noise (docs/compare.md), and `--fail-on` rules that make a comparison a gate."""

from __future__ import annotations

from profiler.compare.runs import NOISE_FLOOR_PCT, compare_runs

__all__ = ["NOISE_FLOOR_PCT", "compare_runs"]
