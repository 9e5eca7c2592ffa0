"""Names of this operator's API: group, kinds, labels and annotations (see docs/CONTRACTS.md)."""

from __future__ import annotations

from seccomp_operator.kube.client import Resource

GROUP = "seccomp-operator.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

SECCOMP_PROFILES = Resource(GROUP, VERSION, "seccompprofiles")
PUBLISHED_PROFILES = Resource(GROUP, VERSION, "publishedseccompprofiles")
NODE_REPORTS = Resource(GROUP, VERSION, "nodeprofilereports", namespaced=False)

FINALIZER = f"{GROUP}/files-removed"
FIELD_MANAGER_CONTROLLER = "seccomp-operator-controller"
FIELD_MANAGER_AGENT = "seccomp-operator-agent"
# Opt-in readiness gate: nodes register with this NoSchedule taint; the agent removes it after its first full sync.
READINESS_TAINT = f"{GROUP}/not-ready"

STATE_INSTALLED = "Installed"
STATE_FAILED = "Failed"
