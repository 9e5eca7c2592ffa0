"""The real `seccomp-operator controller` and `seccomp-operator agent` processes, as the Deployment and the
DaemonSet run them: health endpoints, metrics, JSON logs, a profile going Ready, clean exit on SIGTERM."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from seccomp_operator.testing.controlplane import ControlPlane
from seccomp_operator.testing.net import free_port
from seccomp_operator.testing.simulation import wait_until


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


@pytest.fixture
def processes(control_plane: ControlPlane, crds: tuple[str, ...], tmp_path: Path) -> Iterator[dict[str, object]]:
    control_plane.kubectl("create", "namespace", "seccomp-operator", check=False)
    node = "cli-node"
    control_plane.kubectl(
        "apply",
        "-f",
        "-",
        input=yaml.safe_dump(
            {"apiVersion": "v1", "kind": "Node", "metadata": {"name": node, "labels": {"cli": "yes"}}}
        ),
    )
    root = tmp_path / "seccomp"
    root.mkdir()
    ports = {"controller": free_port(), "agent": free_port()}
    exe = [sys.executable, "-m", "seccomp_operator"]
    kubeconfig = str(control_plane.kubeconfig_path)
    # Logs go to files: an unread pipe fills up and blocks a chatty process.
    logs = {"controller": (tmp_path / "controller.log").open("w+"), "agent": (tmp_path / "agent.log").open("w+")}
    controller = subprocess.Popen(
        [
            *exe,
            "controller",
            "--kubeconfig",
            kubeconfig,
            "--no-webhook",
            "--health-addr",
            f"127.0.0.1:{ports['controller']}",
        ],
        stderr=logs["controller"],
        text=True,
    )
    agent = subprocess.Popen(
        [
            *exe,
            "agent",
            "--kubeconfig",
            kubeconfig,
            "--node-name",
            node,
            "--root",
            str(root),
            "--health-addr",
            f"127.0.0.1:{ports['agent']}",
        ],
        stderr=logs["agent"],
        text=True,
    )
    try:
        yield {"controller": controller, "agent": agent, "ports": ports, "root": root, "node": node, "logs": logs}
    finally:
        for proc in (agent, controller):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        control_plane.kubectl("delete", "node", node, check=False)


def test_controller_and_agent_processes(
    processes: dict[str, object], control_plane: ControlPlane, namespace: str
) -> None:
    ports: dict[str, int] = processes["ports"]  # type: ignore[assignment]
    root: Path = processes["root"]  # type: ignore[assignment]
    controller: subprocess.Popen[str] = processes["controller"]  # type: ignore[assignment]
    agent: subprocess.Popen[str] = processes["agent"]  # type: ignore[assignment]
    for component, port in ports.items():
        wait_until(
            lambda port=port: http_get(f"http://127.0.0.1:{port}/healthz")[0] == 200,
            timeout=60,
            what=f"{component} /healthz",
        )
        wait_until(
            lambda port=port: http_get(f"http://127.0.0.1:{port}/readyz")[0] == 200,
            timeout=60,
            what=f"{component} /readyz",
        )

    manifest = {
        "apiVersion": "seccomp-operator.io/v1alpha1",
        "kind": "SeccompProfile",
        "metadata": {"name": "cli", "namespace": namespace},
        "spec": {
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "nodeSelector": {"cli": "yes"},
            "syscalls": [{"names": ["ptrace"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
        },
    }
    control_plane.kubectl("apply", "-f", "-", input=yaml.safe_dump(manifest))
    control_plane.kubectl("wait", "--for=condition=Ready", "scp/cli", "-n", namespace, "--timeout=60s")
    assert (root / "seccomp-operator" / namespace / "cli.json").exists()

    _, agent_metrics = http_get(f"http://127.0.0.1:{ports['agent']}/metrics")
    # Profiles left published by earlier tests in this session are installed too: at least ours.
    installs = re.search(r"^seccomp_agent_installs_total (\S+)$", agent_metrics, re.MULTILINE)
    assert installs is not None and float(installs.group(1)) >= 1
    _, controller_metrics = http_get(f"http://127.0.0.1:{ports['controller']}/metrics")
    assert 'seccomp_controller_profiles{phase="Ready"}' in controller_metrics
    assert "seccomp_controller_leader 1.0" in controller_metrics
    # Both: which build runs, and the process (memory, CPU, descriptors) and interpreter it runs in.
    for body in (agent_metrics, controller_metrics):
        assert re.search(r'^seccomp_operator_build_info\{.*version="\d+\.\d+.*"\} 1\.0$', body, re.MULTILINE), body
        assert re.search(r"^process_resident_memory_bytes [0-9.e+]+$", body, re.MULTILINE), body
        assert "\npython_info{" in body

    for proc in (agent, controller):
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    # Structured logs: every line the agent wrote is a JSON object.
    log = processes["logs"]["agent"]  # type: ignore[index]
    log.seek(0)
    lines = [line for line in log.read().splitlines() if line.strip()]
    assert lines and all(json.loads(line)["level"] for line in lines)
