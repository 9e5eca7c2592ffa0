"""Real-node timings beside the simulated ones: a real kubelet node (`seccomp_operator.testing.cluster.LocalCluster`:
kube-apiserver, controller-manager, scheduler, kube-proxy, a kubelet with its own containerd), the operator built
into its image and installed from manifests/ as the README says (`seccomp_operator.testing.deploy`).

Per run: a busybox Pod that names a Localhost profile which does not exist yet is created first and waits
(CreateContainerError, retried by the kubelet with back-off); then the SeccompProfile is applied. Measured from the
apply: the file in the kubelet's seccomp directory on the node, and the waiting Pod Running (the kubelet's retry
back-off included). When the machine cannot run a node, the result says why instead.
"""

from __future__ import annotations

import json
import statistics
import time
import uuid
from typing import Any

from bench.profiles import profile_spec
from bench.util import log, wait_until

NODE = "node-1"
RUNS = 3


def unavailable() -> str | None:
    """Why a real node cannot run here, or None."""
    from seccomp_operator.testing.cluster import ClusterError, find_node_binaries, missing_node_requirements
    from seccomp_operator.testing.controlplane import BinariesNotFoundError, find_binaries

    reasons = missing_node_requirements()
    try:
        find_binaries(build=False)
        find_node_binaries()
    except (BinariesNotFoundError, ClusterError) as exc:
        reasons.append(str(exc))
    return "; ".join(reasons) or None


def run_real_node(runs: int = RUNS) -> dict[str, Any]:
    reason = unavailable()
    if reason:
        log(f"real node: not measured: {reason}")
        return {"status": "not available", "reason": f"not measured: {reason}"}
    from seccomp_operator.testing.cluster import BUSYBOX_IMAGE, LocalCluster
    from seccomp_operator.testing.deploy import OperatorInstall, operator_image_archive

    archive = operator_image_archive()
    with LocalCluster(
        nodes=[NODE], images=[(archive, None)], announce=lambda line: log(f"  real node: {line}")
    ) as cluster:
        install = OperatorInstall(cluster)
        install_seconds = install.install()
        samples: list[dict[str, float]] = []
        for run in range(runs):
            namespace = f"bench-real-{uuid.uuid4().hex[:6]}"
            cluster.kubectl("create", "namespace", namespace)
            wait_until(
                lambda namespace=namespace: (
                    cluster.kubectl("get", "serviceaccount", "default", "-n", namespace, check=False).returncode == 0
                ),
                timeout=60,
                what="the namespace's default ServiceAccount",
            )
            name = f"real-{run}"
            reference = f"seccomp-operator/{namespace}/{name}.json"
            container = {
                "name": "main",
                "image": BUSYBOX_IMAGE,
                "imagePullPolicy": "Never",
                "command": ["/bin/sh", "-c", "sleep 3600"],
            }
            pod = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "waiting", "namespace": namespace},
                "spec": {
                    "containers": [container],
                    "nodeSelector": {"kubernetes.io/hostname": NODE},
                    "terminationGracePeriodSeconds": 1,
                    "securityContext": {"seccompProfile": {"type": "Localhost", "localhostProfile": reference}},
                },
            }
            cluster.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(pod))

            def waiting(namespace: str = namespace) -> bool:
                status = json.loads(cluster.kubectl("get", "pod", "waiting", "-n", namespace, "-o", "json").stdout)
                states = [
                    (c.get("state") or {}).get("waiting") or {} for c in status["status"].get("containerStatuses") or []
                ]
                return any(s.get("reason") == "CreateContainerError" for s in states)

            wait_until(waiting, timeout=120, interval=0.2, what="the Pod waiting for its profile")
            # Allow the busybox shell and its sleep; the revision marker rule stays.
            spec = profile_spec(0, 0)
            spec["defaultAction"] = "SCMP_ACT_ALLOW"
            profile = {
                "apiVersion": "seccomp-operator.io/v1alpha1",
                "kind": "SeccompProfile",
                "metadata": {"name": name, "namespace": namespace},
                "spec": spec,
            }
            path = cluster.nodes[NODE].profile_path(namespace, name)
            started = time.monotonic()
            cluster.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(profile))
            wait_until(path.exists, timeout=120, interval=0.01, what=f"{path}")
            file_s = time.monotonic() - started

            def running(namespace: str = namespace) -> bool:
                status = json.loads(cluster.kubectl("get", "pod", "waiting", "-n", namespace, "-o", "json").stdout)
                return bool(status["status"].get("phase") == "Running")

            wait_until(running, timeout=300, interval=0.1, what="the waiting Pod Running")
            samples.append({"file_s": file_s, "pod_running_s": time.monotonic() - started})
            log(f"  real node run {run}: file {file_s:.2f}s, Pod Running {samples[-1]['pod_running_s']:.2f}s")
        install.uninstall()
    return {
        "status": "measured",
        "nodes": 1,
        "runs": runs,
        "install_s": install_seconds,
        "samples": samples,
        "file_median_s": statistics.median(s["file_s"] for s in samples),
        "pod_running_median_s": statistics.median(s["pod_running_s"] for s in samples),
    }
