"""Helpers of the fault suite: a per-test Simulation on uniquely labelled nodes, API calls that ride out a restarting
control plane, on-disk audits (partial and orphaned files, writes outside the subtree) and the figures book."""

from __future__ import annotations

import contextlib
import json
import os
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException

from seccomp_operator.agent.agent import AgentSettings
from seccomp_operator.controller.operator import WebhookSettings
from seccomp_operator.controller.reconciler import ControllerSettings
from seccomp_operator.profile import validate_profile
from seccomp_operator.testing.controlplane import ControlPlane, child_setup_factory, terminate
from seccomp_operator.testing.net import free_port
from seccomp_operator.testing.simulation import Simulation, wait_until

GROUP = "seccomp-operator.io"
VERSION = "v1alpha1"
WEBHOOK_CONFIG = "seccomp-operator.io"

ALLOW_MKDIR_ERRNO: dict[str, Any] = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"],
    "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
}


def spec_with_errno(errno_ret: int) -> dict[str, Any]:
    """A valid spec whose revision is recognisable on disk by its errnoRet."""
    return {**ALLOW_MKDIR_ERRNO, "syscalls": [{**ALLOW_MKDIR_ERRNO["syscalls"][0], "errnoRet": errno_ret}]}


def errno_on_disk(path: Path) -> int | None:
    try:
        if not stat.S_ISREG(path.lstat().st_mode):  # never open a planted FIFO (it would block)
            return None
        return int(json.loads(path.read_text())["syscalls"][0]["errnoRet"])
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None


# --------------------------------------------------------------------------------------------------------------
# Figures


@dataclass
class FaultBook:
    faults: dict[str, dict[str, Any]] = field(default_factory=dict)

    def record(self, name: str, *, notes: str = "", **counts: int) -> dict[str, Any]:
        entry = self.faults.setdefault(
            name,
            {
                "name": name,
                "injections": 0,
                "lost_updates": 0,
                "stale_nodes": 0,
                "partial_files": 0,
                "orphaned_files": 0,
                "stuck_deletions": 0,
                "notes": "",
            },
        )
        for key, value in counts.items():
            entry[key] = int(entry.get(key, 0)) + int(value)
        if notes and notes not in entry["notes"]:
            entry["notes"] = (entry["notes"] + " " + notes).strip()
        return entry


# --------------------------------------------------------------------------------------------------------------
# API


def _retrying(call: Any, *, timeout: float = 60.0) -> Any:
    """Calls through a restarting API server: connection errors and 5xx are retried until the deadline."""
    box: dict[str, Any] = {}

    def attempt() -> bool:
        try:
            box["value"] = call()
            return True
        except ApiException as exc:
            if exc.status in (0, 429, 500, 502, 503, 504):
                return False
            raise
        except (OSError, Exception) as exc:  # urllib3 MaxRetryError, ProtocolError, ...
            if "urllib3" in type(exc).__module__ or isinstance(exc, OSError):
                return False
            raise

    wait_until(attempt, timeout=timeout, interval=0.2, what="the API server to answer")
    return box.get("value")


class Api:
    def __init__(self, cp: ControlPlane) -> None:
        self.cp = cp
        self.api_client = cp.api_client()
        self.custom = client.CustomObjectsApi(self.api_client)
        self.core = client.CoreV1Api(self.api_client)

    def apply(self, namespace: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        """Create or replace the spec (merge patch would keep removed keys); returns the written object."""

        def call() -> dict[str, Any]:
            try:
                current = self.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "seccompprofiles", name)
            except ApiException as exc:
                if exc.status != 404:
                    raise
                body = {
                    "apiVersion": f"{GROUP}/{VERSION}",
                    "kind": "SeccompProfile",
                    "metadata": {"name": name, "namespace": namespace},
                    "spec": spec,
                }
                return dict(
                    self.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "seccompprofiles", body)
                )
            current["spec"] = spec
            return dict(
                self.custom.replace_namespaced_custom_object(
                    GROUP, VERSION, namespace, "seccompprofiles", name, current
                )
            )

        def with_conflicts() -> dict[str, Any] | None:
            try:
                return call()
            except ApiException as exc:
                if exc.status == 409:  # the controller wrote status or a finalizer meanwhile
                    return None
                raise

        result: dict[str, Any] = wait_until(
            lambda: _retrying(with_conflicts), timeout=90, interval=0.05, what=f"apply {namespace}/{name}"
        )
        return result

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        def call() -> dict[str, Any] | None:
            try:
                return dict(
                    self.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "seccompprofiles", name)
                )
            except ApiException as exc:
                if exc.status == 404:
                    return None
                raise

        return _retrying(call)  # type: ignore[no-any-return]

    def delete(self, namespace: str, name: str) -> None:
        def call() -> None:
            try:
                self.custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, "seccompprofiles", name)
            except ApiException as exc:
                if exc.status != 404:
                    raise

        _retrying(call)

    def report(self, node: str) -> dict[str, Any]:
        def call() -> dict[str, Any]:
            try:
                obj = self.custom.get_cluster_custom_object(GROUP, VERSION, "nodeprofilereports", node)
            except ApiException as exc:
                if exc.status == 404:
                    return {}
                raise
            return dict(((obj.get("status") or {}).get("profiles")) or {})

        return _retrying(call)  # type: ignore[no-any-return]

    def close(self) -> None:
        self.api_client.close()


def condition(obj: dict[str, Any] | None, ctype: str) -> dict[str, Any]:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond["type"] == ctype:
            return dict(cond)
    return {}


def is_current_and_ready(obj: dict[str, Any] | None, generation: int) -> bool:
    status = (obj or {}).get("status") or {}
    return (
        obj is not None
        and status.get("observedGeneration") == generation == obj["metadata"]["generation"]
        and condition(obj, "Ready").get("status") == "True"
    )


# --------------------------------------------------------------------------------------------------------------
# Simulation per test


# setpriv empties the bounding, inheritable and ambient sets, so the exec leaves uid 0 with no permitted or
# effective capability either: what a container with `capabilities: {drop: [ALL]}` and runAsUser 0 gets.
NO_CAPABILITIES = ["setpriv", "--bounding-set=-all", "--inh-caps=-all", "--ambient-caps=-all", "--no-new-privs"]


class AgentProcess:
    """`seccomp-operator agent` in a process of its own, as the DaemonSet runs it: uid 0 with an empty capability
    set and no_new_privs."""

    def __init__(self, node: str, root: Path, kubeconfig: Path, log: Path) -> None:
        argv = [
            *NO_CAPABILITIES,
            sys.executable,
            "-m",
            "seccomp_operator",
            "agent",
            f"--node-name={node}",
            f"--root={root}",
            f"--kubeconfig={kubeconfig}",
            "--health-addr=",
            "--log-format=plain",
        ]
        self._log = log.open("ab")
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
            process_group=0,
            preexec_fn=child_setup_factory(),  # noqa: PLW1509 (dies with the test process)
        )
        self.log = log
        # Until setpriv has exec'd the agent, the process still holds setpriv's (full) capabilities.
        wait_until(
            lambda: self.proc.poll() is not None or "setpriv" not in self._exe(),
            timeout=30,
            what="the agent process to start",
        )
        assert self.proc.poll() is None, self.describe()

    def _exe(self) -> str:
        try:
            return os.readlink(f"/proc/{self.proc.pid}/exe")
        except OSError:
            return "setpriv"

    def capabilities(self) -> dict[str, int]:
        """CapInh/CapPrm/CapEff/CapBnd/CapAmb of the running agent, from /proc."""
        status = Path(f"/proc/{self.proc.pid}/status").read_text().splitlines()
        return {k: int(v, 16) for k, _, v in (line.partition(":\t") for line in status) if k.startswith("Cap")}

    def describe(self) -> str:
        tail = self.log.read_text(errors="replace").splitlines()[-15:]
        return f"agent pid {self.proc.pid} exit {self.proc.poll()}; log tail:\n" + "\n".join(tail)

    def stop(self) -> None:
        terminate(self.proc, 10)
        self._log.close()


class Cluster:
    """A Simulation whose nodes carry a label unique to the test; every profile selects it, so nodes left by other
    tests never count as targets. With ``agent_processes``, agents run as capability-less processes
    (``AgentProcess``) instead of inside the Simulation."""

    def __init__(
        self,
        cp: ControlPlane,
        workdir: Path,
        sim: Simulation,
        run_id: str,
        nodes: list[str],
        agent_processes: bool = False,
    ) -> None:
        self.cp = cp
        self.workdir = workdir
        self.sim = sim
        self.run_id = run_id
        self.nodes = nodes
        self.api = Api(cp)
        self.agent_processes = agent_processes
        self.processes: dict[str, AgentProcess] = {}

    def start_agent(self, node: str) -> None:
        if not self.agent_processes:
            self.sim.start_agent(node)
            return
        root = self.sim.root_of(node)
        root.mkdir(parents=True, exist_ok=True)
        self.workdir.mkdir(parents=True, exist_ok=True)
        agent = AgentProcess(node, root, self.cp.kubeconfig_path, self.workdir / f"agent-{node}.log")
        self.processes[node] = agent
        caps = agent.capabilities()
        assert caps["CapEff"] == caps["CapPrm"] == caps["CapBnd"] == caps["CapAmb"] == 0, caps

    def stop_agent(self, node: str) -> None:
        if node in self.processes:
            self.processes.pop(node).stop()
        else:
            self.sim.stop_agent(node)

    def describe_agent(self, node: str) -> str:
        if node in self.processes:
            return self.processes[node].describe()
        return f"agent task {self.sim._agent_tasks.get(node)!r}"

    def close(self) -> None:
        for node in list(self.processes):
            self.stop_agent(node)

    @property
    def selector(self) -> dict[str, str]:
        return {"faults-run": self.run_id}

    def spec(self, base: dict[str, Any]) -> dict[str, Any]:
        return {**base, "nodeSelector": self.selector}

    def file(self, node: str, namespace: str, name: str) -> Path:
        return self.sim.root_of(node) / "seccomp-operator" / namespace / f"{name}.json"

    def subtree(self, node: str) -> Path:
        return self.sim.root_of(node) / "seccomp-operator"


@contextlib.contextmanager
def cluster(
    cp: ControlPlane,
    workdir: Path,
    nodes: int,
    *,
    webhook: bool = False,
    controllers: int = 1,
    agent_settings: AgentSettings | None = None,
    start_agents: bool = True,
    agent_processes: bool = False,
) -> Iterator[Cluster]:
    run_id = uuid.uuid4().hex[:8]
    lease_ns = f"lease-{run_id}"
    cp.kubectl("create", "namespace", lease_ns)
    names = [f"n{run_id}-{i:02d}" for i in range(nodes)]
    settings = None
    if webhook:
        settings = WebhookSettings(
            addr="127.0.0.1",
            port=free_port(),
            host="127.0.0.1",
            managed=WEBHOOK_CONFIG,
            selfsigned_dir=str(workdir / "certs"),
        )
    sim = Simulation(
        cp.kubeconfig_path,
        workdir,
        webhook=settings,
        namespace=lease_ns,
        agent_settings=agent_settings or AgentSettings(verify_interval_seconds=3600),
        controller_settings=ControllerSettings(aggregation_delay_seconds=0.2, deletion_timeout_seconds=120),
    )
    handle = Cluster(cp, workdir, sim, run_id, names, agent_processes)
    try:
        for node in names:
            sim.create_node(node, {"faults-run": run_id})
            if start_agents:
                handle.start_agent(node)
        for _ in range(controllers):
            sim.start_controller(health_addr=None)
        if webhook:
            wait_until(
                lambda: WEBHOOK_CONFIG in cp.kubectl("get", "validatingwebhookconfigurations").stdout,
                timeout=30,
                what="the webhook configuration",
            )
        yield handle
    finally:
        handle.close()
        sim.close()
        if webhook:
            cp.kubectl("delete", "validatingwebhookconfiguration", WEBHOOK_CONFIG, "--ignore-not-found", check=False)
        for node in names:
            cp.kubectl("delete", "node", node, "--ignore-not-found", "--wait=false", check=False)
        handle.api.close()


# --------------------------------------------------------------------------------------------------------------
# On-disk audits


@dataclass
class Audit:
    partial: list[str] = field(default_factory=list)  # temp files left, unreadable or invalid profile files
    orphaned: list[str] = field(default_factory=list)  # files of profiles that should not be on the node
    stale: list[str] = field(default_factory=list)  # files that hold an older revision than the latest


def audit_node(root: Path, expected: dict[str, int | None]) -> Audit:
    """`expected`: `<ns>/<name>` -> errnoRet of the latest revision (None: any valid revision). Files of profiles
    not in `expected` under a namespace that `expected` mentions are orphans."""
    audit = Audit()
    subtree = root / "seccomp-operator"
    namespaces = {key.partition("/")[0] for key in expected}
    if not subtree.is_dir():
        audit.stale += [f"{root}: {k} missing" for k in expected]
        return audit
    seen: set[str] = set()
    for ns_dir in subtree.iterdir():
        if ns_dir.name not in namespaces:
            continue
        for entry in ns_dir.iterdir():
            shown = str(entry)
            if entry.name.startswith("."):
                audit.partial.append(f"{shown} (temp file left behind)")
                continue
            key = f"{ns_dir.name}/{entry.name.removesuffix('.json')}"
            info = entry.lstat()
            if not stat.S_ISREG(info.st_mode):
                audit.partial.append(f"{shown} (not a regular file)")
                continue
            try:
                parsed = json.loads(entry.read_text())
            except ValueError:
                audit.partial.append(f"{shown} (not JSON)")
                continue
            if not validate_profile(parsed, compile_check=False).ok:
                audit.partial.append(f"{shown} (does not validate)")
                continue
            if key not in expected:
                audit.orphaned.append(shown)
                continue
            seen.add(key)
            want = expected[key]
            if want is not None and errno_on_disk(entry) != want:
                audit.stale.append(f"{shown} (errnoRet {errno_on_disk(entry)}, want {want})")
    audit.stale += [f"{root}: {k} missing" for k in expected if k not in seen]
    return audit


def files_under(path: Path) -> list[str]:
    """Everything below `path` (a sentinel directory outside the subtree must stay empty)."""
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(path):
        found += [os.path.join(dirpath, n) for n in filenames + dirnames]
    return found
