"""Prometheus metrics of the controller."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from seccomp_operator.observability import register_process_metrics


class ControllerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        register_process_metrics(r)
        self.profiles = Gauge("seccomp_controller_profiles", "SeccompProfiles by phase.", ["phase"], registry=r)
        self.validation_failures = Counter(
            "seccomp_controller_validation_failures_total", "Profile revisions refused by validation.", registry=r
        )
        self.publishes = Counter(
            "seccomp_controller_publishes_total", "Validated revisions published to the agents.", registry=r
        )
        self.status_writes = Counter(
            "seccomp_controller_status_writes_total", "SeccompProfile status writes.", registry=r
        )
        self.reconcile_errors = Counter(
            "seccomp_controller_reconcile_errors_total", "Reconciles that failed and were retried.", registry=r
        )
        self.aggregation_seconds = Histogram(
            "seccomp_controller_aggregation_duration_seconds",
            "Time to compute and write one profile's status from node reports.",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=r,
        )
        self.leader = Gauge("seccomp_controller_leader", "1 while this replica holds the lease.", registry=r)
