"""Was the load generator the limit of a stage? The one definition, read by validity (the issue a
reader sees), the digest (which stages the trait rules may read) and capacity (a lower bound).

A Locust process is one gevent loop: near a full core its own queueing is the latency measured and
its rate the throughput. With several processes (--workers), or a target that needs little CPU (a
C static-file server), the generator can also hold the machine's cores while each process stays
under one: the target's CPU is then low because it is not offered more, not because it waits on
something, and a plateau there says nothing about the target.
"""

from __future__ import annotations

from dataclasses import dataclass

from profiler.schema.report import StageReport

GENERATOR_CORE_PCT = 90.0  # of one core: a generator process this busy is the queue
MACHINE_FULL_PCT = 92.0  # of all cores: the machine had no CPU left to offer more load with


@dataclass(frozen=True, slots=True)
class GeneratorLimit:
    """Why a stage measured the generator: `value` of `what`, said in `reason`."""

    what: str  # "process" (a generator process near a core) or "machine" (the cores, mostly the generator's)
    value: float  # % of one core (process) or % of all cores (machine)
    reason: str


def generator_limit(s: StageReport, target_here: bool) -> GeneratorLimit | None:
    """The generator's limit in stage `s`, or None. `target_here`: the target runs on this machine,
    so its CPU and the generator's share the cores the machine figure counts."""
    busiest = s.loadgen_busiest_cpu_pct if s.loadgen_busiest_cpu_pct is not None else s.loadgen_cpu_pct
    if busiest is not None and busiest >= GENERATOR_CORE_PCT:
        return GeneratorLimit("process", busiest, f"a load generator process used {busiest:.0f}% of a core")
    gen, target, machine = s.loadgen_cpu_pct, s.target_cpu_pct, s.machine_cpu_pct
    if target_here and None not in (gen, target, machine):
        assert gen is not None and target is not None and machine is not None
        if machine >= MACHINE_FULL_PCT and gen >= target:
            return GeneratorLimit(
                "machine",
                machine,
                f"the machine's cores were {machine:.0f}% busy, {gen:.0f}% of a core of it the load generator's "
                f"and {target:.0f}% the target's",
            )
    return None
