"""`profiler plan RUN_DIR --k8s`: a Deployment's container resources, probes, preStop, grace period
and rolling update (the plan's `rollout`), and a HorizontalPodAutoscaler (autoscaling/v2) from the plan, as YAML with the evidence in comments. Requests are what one
instance used at capacity; the HPA's CPU target is the plan's share of that, so "70%" means 70% of
the CPU at which the app reached capacity. No CPU limit: throttling a latency-bound app at its
request adds latency the measurement never had. PyYAML is used here and nowhere else."""

from __future__ import annotations

import math
import shlex
from typing import Any

import yaml

from profiler.analysis.advice.rollout import MAX_SURGE, MAX_UNAVAILABLE
from profiler.schema.plan import PlanSection, Rollout

MEMORY_REQUEST = 1.2  # x the resident memory at capacity
MEMORY_LIMIT = 1.5  # the OOM line, above what a stage showed
MAX_REPLICAS_WITHOUT_PEAK = 10  # an HPA needs a ceiling; without --peak-rps it is a placeholder
STARTUP_MIN_S = 10  # the startup probe waits at least this long, however fast the measured start


def _resources(plan: PlanSection) -> dict[str, Any]:
    e = plan.envelope
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    if e.cores_used is not None:
        requests["cpu"] = f"{max(1, math.ceil(e.cores_used * 1000))}m"
    if e.rss_mb is not None:
        requests["memory"] = f"{max(1, math.ceil(e.rss_mb * MEMORY_REQUEST))}Mi"
        limits["memory"] = f"{max(1, math.ceil(e.rss_mb * MEMORY_LIMIT))}Mi"
    return {k: v for k, v in (("requests", requests), ("limits", limits)) if v}


def _metric(plan: PlanSection) -> dict[str, Any] | None:
    a = plan.autoscaling
    if a is None:
        return None
    if a.signal == "cpu":
        target = {"type": "Utilization", "averageUtilization": max(1, round(a.target))}
        return {"type": "Resource", "resource": {"name": "cpu", "target": target}}
    name = "http_requests_in_flight" if a.signal == "in-flight" else "DCGM_FI_DEV_GPU_UTIL"
    value = f"{max(1, round(a.target * 1000))}m"  # a Quantity: 1.4 requests -> "1400m"
    return {
        "type": "Pods",
        "pods": {"metric": {"name": name}, "target": {"type": "AverageValue", "averageValue": value}},
    }


def _probes(r: Rollout) -> dict[str, Any]:
    """Readiness from the run's URL; a startup probe that allows the measured start twice over."""
    get = {"path": r.readiness_path, "port": r.port or 8000}
    start_s = max(1, math.ceil(2 * (r.ready_after_s or 0.0)))
    return {
        "readinessProbe": {"httpGet": get, "periodSeconds": 2, "failureThreshold": 2},
        "startupProbe": {"httpGet": get, "periodSeconds": 1, "failureThreshold": max(STARTUP_MIN_S, start_s)},
        "lifecycle": {"preStop": {"exec": {"command": ["sleep", str(r.prestop_s)]}}},
    }


def _deployment(plan: PlanSection, name: str) -> dict[str, Any]:
    container: dict[str, Any] = {"name": name, "image": "IMAGE"}
    if plan.server is not None and plan.server.command:
        container["command"] = shlex.split(plan.server.command)
    container["resources"] = _resources(plan)
    pod: dict[str, Any] = {"containers": [container]}
    spec: dict[str, Any] = {"replicas": plan.fleet.instances if plan.fleet is not None else 1,
                            "selector": {"matchLabels": {"app": name}}}  # fmt: skip
    if plan.rollout is not None:
        container.update(_probes(plan.rollout))
        pod["terminationGracePeriodSeconds"] = plan.rollout.termination_grace_period_s
        spec["strategy"] = {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": MAX_UNAVAILABLE, "maxSurge": MAX_SURGE},
        }
    spec["template"] = {"metadata": {"labels": {"app": name}}, "spec": pod}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name}, "spec": spec}


def _hpa(plan: PlanSection, name: str) -> dict[str, Any] | None:
    metric = _metric(plan)
    if metric is None:
        return None
    most = plan.fleet.instances if plan.fleet is not None else MAX_REPLICAS_WITHOUT_PEAK
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": min(2, most),
            "maxReplicas": most,
            "metrics": [metric],
        },
    }


def _comments(plan: PlanSection, source: str) -> list[str]:
    e = plan.envelope
    lines = [
        f"profiler plan of {source}",
        f"measured: {e.capacity_rps:g} rps per instance at p95 {e.latency_p95_ms:.1f} ms (stage {e.stage})",
    ]
    if e.cores_used is not None or e.rss_mb is not None:
        cores = f"{e.cores_used:.2f} cores" if e.cores_used is not None else "cores not known"
        memory = f"{e.rss_mb:.0f} MiB" if e.rss_mb is not None else "memory not known"
        lines.append(f"at capacity one instance used {cores} and {memory}: the requests below (memory x"
                     f"{MEMORY_REQUEST:g}); memory limit x{MEMORY_LIMIT:g}; no CPU limit (throttling adds latency "
                     "the run never had)")  # fmt: skip
    if plan.fleet is not None:
        f = plan.fleet
        lines.append(f"replicas for {f.peak_rps:g} rps with {f.headroom:.0%} spare: {f.instances}")
    else:
        lines.append(f"no --peak-rps: replicas 1 and maxReplicas {MAX_REPLICAS_WITHOUT_PEAK} are placeholders")
    a = plan.autoscaling
    if a is not None:
        lines.append(f"autoscale on {a.signal}: {a.reason}")
        if a.signal != "cpu":
            lines.append("a Pods metric needs a metrics adapter (e.g. prometheus-adapter) serving it per pod")
    r = plan.rollout
    if r is not None:
        start = (
            f"it answered {r.ready_after_s:.1f}s after its start"
            if r.ready_after_s is not None
            else "start not measured"
        )
        drain = (f"; a restart took {r.stopped_after_s:.1f}s to stop on SIGTERM" if r.stopped_after_s is not None
                 else "")  # fmt: skip
        flag = f" (the server's own: {r.server_flag})" if r.server_flag else ""
        lines.append(f"rollout: {start}{drain}; drain up to {r.graceful_timeout_s}s{flag}; preStop sleep {r.prestop_s}s "
                     f"so the endpoints stop sending first (the image needs `sleep`); maxUnavailable {MAX_UNAVAILABLE}: "
                     "no instance "
                     "stops before its replacement is ready")  # fmt: skip
    lines.append("IMAGE: your container image")
    return ["# " + line for line in lines]


def manifests(plan: PlanSection, source: str, name: str = "app") -> str:
    """The Deployment and the HPA as one multi-document YAML text."""
    docs = [_deployment(plan, name)]
    hpa = _hpa(plan, name)
    if hpa is not None:
        docs.append(hpa)
    body = "---\n".join(yaml.safe_dump(d, sort_keys=False) for d in docs)
    return "\n".join(_comments(plan, source)) + "\n" + body
