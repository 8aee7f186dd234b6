"""Per-stage and whole-run figures from the run folder's tables: load, resources, the serving
shape of the target, throughput against concurrency (plateau, knee, USL), and the `Signals` digest."""
