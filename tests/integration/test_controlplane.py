"""The harness itself: restarts keep data, helpers authenticate as documented, nothing outlives the control plane."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from kubernetes import client

from seccomp_operator.testing.controlplane import ControlPlane, ControlPlaneError
from seccomp_operator.testing.simulation import wait_until

from .conftest import REPO


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (a zombie has already released everything)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def members_of_groups(pgids: set[int]) -> list[int]:
    """Live processes whose process group is one of ``pgids`` (children start in their own groups)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        # After the command: state, ppid, pgrp, ...
        if fields[0] != "Z" and int(fields[2]) in pgids:
            found.append(int(entry.name))
    return found


def test_ready_and_metrics(control_plane: ControlPlane) -> None:
    status, body = control_plane.get("/readyz")
    assert (status, body) == (200, b"ok")
    metrics = control_plane.apiserver_metrics()
    assert "apiserver_request_total" in metrics
    assert control_plane.server_url.startswith("https://127.0.0.1:")
    assert control_plane.kubeconfig_path.is_file()
    assert control_plane.ca_path.is_file()
    assert control_plane.admin.groups == ("system:masters",)
    version = json.loads(control_plane.kubectl("version", "-o", "json").stdout)
    assert version["serverVersion"]["gitVersion"].startswith("v1.")


def test_restart_apiserver_and_etcd_keep_data(control_plane: ControlPlane) -> None:
    core = client.CoreV1Api(control_plane.api_client())
    core.create_namespaced_config_map("default", {"metadata": {"name": "survives-restarts"}, "data": {"k": "v"}})
    url = control_plane.server_url

    old = control_plane.pids["kube-apiserver"]
    control_plane.restart_apiserver()
    assert not alive(old) and control_plane.pids["kube-apiserver"] != old
    assert control_plane.server_url == url
    assert core.read_namespaced_config_map("survives-restarts", "default").data == {"k": "v"}

    # Killed rather than stopped (7 s of etcd's graceful stop saved): acknowledged writes must survive a crash.
    old = control_plane.pids["etcd"]
    control_plane.restart_etcd(stop_timeout=0)
    assert not alive(old) and control_plane.pids["etcd"] != old
    # The API server reconnected to the restarted etcd and reads the data it wrote before.
    assert core.read_namespaced_config_map("survives-restarts", "default").data == {"k": "v"}


def test_impersonation_and_token_kubeconfigs(control_plane: ControlPlane) -> None:
    core = client.CoreV1Api(control_plane.api_client())
    ns = "kubeconfig-helpers"
    core.create_namespace({"metadata": {"name": ns}})
    core.create_namespaced_service_account(ns, {"metadata": {"name": "agent"}})
    # The session's cluster is shared: a Node left behind would be a target no agent serves for later tests.
    core.create_node({"metadata": {"name": "kubeconfig-helpers-node"}})
    try:
        check_impersonation_and_token(control_plane, ns, "kubeconfig-helpers-node")
    finally:
        core.delete_node("kubeconfig-helpers-node")


def check_impersonation_and_token(control_plane: ControlPlane, ns: str, node: str) -> None:

    as_node = control_plane.kubeconfig_for_impersonation(
        f"system:serviceaccount:{ns}:agent",
        groups=["system:serviceaccounts", "system:authenticated"],
        extra={"authentication.kubernetes.io/node-name": [node]},
    )
    who = json.loads(control_plane.kubectl("auth", "whoami", "-o", "json", kubeconfig=as_node).stdout)["status"][
        "userInfo"
    ]
    assert who["username"] == f"system:serviceaccount:{ns}:agent"
    assert who["extra"]["authentication.kubernetes.io/node-name"] == [node]
    # RBAC is real: the impersonated account has no grants.
    denied = control_plane.kubectl("get", "nodes", kubeconfig=as_node, check=False)
    assert denied.returncode != 0 and "Forbidden" in denied.stderr

    token = control_plane.service_account_token(ns, "agent", bound_node=node)
    with_token = control_plane.kubeconfig_for_token(token, name="agent")
    who = json.loads(control_plane.kubectl("auth", "whoami", "-o", "json", kubeconfig=with_token).stdout)["status"][
        "userInfo"
    ]
    assert who["username"] == f"system:serviceaccount:{ns}:agent"
    # The node binding is what a ValidatingAdmissionPolicy can check for "own node only".
    assert who["extra"]["authentication.kubernetes.io/node-name"] == [node]


def test_stop_leaves_no_process_behind(binaries_dir: Path) -> None:
    cp = ControlPlane(binaries_dir=binaries_dir).start()
    pids = cp.pids
    workdir = cp.workdir
    assert set(pids) == {"etcd", "kube-apiserver"}
    assert all(alive(pid) for pid in pids.values())
    # Each child leads its own process group, so the group ids are the pids.
    assert {os.getpgid(pid) for pid in pids.values()} == set(pids.values())
    cp.stop()
    assert members_of_groups(set(pids.values())) == []
    assert not workdir.exists()
    cp.stop()  # idempotent
    with pytest.raises(ControlPlaneError):
        cp.get("/readyz")


def test_children_die_with_a_sigkilled_owner(binaries_dir: Path, tmp_path: Path) -> None:
    """PR_SET_PDEATHSIG: nothing survives an owner killed without a chance to run any cleanup."""
    script = textwrap.dedent(
        f"""
        import json, sys, time
        from seccomp_operator.testing.controlplane import ControlPlane
        cp = ControlPlane(binaries_dir={str(binaries_dir)!r}, workdir={str(tmp_path / "cp")!r}).start()
        print(json.dumps(cp.pids), flush=True)
        time.sleep(600)
        """
    )
    owner = subprocess.Popen(
        [sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert owner.stdout is not None
        line = owner.stdout.readline()
        assert line, f"the owner process failed to start a control plane (exit code {owner.poll()})"
        pids: dict[str, int] = json.loads(line)
        assert all(alive(pid) for pid in pids.values())
        owner.send_signal(signal.SIGKILL)
        owner.wait(timeout=10)
        wait_until(
            lambda: not any(alive(p) for p in pids.values()), timeout=10, what="children of the killed owner to exit"
        )
        assert members_of_groups(set(pids.values())) == []
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
        if owner.stdout is not None:
            owner.stdout.close()


def test_failed_start_reports_the_apiserver_log(binaries_dir: Path) -> None:
    started = time.monotonic()
    cp = ControlPlane(binaries_dir=binaries_dir, extra_apiserver_args=["--no-such-flag"])
    with pytest.raises(ControlPlaneError) as info:
        cp.start()
    message = str(info.value)
    assert "kube-apiserver exited during startup" in message
    assert "unknown flag: --no-such-flag" in message
    assert not cp.running
    assert time.monotonic() - started < 30  # an early exit is noticed at once, not at the deadline
