"""Prometheus metrics of one agent. Each agent owns a registry, so many agents can share a process."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from seccomp_operator.observability import register_process_metrics


class AgentMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        register_process_metrics(r)
        self.installs = Counter(
            "seccomp_agent_installs_total",
            "Profile files written because they were missing or outdated.",
            registry=r,
        )
        self.removals = Counter(
            "seccomp_agent_removals_total", "Profile files removed because their profile is gone.", registry=r
        )
        self.drift_repairs = Counter(
            "seccomp_agent_drift_repairs_total",
            "Installed files found edited, replaced or deleted on disk and restored.",
            registry=r,
        )
        self.errors = Counter(
            "seccomp_agent_errors_total",
            "Failures by reason: disk-full, read-only, permission, io, unsafe-path (a planted link or file), scan (the "
            "root unreadable), bad-published-content (content not matching its hash), internal (a bug, retried).",
            ["reason"],
            registry=r,
        )
        self.sync_seconds = Histogram(
            "seccomp_agent_sync_duration_seconds",
            "Time to reconcile the files of one batch of changes.",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.profiles = Gauge(
            "seccomp_agent_profiles",
            "Profiles aimed at this node by state: Installed or Failed.",
            ["state"],
            registry=r,
        )
        self.report_writes = Counter(
            "seccomp_agent_report_writes_total", "Writes of this node's NodeProfileReport.", registry=r
        )
        self.report_write_failures = Counter(
            "seccomp_agent_report_write_failures_total",
            "Failed attempts to write this node's NodeProfileReport (each is retried with backoff).",
            registry=r,
        )
        self.relists = Counter("seccomp_agent_relists_total", "Full re-LISTs of published profiles.", registry=r)
