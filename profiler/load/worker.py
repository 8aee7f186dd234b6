"""The load generator process's entry point: `python -m profiler.load.worker -`, its LoadSpec on stdin.

Locust is imported first, before anything that pulls in ssl/urllib3 (RecursionError otherwise), and
monkey-patches the standard library with gevent: hence a process of its own, so that the
orchestrator, the live view and the sampler keep real threads with steady timing. One process runs
`Worker` (profiler.load.generator); a distributed run's master and its workers run the subclasses
in profiler.load.distributed, which is why this entry point sits above both.
"""

from __future__ import annotations

import locust  # noqa: F401  isort: skip

import gc
import sys

from profiler.load.generator import Worker
from profiler.load.spec import LoadSpec


def main() -> int:
    # The ~60,000 objects imported live as long as the process: frozen, a full collection skips them
    # (at 32 users on a trivial target, ~40 ms pauses in every request in flight; docs/benchmarks.md).
    gc.freeze()
    if sys.argv[1:2] == ["--worker-of"]:  # one of the users' processes of a distributed run
        from profiler.load.distributed import worker_of

        return worker_of(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
    source = sys.stdin.read() if sys.argv[1:] in ([], ["-"]) else open(sys.argv[1]).read()  # noqa: SIM115
    spec = LoadSpec.model_validate_json(source)
    if spec.workers > 1 or spec.expect_workers:
        from profiler.load.distributed import Master

        return Master(spec).run()
    return Worker(spec).run()


if __name__ == "__main__":
    sys.exit(main())
