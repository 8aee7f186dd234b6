"""Transients: a shape run read as a timeline. Each step of the load is an event with what it cost
(latency, in flight, failures, requests lost, time unavailable) and how long the target took to
recover (recovery.py's rule); docs/transients.md defines each figure."""

from profiler.analysis.transients.steps import step_events

__all__ = ["step_events"]
