"""What the API server itself counts and spends: request and watch-event counters from its /metrics, and the CPU
time and memory of the kube-apiserver and etcd processes from /proc."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from bench.util import cpu_seconds, proc_status_kib
from seccomp_operator.testing.controlplane import ControlPlane

WRITE_VERBS = ("POST", "PUT", "PATCH", "DELETE", "APPLY")
# key of a request count: verb | group | resource | subresource | HTTP code
Counts = dict[str, float]


@dataclass
class Snapshot:
    requests: Counts = field(default_factory=dict)
    watch_events: Counts = field(default_factory=dict)  # group | resource
    cpu_s: dict[str, float] = field(default_factory=dict)  # per control-plane process
    # seconds the API server spent answering, summed over requests: verb | resource | subresource
    latency_s: Counts = field(default_factory=dict)

    def minus(self, before: Snapshot) -> Snapshot:
        return Snapshot(
            _delta(self.requests, before.requests),
            _delta(self.watch_events, before.watch_events),
            {k: v - before.cpu_s.get(k, 0.0) for k, v in self.cpu_s.items()},
            _delta(self.latency_s, before.latency_s),
        )


def _delta(after: Counts, before: Counts) -> Counts:
    return {k: v - before.get(k, 0.0) for k, v in sorted(after.items()) if v - before.get(k, 0.0) > 0}


def snapshot(cp: ControlPlane) -> Snapshot:
    requests: Counts = defaultdict(float)
    events: Counts = defaultdict(float)
    latency: Counts = defaultdict(float)
    for family in text_string_to_metric_families(cp.apiserver_metrics()):
        for sample in family.samples:
            labels = sample.labels
            if sample.name == "apiserver_request_total":
                parts = (labels.get(k, "") for k in ("verb", "group", "resource", "subresource", "code"))
                requests["|".join(parts)] += sample.value
            elif sample.name == "apiserver_watch_events_total":
                events[f"{labels.get('group', '')}|{labels.get('resource', labels.get('kind', ''))}"] += sample.value
            elif sample.name == "apiserver_request_duration_seconds_sum" and labels.get("verb") != "WATCH":
                latency["|".join(labels.get(k, "") for k in ("verb", "resource", "subresource"))] += sample.value
    cpu = {name: cpu_seconds(pid) for name, pid in cp.pids.items()}
    return Snapshot(dict(requests), dict(events), cpu, dict(latency))


def memory(cp: ControlPlane) -> dict[str, dict[str, float]]:
    """Peak and current resident memory of kube-apiserver and etcd, MiB."""
    return {
        name: {"vmhwm_mib": proc_status_kib(pid, "VmHWM") / 1024, "vmrss_mib": proc_status_kib(pid, "VmRSS") / 1024}
        for name, pid in cp.pids.items()
    }


def writes(requests: Counts, exclude_resources: tuple[str, ...] = ("leases",)) -> tuple[float, dict[str, float]]:
    """Write requests (any outcome) in `requests`, total and by resource[/subresource]; leases are left out by
    default: they are renewed on a timer, not caused by a change."""
    by_resource: dict[str, float] = defaultdict(float)
    for key, value in requests.items():
        verb, _group, resource, subresource, _code = key.split("|")
        if verb in WRITE_VERBS and resource not in exclude_resources:
            by_resource[resource + (f"/{subresource}" if subresource else "")] += value
    return sum(by_resource.values()), dict(sorted(by_resource.items()))


def created(requests: Counts) -> dict[str, float]:
    """Objects created (POST answered 201), by resource."""
    out: dict[str, float] = defaultdict(float)
    for key, value in requests.items():
        verb, _group, resource, subresource, code = key.split("|")
        if verb == "POST" and code == "201" and not subresource:
            out[resource] += value
    return dict(sorted(out.items()))


def conflicts(requests: Counts) -> float:
    return sum(v for k, v in requests.items() if k.endswith("|409"))


def subtract(requests: Counts, own: dict[tuple[str, str, str], float]) -> Counts:
    """Take the benchmark's own requests (verb, group, resource) out of the counts, from the successful codes."""
    out = dict(requests)
    for (verb, group, resource), count in own.items():
        remaining = count
        for key in sorted(out):
            v, g, r, s, code = key.split("|")
            if (v, g, r) == (verb, group, resource) and not s and code.startswith("2") and remaining > 0:
                taken = min(out[key], remaining)
                out[key] -= taken
                remaining -= taken
    return {k: v for k, v in out.items() if v > 0}


def summary(delta: Snapshot, own: dict[tuple[str, str, str], float]) -> dict[str, Any]:
    """The figures of one phase from the counter deltas: the system's requests without the benchmark's own."""
    requests = subtract(delta.requests, own)
    total_writes, by_resource = writes(requests)
    return {
        "requests": requests,
        "writes": total_writes,
        "writes_by_resource": by_resource,
        "created": created(requests),
        "conflicts_409": conflicts(requests),
        "watch_events": delta.watch_events,
        "apiserver_cpu_s": delta.cpu_s.get("kube-apiserver", 0.0),
        "etcd_cpu_s": delta.cpu_s.get("etcd", 0.0),
        # Where the API server's time went (benchmark's own requests included): the largest sums of latency.
        "latency_s_by_request": dict(sorted(delta.latency_s.items(), key=lambda kv: -kv[1])[:8]),
    }
