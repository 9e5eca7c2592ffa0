"""The controller and node agents together against the real API server (agents in process, one root per node)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from seccomp_operator.controller.operator import WebhookSettings
from seccomp_operator.testing.controlplane import ControlPlane, KubectlError
from seccomp_operator.testing.net import free_port
from seccomp_operator.testing.simulation import Simulation, apply_profile, wait_until

NODES = ["node-a", "node-b", "node-c"]
DENY_MKDIR: dict[str, Any] = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"],
    "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
}


@pytest.fixture(scope="module")
def sim(
    control_plane: ControlPlane, crds: tuple[str, ...], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Simulation]:
    control_plane.kubectl("create", "namespace", "seccomp-operator", check=False)
    workdir = tmp_path_factory.mktemp("sim")
    webhook = WebhookSettings(
        addr="127.0.0.1",
        port=free_port(),
        host="127.0.0.1",
        managed="seccomp-operator.io",
        selfsigned_dir=str(workdir / "certs"),
    )
    with Simulation(control_plane.kubeconfig_path, workdir, webhook=webhook) as simulation:
        simulation.add_nodes(NODES)
        simulation.start_controller()
        wait_until(
            lambda: "seccomp-operator.io" in control_plane.kubectl("get", "validatingwebhookconfigurations").stdout,
            timeout=30,
            what="the webhook configuration",
        )
        yield simulation


apply = apply_profile


def get_profile(cp: ControlPlane, namespace: str, name: str) -> dict[str, Any] | None:
    result = cp.kubectl("get", "seccompprofile", name, "-n", namespace, "-o", "json", check=False)
    return json.loads(result.stdout) if result.returncode == 0 else None


def condition(obj: dict[str, Any] | None, ctype: str) -> dict[str, Any]:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond["type"] == ctype:
            return dict(cond)
    return {}


def wait_ready(
    cp: ControlPlane, namespace: str, name: str, *, not_hash: str = "", timeout: float = 30
) -> dict[str, Any]:
    def ready() -> dict[str, Any] | None:
        obj = get_profile(cp, namespace, name)
        status = (obj or {}).get("status") or {}
        current = obj is not None and status.get("observedGeneration") == obj["metadata"]["generation"]
        if current and condition(obj, "Ready").get("status") == "True" and status.get("hash") != not_hash:
            return obj
        return None

    result: dict[str, Any] = wait_until(ready, timeout=timeout, what=f"{namespace}/{name} Ready")
    return result


def file_of(sim: Simulation, node: str, namespace: str, name: str) -> Path:
    return (
        Path(sim.agents[node].tree.path_of(namespace, name))
        if node in sim.agents
        else (sim.root_of(node) / "seccomp-operator" / namespace / f"{name}.json")
    )


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else ""


def test_create_goes_ready_on_every_node_with_the_published_bytes(
    sim: Simulation, control_plane: ControlPlane, namespace: str
) -> None:
    apply(control_plane, namespace, "deny-mkdir", DENY_MKDIR)
    obj = wait_ready(control_plane, namespace, "deny-mkdir")
    status = obj["status"]
    assert status["localhostProfile"] == f"seccomp-operator/{namespace}/deny-mkdir.json"
    assert status["phase"] == "Ready"
    assert status["summary"]["installed"] == status["summary"]["targeted"] >= len(NODES)
    assert condition(obj, "Valid")["status"] == "True"
    for node in NODES:
        path = file_of(sim, node, namespace, "deny-mkdir")
        assert sha(path) == status["hash"]
        assert json.loads(path.read_text())["defaultAction"] == "SCMP_ACT_ALLOW"
    # kubectl get shows the printer columns a platform team reads.
    table = control_plane.kubectl("get", "scp", "deny-mkdir", "-n", namespace).stdout
    assert "Ready" in table and status["localhostProfile"] in table


def test_update_reaches_every_node(sim: Simulation, control_plane: ControlPlane, namespace: str) -> None:
    apply(control_plane, namespace, "p", DENY_MKDIR)
    first = wait_ready(control_plane, namespace, "p")["status"]["hash"]
    changed = {**DENY_MKDIR, "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}
    apply(control_plane, namespace, "p", changed)
    second = wait_ready(control_plane, namespace, "p", not_hash=first)["status"]["hash"]
    assert second != first
    for node in NODES:
        assert sha(file_of(sim, node, namespace, "p")) == second


def test_webhook_refuses_an_invalid_profile_with_the_lint_message(
    sim: Simulation, control_plane: ControlPlane, namespace: str
) -> None:
    bad = {**DENY_MKDIR, "syscalls": [{"names": ["mkdri"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}
    with pytest.raises(KubectlError) as refused:
        apply(control_plane, namespace, "typo", bad)
    message = refused.value.stderr
    assert "/spec/syscalls/0/names/0" in message
    assert "mkdri" in message
    assert get_profile(control_plane, namespace, "typo") is None


def test_invalid_update_keeps_the_last_good_revision_on_every_node(
    sim: Simulation, control_plane: ControlPlane, namespace: str
) -> None:
    apply(control_plane, namespace, "keep", DENY_MKDIR)
    good = wait_ready(control_plane, namespace, "keep")["status"]["hash"]
    # A missing base profile passes admission (ordering of `kubectl apply -f dir/`) but cannot be published.
    apply(control_plane, namespace, "keep", {**DENY_MKDIR, "baseProfileName": "does-not-exist"})

    def invalid() -> dict[str, Any] | None:
        obj = get_profile(control_plane, namespace, "keep")
        return obj if condition(obj, "Valid").get("status") == "False" and obj else None

    obj = wait_until(invalid, timeout=30, what="Valid=False")
    assert "does-not-exist" in condition(obj, "Valid")["message"]
    assert obj["status"]["hash"] == good
    for node in NODES:
        assert sha(file_of(sim, node, namespace, "keep")) == good


def test_delete_removes_files_then_the_object(sim: Simulation, control_plane: ControlPlane, namespace: str) -> None:
    apply(control_plane, namespace, "gone", DENY_MKDIR)
    wait_ready(control_plane, namespace, "gone")
    control_plane.kubectl("delete", "seccompprofile", "gone", "-n", namespace, "--wait=true", "--timeout=60s")
    assert get_profile(control_plane, namespace, "gone") is None
    for node in NODES:
        assert not file_of(sim, node, namespace, "gone").exists()


def test_node_selector_limits_and_follows_labels(sim: Simulation, control_plane: ControlPlane, namespace: str) -> None:
    control_plane.kubectl("label", "node", "node-a", "tier=edge", "--overwrite")
    apply(control_plane, namespace, "edge", {**DENY_MKDIR, "nodeSelector": {"tier": "edge"}})
    obj = wait_ready(control_plane, namespace, "edge")
    assert obj["status"]["summary"]["targeted"] == 1
    assert file_of(sim, "node-a", namespace, "edge").exists()
    assert not file_of(sim, "node-b", namespace, "edge").exists()
    control_plane.kubectl("label", "node", "node-b", "tier=edge", "--overwrite")
    wait_until(lambda: file_of(sim, "node-b", namespace, "edge").exists(), timeout=20, what="node-b to get the file")
    control_plane.kubectl("label", "node", "node-a", "tier-")
    wait_until(lambda: not file_of(sim, "node-a", namespace, "edge").exists(), timeout=20, what="node-a to drop it")
    control_plane.kubectl("label", "node", "node-b", "tier-")


def test_base_profile_change_reaches_children(sim: Simulation, control_plane: ControlPlane, namespace: str) -> None:
    base = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["ptrace"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
    }
    apply(control_plane, namespace, "base", base)
    apply(control_plane, namespace, "child", {**DENY_MKDIR, "baseProfileName": "base"})
    child_hash = wait_ready(control_plane, namespace, "child")["status"]["hash"]
    content = file_of(sim, "node-a", namespace, "child").read_text()
    assert "ptrace" in content and "mkdirat" in content
    wait_until(
        lambda: (
            (get_profile(control_plane, namespace, "base") or {}).get("status", {}).get("referencedBy") == ["child"]
        ),
        timeout=20,
        what="the base to list its child",
    )
    base["syscalls"] = [{"names": ["ptrace", "keyctl"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
    apply(control_plane, namespace, "base", base)
    wait_ready(control_plane, namespace, "child", not_hash=child_hash)
    assert "keyctl" in file_of(sim, "node-c", namespace, "child").read_text()


def test_tampered_file_is_repaired_and_counted(sim: Simulation, control_plane: ControlPlane, namespace: str) -> None:
    apply(control_plane, namespace, "guarded", DENY_MKDIR)
    good = wait_ready(control_plane, namespace, "guarded")["status"]["hash"]
    agent = sim.agents["node-b"]
    before = agent.metrics.registry.get_sample_value("seccomp_agent_drift_repairs_total") or 0
    path = file_of(sim, "node-b", namespace, "guarded")
    path.write_text('{"defaultAction":"SCMP_ACT_ALLOW"}\n')
    wait_until(lambda: sha(path) == good, timeout=5, what="the edited file to be restored")
    path.unlink()
    wait_until(lambda: sha(path) == good, timeout=5, what="the deleted file to be restored")
    after = wait_until(
        lambda: (
            (agent.metrics.registry.get_sample_value("seccomp_agent_drift_repairs_total") or 0) >= before + 2
            and agent.metrics.registry.get_sample_value("seccomp_agent_drift_repairs_total")
        ),
        timeout=5,
        what="the repairs to be counted",
    )
    assert after >= before + 2


def test_agent_restart_resyncs_without_rewriting_unchanged_files(
    sim: Simulation, control_plane: ControlPlane, namespace: str
) -> None:
    apply(control_plane, namespace, "stable", DENY_MKDIR)
    wait_ready(control_plane, namespace, "stable")
    path = file_of(sim, "node-c", namespace, "stable")
    inode = os.stat(path).st_ino
    sim.stop_agent("node-c")
    sim.start_agent("node-c")
    agent = sim.agents["node-c"]
    wait_until(agent.ready.is_set, timeout=20, what="the restarted agent's first full sync")
    assert agent.metrics.registry.get_sample_value("seccomp_agent_installs_total") == 0
    assert os.stat(path).st_ino == inode


def test_node_added_later_gets_every_profile(sim: Simulation, control_plane: ControlPlane, namespace: str) -> None:
    apply(control_plane, namespace, "everywhere", DENY_MKDIR)
    good = wait_ready(control_plane, namespace, "everywhere")["status"]["hash"]
    sim.add_nodes(["node-late"])
    try:
        wait_until(
            lambda: sha(file_of(sim, "node-late", namespace, "everywhere")) == good,
            timeout=20,
            what="the late node to get the profile",
        )
        obj = wait_ready(control_plane, namespace, "everywhere")
        assert "node-late" not in [n["node"] for n in obj["status"]["nodes"] if n["state"] != "Installed"]
    finally:
        sim.stop_agent("node-late")
        sim.delete_node("node-late")


def test_deleted_node_never_blocks_deletion(sim: Simulation, control_plane: ControlPlane, namespace: str) -> None:
    sim.add_nodes(["node-doomed"])
    apply(control_plane, namespace, "doomed", DENY_MKDIR)
    wait_until(
        lambda: file_of(sim, "node-doomed", namespace, "doomed").exists(), timeout=20, what="install on node-doomed"
    )
    wait_ready(control_plane, namespace, "doomed")
    sim.stop_agent("node-doomed")  # its agent dies with the node, and never confirms removal
    sim.delete_node("node-doomed")
    control_plane.kubectl("delete", "seccompprofile", "doomed", "-n", namespace, "--wait=true", "--timeout=30s")
    assert get_profile(control_plane, namespace, "doomed") is None


def _pod(namespace: str, name: str, profile: str) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "automountServiceAccountToken": False,
                "containers": [
                    {
                        "name": "app",
                        "image": "busybox",
                        "securityContext": {"seccompProfile": {"type": "Localhost", "localhostProfile": profile}},
                    }
                ],
            },
        }
    )


def test_pod_warning_for_a_missing_profile(sim: Simulation, control_plane: ControlPlane, namespace: str) -> None:
    control_plane.kubectl("create", "serviceaccount", "default", "-n", namespace, check=False)
    result = control_plane.kubectl(
        "apply", "-f", "-", input=_pod(namespace, "web", f"seccomp-operator/{namespace}/nope.json")
    )
    assert f"SeccompProfile {namespace}/nope does not exist" in result.stderr


def test_profile_in_use_stays_until_its_pods_are_gone(
    sim: Simulation, control_plane: ControlPlane, namespace: str
) -> None:
    control_plane.kubectl("create", "serviceaccount", "default", "-n", namespace, check=False)
    apply(control_plane, namespace, "used", DENY_MKDIR)
    wait_ready(control_plane, namespace, "used")
    control_plane.kubectl("apply", "-f", "-", input=_pod(namespace, "user", f"seccomp-operator/{namespace}/used.json"))
    control_plane.kubectl("delete", "seccompprofile", "used", "-n", namespace, "--wait=false")

    def blocked() -> dict[str, Any] | None:
        obj = get_profile(control_plane, namespace, "used")
        return obj if f"{namespace}/user" in condition(obj, "Terminating").get("message", "") else None

    obj = wait_until(blocked, timeout=30, what="status to name the pod")
    assert obj["status"]["phase"] == "Terminating"
    assert file_of(sim, "node-a", namespace, "used").exists()  # still installed while in use
    events = control_plane.kubectl("get", "events", "-n", namespace, "--field-selector", "reason=InUse").stdout
    assert "user" in events
    control_plane.kubectl("delete", "pod", "user", "-n", namespace, "--grace-period=0", "--force")
    wait_until(lambda: get_profile(control_plane, namespace, "used") is None, timeout=40, what="deletion to finish")
    assert not file_of(sim, "node-a", namespace, "used").exists()


def test_standby_controller_takes_over(sim: Simulation, control_plane: ControlPlane, namespace: str) -> None:
    standby = sim.start_controller(health_addr=None)
    try:
        active = next(c for c in sim.controllers if c is not standby)
        wait_until(active.leader.is_leader.is_set, timeout=10, what="the first controller to lead")
        assert not standby.leader.is_leader.is_set()
        sim.stop_controller(active)
        wait_until(standby.leader.is_leader.is_set, timeout=20, what="the standby to take over")
        apply(control_plane, namespace, "after-failover", DENY_MKDIR)
        wait_ready(control_plane, namespace, "after-failover")
    finally:
        if not sim.controllers:
            sim.start_controller()
