"""The command line: a thin layer over `profiler.run` and `profiler.report` (entry point: profiler.cli.main)."""
