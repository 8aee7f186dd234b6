"""The columnar engine: polars reads, filters and groups the run folder's tables.

The only place that imports polars (ruff's banned-api enforces it). Callers get typed figures
(dataclasses of floats and ints), never a DataFrame, so the rest of the package stays plain
Python and each computation is written once, here. docs/run-folder.md says why polars.
"""

from profiler.runfolder.engine.arrays import RequestArrays, SpanArrays
from profiler.runfolder.engine.payload import PayloadTally
from profiler.runfolder.engine.requests import RequestTable
from profiler.runfolder.engine.samples import ProcessFigures, SampleTable, Timeline, TreeFigures, WindowFigures
from profiler.runfolder.engine.tallies import Distribution, HandoffTally, StageHandoffs, StageTally

__all__ = [
    "Distribution",
    "HandoffTally",
    "PayloadTally",
    "RequestArrays",
    "RequestTable",
    "ProcessFigures",
    "SampleTable",
    "SpanArrays",
    "StageHandoffs",
    "StageTally",
    "Timeline",
    "TreeFigures",
    "WindowFigures",
]
