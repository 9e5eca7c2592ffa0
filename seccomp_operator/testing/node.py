"""One real Kubernetes node on this machine: a private containerd with its CRI plugin, CNI bridge networking and a
kubelet, in a mount namespace of their own.

The kubelet and containerd write to a few fixed host paths (``/var/lib/kubelet/device-plugins``, ``/var/log/pods``,
``/var/log/containers``, ``/var/lib/cni``, ``/run/containerd/s``), and the agent's DaemonSet mounts the fixed
``/var/lib/kubelet/seccomp``. So each node gets a mount namespace in which ``/var/lib``, ``/var/log`` and ``/run`` are
directories of its own work directory: the shipped manifests apply unchanged, two nodes on one machine do not share
a seccomp directory, nothing of a system kubelet or containerd is touched, and every mount made by the node
(overlay snapshots, Pod volumes, network namespaces) disappears with the namespace when its last process exits.

What the node cannot keep to itself, and its clean-up undoes: its cgroups (``/<cgroup_root>`` in every hierarchy),
its bridge interface, and the kernel settings the kubelet changes at start (``vm.overcommit_memory``,
``kernel.panic``, ``kernel.panic_on_oops``, ...) and the CNI bridge plugin turns on (``net.ipv4.ip_forward``); the
cluster saves and restores those (``testing/cluster.py``).

This module has no pytest dependency. See ``seccomp_operator/testing/README.md``, "Real nodes".
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from seccomp_operator.testing.controlplane import CertificateAuthority, ControlPlane
from seccomp_operator.testing.processes import ProcessGroup
from seccomp_operator.testing.runtime import (
    cgroup_dirs,
    kill_and_wait,
    kill_cgroup_tree,
    overlay_mount_works,
    remove_cgroup_tree,
    runc_force_delete_all,
    shim_pids,
)

__all__ = ["CRI_NAMESPACE", "NODE_BINARIES", "KubeletNode", "NodeError", "NodeSpec", "remove_node_leftovers"]

NODE_BINARIES = ("kubelet", "kube-controller-manager", "kube-scheduler", "kube-proxy")
CRI_NAMESPACE = "k8s.io"
# Replaced by directories of the node inside its mount namespace (see the module docstring).
PRIVATE_PATHS = ("/var/lib", "/var/log", "/run")
CNI_BIN_DIR = "/usr/lib/cni"


class NodeError(RuntimeError):
    """A node could not be started or did not become Ready."""


@dataclass(frozen=True)
class NodeSpec:
    """What makes a node different from the others: its name, labels and the taints it registers with
    (``key=value:Effect`` or ``key:Effect``)."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: Sequence[str] = ()


def _taint(text: str) -> dict[str, str]:
    key_value, _, effect = text.rpartition(":")
    key, _, value = key_value.partition("=")
    taint = {"key": key, "effect": effect}
    if value:
        taint["value"] = value
    return taint


class KubeletNode:
    """containerd (CRI) + kubelet for one Node, in a mount namespace of their own; see the module docstring.

    Created and started by :class:`seccomp_operator.testing.cluster.LocalCluster`, which provides the addresses,
    subnet, cgroup root, bridge name and credentials. ``seccomp_dir`` is the host path of the node's
    ``/var/lib/kubelet/seccomp`` (the directory the kubelet reads ``localhostProfile`` from).
    """

    def __init__(
        self,
        spec: NodeSpec,
        *,
        workdir: Path,
        binaries: Path,
        control_plane: ControlPlane,
        kubelet_ca: CertificateAuthority,
        node_ip: str,
        pod_subnet: str,
        bridge: str,
        cgroup_root: str,
        ports: tuple[int, int],
        sandbox_image: str,
        start_timeout: float = 120.0,
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self.workdir = workdir
        self.binaries = binaries
        self.control_plane = control_plane
        self.kubelet_ca = kubelet_ca
        self.node_ip = node_ip
        self.pod_subnet = pod_subnet
        self.bridge = bridge
        self.cgroup_root = cgroup_root
        self.kubelet_port, self.healthz_port = ports
        self.sandbox_image = sandbox_image
        self.start_timeout = start_timeout
        self._children = ProcessGroup(workdir / "logs")
        self._started_at = time.monotonic()
        self.snapshotter = "overlayfs"
        self.started_seconds: float | None = None
        """Wall time of start() until the Node was Ready."""

    # ---- where things are -----------------------------------------------------------------------------------

    @property
    def var_lib(self) -> Path:
        """The node's ``/var/lib`` (host path)."""
        return self.workdir / "var-lib"

    @property
    def seccomp_dir(self) -> Path:
        """Host path of the node's ``/var/lib/kubelet/seccomp``: what the agent writes, what the kubelet reads."""
        return self.var_lib / "kubelet" / "seccomp"

    def profile_path(self, namespace: str, name: str) -> Path:
        """Host path of the file of SeccompProfile ``namespace/name`` on this node."""
        return self.seccomp_dir / "seccomp-operator" / namespace / f"{name}.json"

    @property
    def containerd_address(self) -> str:
        return str(self.workdir / "containerd.sock")

    @property
    def runc_root(self) -> Path:
        return self.workdir / "runc"

    @property
    def log_dir(self) -> Path:
        return self.workdir / "logs"

    @property
    def running(self) -> bool:
        return all(self._children.alive(n) for n in ("namespace", "containerd", "kubelet"))

    # ---- lifecycle ------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Starts the namespace holder, containerd and the kubelet; returns once the Node is Ready.

        Images must be imported between containerd and the kubelet: use :meth:`start_runtime`, :meth:`import_image`
        and :meth:`start_kubelet` for that; this method does all three steps with no images."""
        self.start_runtime()
        self.start_kubelet()

    def start_runtime(self) -> None:
        """The mount namespace, the cgroup root and containerd (answering on its socket)."""
        began = time.monotonic()
        self._started_at = began
        for sub in ("var-lib/kubelet/seccomp", "var-lib/cni", "var-log", "run", "containerd", "runc", "cni", "logs"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        self._make_cgroup_root()
        self._start_namespace()
        self._write_cni_config()
        if not overlay_mount_works(self.workdir):
            self.snapshotter = "native"
        config = self.workdir / "containerd.toml"
        config.write_text(self._containerd_config())
        self._spawn("containerd", ["containerd", "--config", str(config)], in_namespace=True)
        deadline = time.monotonic() + self.start_timeout
        while self.ctr("version", check=False, timeout=10).returncode != 0:
            self._check_alive("containerd")
            if time.monotonic() > deadline:
                raise self._error("containerd", f"containerd of node {self.name} did not answer")
            time.sleep(0.1)

    def import_image(self, archive: Path, *, base_name: str | None = None) -> None:
        """``ctr images import`` an OCI archive into the CRI's namespace (no registry is involved)."""
        args = ["images", "import", "--snapshotter", self.snapshotter]
        if base_name:
            args += ["--base-name", base_name]
        self.ctr(*args, str(archive), timeout=300)

    def start_kubelet(self) -> None:
        """Writes the kubelet's credentials and configuration, starts it and waits for the Node to be Ready."""
        kubeconfig = self._kubelet_credentials()
        config = self.workdir / "kubelet.yaml"
        config.write_text(yaml.safe_dump(self._kubelet_config(), sort_keys=False))
        argv = [
            str(self.binaries / "kubelet"),
            f"--config={config}",
            f"--kubeconfig={kubeconfig}",
            f"--hostname-override={self.name}",
            f"--node-ip={self.node_ip}",
            "--root-dir=/var/lib/kubelet",
            "--cert-dir=/var/lib/kubelet/pki",
            "--v=2",
        ]
        if self.spec.labels:
            argv.append("--node-labels=" + ",".join(f"{k}={v}" for k, v in sorted(self.spec.labels.items())))
        self._spawn("kubelet", argv, in_namespace=True)
        deadline = time.monotonic() + self.start_timeout
        while not self.ready():
            self._check_alive("kubelet")
            self._check_alive("containerd")
            if time.monotonic() > deadline:
                raise self._error("kubelet", f"node {self.name} not Ready within {self.start_timeout:.0f}s")
            time.sleep(0.2)
        self.started_seconds = time.monotonic() - self._started_at

    def ready(self) -> bool:
        result = self.control_plane.kubectl(
            "get", "node", self.name, "-o", "jsonpath={.status.conditions[?(@.type=='Ready')].status}", check=False
        )
        return result.returncode == 0 and result.stdout.strip() == "True"

    def stop_kubelet(self) -> None:
        self._children.stop("kubelet")

    def stop(self) -> None:
        """Stops everything of this node and removes its cgroups, bridge and work directory contents' mounts.

        Hard and ordered, so it also works after a crash: the kubelet first (it would restart what we kill), then
        containerd, its shims, every container left in runc's state, every process left in the node's cgroups,
        the namespace holder (the namespace and all its mounts go with the last process), the cgroups, the bridge.
        """
        self._children.stop("kubelet")
        self._children.stop("containerd")
        remove_node_leftovers(self.workdir, self.cgroup_root, self.bridge)
        self._children.stop_all()

    # ---- commands -------------------------------------------------------------------------------------------

    def ctr(self, *args: str, check: bool = True, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """``ctr`` against this node's containerd, namespace ``k8s.io`` (the CRI's)."""
        cmd = ["ctr", "--address", self.containerd_address, "--namespace", CRI_NAMESPACE, *args]
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONTAINERD_")}
        result = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, check=False, env=env, stdin=subprocess.DEVNULL
        )
        if check and result.returncode != 0:
            raise NodeError(f"{' '.join(cmd)} exited {result.returncode}: {result.stderr.strip()}")
        return result

    def in_namespace(self, *argv: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """Runs a command in the node's mount namespace (where ``/var/lib/kubelet`` is the node's)."""
        return subprocess.run(
            ["nsenter", f"--mount=/proc/{self._children.procs['namespace'].pid}/ns/mnt", "--", *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    # ---- internals ------------------------------------------------------------------------------------------

    def _make_cgroup_root(self) -> None:
        """The kubelet refuses a cgroupRoot that does not exist; a v1 cpuset also needs its cpus and mems."""
        base = Path("/sys/fs/cgroup")
        for hierarchy in sorted(base.iterdir()):
            if hierarchy.is_symlink() or not hierarchy.is_dir() or not (hierarchy / "cgroup.procs").exists():
                continue
            if hierarchy.name == "unified" and not (hierarchy / "cgroup.subtree_control").read_text().strip():
                continue  # the empty cgroup2 mount of a hybrid host
            target = hierarchy / self.cgroup_root.strip("/")
            target.mkdir(exist_ok=True)
            for name in ("cpuset.cpus", "cpuset.mems"):
                if (hierarchy / name).exists() and not (target / name).read_text().strip():
                    (target / name).write_text((hierarchy / name).read_text())

    def _start_namespace(self) -> None:
        binds = [(self.workdir / p.strip("/").replace("/", "-"), p) for p in PRIVATE_PATHS]
        script = "set -e\n"
        for source, target in binds:
            script += f"mount --bind '{source}' '{target}'\n"
        script += "echo ready\nexec sleep infinity\n"
        proc = self._spawn(
            "namespace", ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script], stdout_pipe=True
        )
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if line.strip() != b"ready":
            raise self._error("namespace", f"the mount namespace of node {self.name} could not be set up")

    def _write_cni_config(self) -> None:
        conflist = {
            "cniVersion": "0.4.0",
            "name": self.bridge,
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": self.bridge,
                    # The bridge gets the subnet's gateway address, so the host (and the API server calling the
                    # webhook, the kubelet probing Pods) has a route to every Pod. No masquerading: Pods talk only
                    # to this machine, and ipMasq would add iptables rules.
                    "isGateway": True,
                    "ipMasq": False,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": self.pod_subnet}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                        "dataDir": "/var/lib/cni/networks",
                    },
                }
            ],
        }
        (self.workdir / "cni" / "10-bridge.conflist").write_text(json.dumps(conflist, indent=2))

    def _containerd_config(self) -> str:
        w = self.workdir
        disabled = [
            "io.containerd.internal.v1.opt",  # would create /opt/containerd
            "io.containerd.internal.v1.tracing",
            "io.containerd.tracing.processor.v1.otlp",
            "io.containerd.snapshotter.v1.aufs",
            "io.containerd.snapshotter.v1.btrfs",
            "io.containerd.snapshotter.v1.devmapper",
            "io.containerd.snapshotter.v1.zfs",
        ]
        cri = 'plugins."io.containerd.grpc.v1.cri"'
        q = json.dumps
        return "\n".join(
            [
                "version = 2",
                f"root = {q(str(w / 'containerd' / 'root'))}",
                f"state = {q(str(w / 'containerd' / 'state'))}",
                f"disabled_plugins = [{', '.join(q(p) for p in disabled)}]",
                "[grpc]",
                f"  address = {q(self.containerd_address)}",
                "[ttrpc]",
                f"  address = {q(self.containerd_address + '.ttrpc')}",
                "[debug]",
                '  address = ""',
                "[metrics]",
                '  address = ""',
                f"[{cri}]",
                f"  sandbox_image = {q(self.sandbox_image)}",
                # The CRI asks for oom_score_adj -998 for sandboxes; without CAP_SYS_RESOURCE (this VM) runc fails.
                "  restrict_oom_score_adj = true",
                "  disable_apparmor = true",
                "  enable_selinux = false",
                "  netns_mounts_under_state_dir = true",
                "  systemd_cgroup = false",
                # exec/attach/port-forward: a random loopback port, so two nodes do not collide on 10010.
                '  stream_server_address = "127.0.0.1"',
                '  stream_server_port = "0"',
                f"[{cri}.containerd]",
                f"  snapshotter = {q(self.snapshotter)}",
                '  default_runtime_name = "runc"',
                f"[{cri}.containerd.runtimes.runc]",
                '  runtime_type = "io.containerd.runc.v2"',
                f"[{cri}.containerd.runtimes.runc.options]",
                "  SystemdCgroup = false",
                f"  Root = {q(str(self.runc_root))}",
                f"[{cri}.cni]",
                f"  bin_dir = {q(CNI_BIN_DIR)}",
                f"  conf_dir = {q(str(w / 'cni'))}",
                "  max_conf_num = 1",
                "",
            ]
        )

    def _kubelet_credentials(self) -> Path:
        pki = self.workdir / "pki"
        cert, key = self.control_plane.client_ca.issue(
            pki / "kubelet-client", f"system:node:{self.name}", organizations=["system:nodes"]
        )
        self._serving = self.kubelet_ca.issue(
            pki / "kubelet-serving", self.name, server=True, dns_names=[self.name], ips=[self.node_ip]
        )
        return self.control_plane.kubeconfig_for_certificate(
            cert, key, name=f"system:node:{self.name}", path=self.workdir / "kubeconfig"
        )

    def _kubelet_config(self) -> dict[str, Any]:
        resolv = self.workdir / "resolv.conf"
        # Pods here need no DNS (they reach the API server by the `kubernetes` Service's address); a file of our
        # own keeps the kubelet from depending on the host's resolver set-up.
        resolv.write_text("nameserver 127.0.0.1\n")
        serving_cert, serving_key = self._serving
        endpoint = f"unix://{self.containerd_address}"
        return {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "address": self.node_ip,
            "port": self.kubelet_port,
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": self.healthz_port,
            "tlsCertFile": str(serving_cert),
            "tlsPrivateKeyFile": str(serving_key),
            # As on a real node: the API server authenticates with a client certificate, everyone else with a
            # token the API server reviews, and every request is authorized by the API server (logs, exec).
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": True, "cacheTTL": "10s"},
                # The API server's client certificate towards kubelets is issued by the cluster's node CA.
                "x509": {"clientCAFile": str(self.kubelet_ca.cert_path)},
            },
            "authorization": {
                "mode": "Webhook",
                "webhook": {"cacheAuthorizedTTL": "10s", "cacheUnauthorizedTTL": "5s"},
            },
            "containerRuntimeEndpoint": endpoint,
            "imageServiceEndpoint": endpoint,
            # containerd 1.6 has no RuntimeConfig RPC to report its driver; the host has no systemd.
            "cgroupDriver": "cgroupfs",
            "cgroupRoot": self.cgroup_root,
            "cgroupsPerQOS": True,
            "enforceNodeAllocatable": [],
            # Kubernetes 1.35+ refuses cgroup v1 unless told; this VM is v1 (hybrid).
            "failCgroupV1": False,
            "failSwapOn": False,
            # Not -999: this VM lacks CAP_SYS_RESOURCE, and the kubelet's own OOM score does not matter here.
            "oomScoreAdj": 0,
            "resolvConf": str(resolv),
            "clusterDomain": "cluster.local",
            # Under /var/lib, which is the node's: the default under /usr/libexec would be created on the host.
            "volumePluginDir": "/var/lib/kubelet/volumeplugins",
            # The kubelet's iptables "util chains" (KUBE-FIREWALL, hint and canary chains) would be machine-wide
            # leftovers; kube-proxy here runs in nftables mode and needs none of them.
            "makeIPTablesUtilChains": False,
            # No cluster DNS runs here; an address keeps the kubelet from warning on every Pod (nothing listens).
            "clusterDNS": ["10.0.0.10"],
            "registerNode": True,
            "registerWithTaints": [_taint(t) for t in self.spec.taints],
            # Nothing is evicted or garbage-collected in a test: images cannot be pulled again without a registry.
            "evictionHard": {"memory.available": "1Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "serializeImagePulls": False,
            # Volumes (ConfigMaps, Secrets, projected tokens) follow changes within seconds, as in the tests'
            # expectations of a rotated certificate.
            "syncFrequency": "10s",
            "shutdownGracePeriod": "0s",
        }

    def _spawn(
        self, name: str, argv: list[str], *, in_namespace: bool = False, stdout_pipe: bool = False
    ) -> subprocess.Popen[bytes]:
        if in_namespace:
            holder = self._children.procs["namespace"].pid
            argv = ["nsenter", f"--mount=/proc/{holder}/ns/mnt", f"--wd={self.workdir}", "--", *argv]
        return self._children.spawn(name, argv, cwd=self.workdir, stdout_pipe=stdout_pipe)

    def _check_alive(self, name: str) -> None:
        code = self._children.exited(name)
        if code is not None:
            raise self._error(name, f"{name} of node {self.name} exited with {code}")

    def _error(self, name: str, what: str) -> NodeError:
        return NodeError(f"{what}\n{self._children.tail(name)}")


def remove_node_leftovers(workdir: Path, cgroup_root: str, bridge: str) -> None:
    """Everything a node (even a crashed or SIGKILLed one) can leave outside its mount namespace and work
    directory: shims, container processes, runc state, cgroups, the bridge. Idempotent."""
    address = str(workdir / "containerd.sock")
    for pid in shim_pids(address):
        kill_and_wait(pid, timeout=10)
    runc_force_delete_all(workdir / "runc" / CRI_NAMESPACE)
    kill_cgroup_tree(cgroup_root)
    # The holder and anything else of the namespace: processes started with nsenter from it carry its mount ns.
    for pid in _processes_in_mount_namespace_of(workdir):
        kill_and_wait(pid, timeout=10)
    deadline = time.monotonic() + 10
    while cgroup_dirs(cgroup_root) and time.monotonic() < deadline:
        remove_cgroup_tree(cgroup_root)
        if cgroup_dirs(cgroup_root):
            time.sleep(0.1)
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        if Path(f"/sys/class/net/{bridge}").exists():
            subprocess.run(["ip", "link", "delete", bridge], capture_output=True, timeout=10, check=False)


def _processes_in_mount_namespace_of(workdir: Path) -> list[int]:
    """Processes whose mount namespace has the node's ``/var/lib`` bind (found through /proc/<pid>/mountinfo)."""
    source = str(workdir / "var-lib").encode()
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            info = (entry / "mountinfo").read_bytes()
        except OSError:
            continue
        # A bind mount shows its source as the root field (4th) of the mount at /var/lib.
        for line in info.splitlines():
            fields = line.split()
            if len(fields) > 4 and fields[4] == b"/var/lib" and fields[3] == source:
                found.append(int(entry.name))
                break
    return found
