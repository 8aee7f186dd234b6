"""profiler: how your web app behaves under load, and what that means for scaling and hosting."""

__version__ = "0.1.0"
