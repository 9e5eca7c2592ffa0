"""A real local Kubernetes cluster for tests, the demo and benchmarks: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler, kube-proxy and one or more kubelet nodes (each with its own containerd and CNI bridge).

Usage::

    with LocalCluster(nodes=["node-1"]) as cluster:
        cluster.import_image(archive, base_name="docker.io/library/seccomp-operator")
        cluster.kubectl("apply", "--server-side", "-k", "manifests/")
        cluster.nodes["node-1"].seccomp_dir   # host path of that node's /var/lib/kubelet/seccomp

The cluster touches machine-wide things (cgroups, network interfaces, an nftables table, a few kernel settings), so
one cluster runs on a machine at a time: ``start()`` takes an exclusive lock (``/run/lock``), waiting for another run
to finish with a deadline and a message saying who holds it. Everything a run creates is recorded in
``<workdir>/state.json`` as it is created; ``stop()`` undoes it, and so does the next ``start()`` for a run whose
process died without stopping (killed, or the machine rebooted), before it starts anything.

See ``seccomp_operator/testing/README.md``, "Real nodes".
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import ipaddress
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import yaml

from seccomp_operator.testing.controlplane import (
    CertificateAuthority,
    ControlPlane,
    KubectlError,
    cache_root,
    find_binaries,
    repo_root,
    script_default,
)
from seccomp_operator.testing.net import free_port
from seccomp_operator.testing.node import (
    NODE_BINARIES,
    KubeletNode,
    NodeError,
    NodeSpec,
    remove_node_leftovers,
)
from seccomp_operator.testing.processes import ProcessGroup
from seccomp_operator.testing.runtime import build_busybox_image, missing_requirements

__all__ = [
    "BUSYBOX_IMAGE",
    "LOCK_PATH",
    "ClusterError",
    "KubectlError",
    "LocalCluster",
    "NodeError",
    "NodeSpec",
    "find_node_binaries",
    "missing_node_requirements",
]

LOCK_PATH = Path("/run/lock/seccomp-operator-real-node.lock")
RUNS_DIR = Path("/var/tmp/seccomp-operator-nodes")
BUSYBOX_IMAGE = "localhost/seccomp-operator-test/busybox:latest"
PAUSE_IMAGE = "localhost/seccomp-operator-test/pause:1"
# The sandbox container only has to wait; trapping TERM makes it stop at once instead of after a grace period.
PAUSE_COMMAND = ("/bin/sh", "-c", "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done")
# Pod subnets: 10.213.<node index>.0/24 (a range no default set-up uses: containerd's own is 10.88.0.0/16).
POD_NETWORK = ipaddress.ip_network("10.213.0.0/16")
# What the kubelet changes at start (container_manager_linux.go, setupKernelTunables) and the bridge plugin turns
# on for a gateway bridge; saved before and restored after every run.
SYSCTLS = (
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
    "net/ipv4/ip_forward",
)
NFT_TABLES = (("ip", "kube-proxy"), ("ip6", "kube-proxy"))


class ClusterError(RuntimeError):
    """The local cluster could not be started (or the machine lock not taken in time)."""


def find_node_binaries(*, build: bool = False) -> Path:
    """The directory of kubelet, kube-controller-manager, kube-scheduler and kube-proxy, as
    ``scripts/node-binaries.sh`` resolves it (``$SECCOMP_OPERATOR_NODE_BINARIES``, ``$KUBEBUILDER_ASSETS``, its
    cache); with ``build=True`` a missing cache is filled by running the script."""
    for variable in ("SECCOMP_OPERATOR_NODE_BINARIES", "KUBEBUILDER_ASSETS"):
        directory = os.environ.get(variable)
        if directory and all(os.access(Path(directory) / b, os.X_OK) for b in NODE_BINARIES):
            return Path(directory)
        if directory and variable == "SECCOMP_OPERATOR_NODE_BINARIES":
            raise ClusterError(f"{variable}={directory} does not hold all of {', '.join(NODE_BINARIES)}")
    script = repo_root() / "scripts" / "node-binaries.sh"
    cached = cache_root() / "node" / f"k8s-{script_default('K8S_VERSION', script.parent / 'lib' / 'kubernetes.sh')}"
    if all(os.access(cached / b, os.X_OK) for b in NODE_BINARIES):
        return cached
    if not build:
        raise ClusterError(f"node binaries not found in {cached}; run {script} (or scripts/bootstrap.sh)")
    result = subprocess.run([str(script)], stdout=subprocess.PIPE, text=True, check=False)
    if result.returncode != 0:
        raise ClusterError(f"{script} failed with exit code {result.returncode} (see its stderr above)")
    return Path(result.stdout.strip().splitlines()[-1])


def missing_node_requirements() -> list[str]:
    """Why a real node cannot run on this machine; empty when it can."""
    reasons = [r for r in missing_requirements() if "busybox" not in r or "not found" in r]
    for tool, package in (
        ("unshare", "util-linux"),
        ("nsenter", "util-linux"),
        ("nft", "nftables"),
        ("ip", "iproute2"),
    ):
        if shutil.which(tool) is None:
            reasons.append(f"{tool} not found (Debian package {package})")
    for plugin in ("bridge", "host-local", "loopback"):
        if not os.access(f"/usr/lib/cni/{plugin}", os.X_OK):
            reasons.append(f"/usr/lib/cni/{plugin} not found (Debian package containernetworking-plugins)")
    return reasons


# --------------------------------------------------------------------------------------------------------------
# The machine lock and the record of what a run created


class _MachineLock:
    """An exclusive flock on LOCK_PATH; the file names the holder for whoever waits."""

    def __init__(self, timeout: float, announce: Callable[[str], None]) -> None:
        self.timeout = timeout
        self.announce = announce
        self._handle: IO[str] | None = None

    def acquire(self) -> None:
        LOCK_PATH.parent.mkdir(parents=True, exist_ok=True)
        handle = LOCK_PATH.open("a+")
        deadline = time.monotonic() + self.timeout
        announced = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "unknown"
                if time.monotonic() > deadline:
                    handle.close()
                    raise ClusterError(
                        f"another real-node run still holds {LOCK_PATH} after {self.timeout:.0f}s ({holder}); "
                        "only one local cluster can run on a machine at a time"
                    ) from None
                if not announced:
                    self.announce(f"waiting for another real-node run to finish ({holder}; lock {LOCK_PATH})")
                    announced = True
                time.sleep(1.0)
        handle.seek(0)
        handle.truncate()
        argv = " ".join(sys.argv)[:200]
        handle.write(f"pid {os.getpid()} since {time.strftime('%H:%M:%S')}: {argv}\n")
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            with contextlib.suppress(OSError):
                self._handle.truncate(0)
            self._handle.close()  # closing drops the flock
            self._handle = None


@dataclass
class _State:
    """What a run created outside its processes, written to ``state.json`` before it is created."""

    path: Path
    sysctls: dict[str, str]
    nodes: list[dict[str, str]]  # {workdir, cgroup_root, bridge}
    kube_proxy: bool = False
    stopped: bool = False

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(
            json.dumps(
                {"sysctls": self.sysctls, "nodes": self.nodes, "kube_proxy": self.kube_proxy, "stopped": self.stopped}
            )
        )
        tmp.replace(self.path)

    @classmethod
    def load(cls, path: Path) -> _State:
        data = json.loads(path.read_text())
        return cls(path, data["sysctls"], data["nodes"], data["kube_proxy"], data["stopped"])


def _read_sysctls() -> dict[str, str]:
    values = {}
    for name in SYSCTLS:
        with contextlib.suppress(OSError):
            values[name] = Path("/proc/sys", name).read_text().strip()
    return values


def _undo(state: _State) -> None:
    """Removes what a run left outside its processes; safe to repeat."""
    for node in state.nodes:
        remove_node_leftovers(Path(node["workdir"]), node["cgroup_root"], node["bridge"])
    if state.kube_proxy:
        for family, table in NFT_TABLES:
            subprocess.run(["nft", "delete", "table", family, table], capture_output=True, timeout=30, check=False)
    for name, value in state.sysctls.items():
        with contextlib.suppress(OSError):
            if Path("/proc/sys", name).read_text().strip() != value:
                Path("/proc/sys", name).write_text(value + "\n")


def _reap_stale_runs(announce: Callable[[str], None]) -> None:
    """Runs whose process died without stopping (we hold the lock, so no live run is among them)."""
    if not RUNS_DIR.is_dir():
        return
    for run in sorted(RUNS_DIR.iterdir()):
        state_file = run / "state.json"
        try:
            state = _State.load(state_file)
        except (OSError, ValueError, KeyError):
            state = None
        if state is not None and state.stopped:
            continue  # stopped cleanly and kept on purpose (keep_workdir)
        announce(f"cleaning up after an earlier run that did not stop: {run}")
        if state is not None:
            _undo(state)
        shutil.rmtree(run, ignore_errors=True)


def _default_route_address() -> str:
    """The host's primary address (the source of its default route): the node IP, reachable from Pods."""
    out = subprocess.run(["ip", "-j", "route", "get", "198.51.100.1"], capture_output=True, text=True, check=False)
    with contextlib.suppress(ValueError, KeyError, IndexError):
        return str(json.loads(out.stdout)[0]["prefsrc"])
    out = subprocess.run(
        ["ip", "-j", "-4", "addr", "show", "scope", "global"], capture_output=True, text=True, check=False
    )
    for link in json.loads(out.stdout or "[]"):
        for addr in link.get("addr_info", []):
            return str(addr["local"])
    raise ClusterError("no global IPv4 address on this machine; a kubelet refuses a loopback node IP")


def _routes_overlapping(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> list[str]:
    out = subprocess.run(["ip", "-j", "route", "show"], capture_output=True, text=True, check=False)
    overlapping = []
    for route in json.loads(out.stdout or "[]"):
        dst = route.get("dst", "")
        if dst in ("default", "") or ":" in dst:
            continue
        with contextlib.suppress(ValueError):
            if ipaddress.ip_network(dst, strict=False).overlaps(network):
                overlapping.append(f"{dst} dev {route.get('dev')}")
    return overlapping


# --------------------------------------------------------------------------------------------------------------
# The cluster


class LocalCluster:
    """See the module docstring.

    Args:
        nodes: the nodes started by ``start()`` (names or NodeSpecs); more can be added later with ``add_node``.
        images: OCI archives imported into every node's containerd before its kubelet starts, as
            ``(archive, base_name)``; ``base_name`` is ``ctr images import --base-name`` (None: the archive's own
            names).
        lock_timeout: how long ``start()`` waits for another run on this machine to finish.
        keep_workdir: leave ``<workdir>`` (logs, node files) after ``stop()``, for inspection.
        announce: where progress lines go (default: stderr).
    """

    def __init__(
        self,
        nodes: Sequence[str | NodeSpec] = ("node-1",),
        *,
        images: Sequence[tuple[Path, str | None]] = (),
        lock_timeout: float = 3600.0,
        start_timeout: float = 180.0,
        keep_workdir: bool = False,
        announce: Callable[[str], None] | None = None,
    ) -> None:
        self.node_specs = [n if isinstance(n, NodeSpec) else NodeSpec(n) for n in nodes]
        self.images: list[tuple[Path, str | None]] = list(images)
        self.start_timeout = start_timeout
        self.keep_workdir = keep_workdir
        self.announce = announce or (lambda line: print(f"[cluster] {line}", file=sys.stderr, flush=True))
        self._lock = _MachineLock(lock_timeout, self.announce)
        self.run_id = uuid.uuid4().hex[:6]
        self.workdir = RUNS_DIR / self.run_id
        self.nodes: dict[str, KubeletNode] = {}
        self.control_plane: ControlPlane | None = None
        self._children = ProcessGroup(self.workdir / "logs")
        self._state: _State | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self._node_index = 0
        self.timings: dict[str, float] = {}
        """Seconds per bring-up step (lock, control plane, controllers, each node, kube-proxy, total)."""
        self.node_ip = ""

    # ---- lifecycle ------------------------------------------------------------------------------------------

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> Self:
        reasons = missing_node_requirements()
        if reasons:
            raise ClusterError("a real node cannot run here: " + "; ".join(reasons))
        began = time.monotonic()
        self._lock.acquire()
        # From here on, stop() releases the lock and undoes whatever was done, however start() ends.
        self._finalizer = weakref.finalize(self, LocalCluster._finalize, self._lock, self._children)
        try:
            self.timings["lock"] = time.monotonic() - began
            _reap_stale_runs(self.announce)
            self.workdir.mkdir(parents=True)
            self._state = _State(self.workdir / "state.json", _read_sysctls(), [])
            self._state.save()
            self.node_ip = _default_route_address()
            overlapping = _routes_overlapping(POD_NETWORK)
            if overlapping:
                raise ClusterError(f"the Pod network {POD_NETWORK} overlaps routes of this machine: {overlapping}")
            self._start_control_plane()
            self._start_controllers()
            self._prepare_images()
            for spec in self.node_specs:
                self.add_node(spec)
            self._start_kube_proxy()
            self._wait_cluster_ready()
            self.timings["total"] = time.monotonic() - began
            self.announce(f"cluster up in {self.timings['total']:.1f}s ({', '.join(self.nodes)}; {self.workdir})")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stops every process, removes every interface, cgroup, nftables table and file of this run, restores the
        kernel settings, and releases the machine lock. Idempotent."""
        if self._finalizer is None:
            return
        try:
            for node in reversed(list(self.nodes.values())):
                node.stop()
            self._children.stop_all()
            if self._state is not None:
                _undo(self._state)
            if self.control_plane is not None:
                self.control_plane.stop()
            if self._state is not None:
                self._state.stopped = True
                self._state.save()
            if not self.keep_workdir:
                shutil.rmtree(self.workdir, ignore_errors=True)
                with contextlib.suppress(OSError):
                    RUNS_DIR.rmdir()  # only when empty
        finally:
            self._finalizer()
            self._finalizer = None

    @staticmethod
    def _finalize(lock: _MachineLock, children: ProcessGroup) -> None:
        # At garbage collection or interpreter exit without stop(): stop the children we own and let the next run
        # clean up the rest (its state.json says what); never leave the lock held by a dead object.
        children.stop_all(timeout=5)
        lock.release()

    # ---- nodes ----------------------------------------------------------------------------------------------

    def add_node(self, spec: str | NodeSpec) -> KubeletNode:
        """Starts one more node (containerd, the images, the kubelet) and returns once it is Ready."""
        spec = spec if isinstance(spec, NodeSpec) else NodeSpec(spec)
        if spec.name in self.nodes:
            raise ClusterError(f"node {spec.name} exists already")
        assert self.control_plane is not None and self._state is not None
        self._node_index += 1
        index = self._node_index
        node = KubeletNode(
            spec,
            workdir=self.workdir / f"n{index}",
            binaries=self.node_binaries,
            control_plane=self.control_plane,
            kubelet_ca=self._node_ca,
            node_ip=self.node_ip,
            pod_subnet=str(list(POD_NETWORK.subnets(new_prefix=24))[index]),
            bridge=f"sco-{self.run_id}-{index}",
            cgroup_root=f"/sco-{self.run_id}-{index}",
            ports=(free_port(), free_port()),
            sandbox_image=PAUSE_IMAGE,
            start_timeout=self.start_timeout,
        )
        self._state.nodes.append({"workdir": str(node.workdir), "cgroup_root": node.cgroup_root, "bridge": node.bridge})
        self._state.save()
        self.nodes[spec.name] = node
        began = time.monotonic()
        node.start_runtime()
        for archive, base_name in [(self._pause_archive, None), (self._busybox_archive, None), *self.images]:
            node.import_image(archive, base_name=base_name)
        node.start_kubelet()
        self.timings[f"node {spec.name}"] = time.monotonic() - began
        return node

    def remove_node(self, name: str) -> None:
        """Stops a node and deletes its Node object (its Pods go with it)."""
        node = self.nodes.pop(name)
        node.stop()
        self.kubectl("delete", "node", name, "--ignore-not-found", "--wait=false")

    def import_image(self, archive: Path, *, base_name: str | None = None) -> None:
        """Imports an OCI archive into every node's containerd now, and into nodes added later."""
        self.images.append((archive, base_name))
        for node in self.nodes.values():
            node.import_image(archive, base_name=base_name)

    # ---- talking to it --------------------------------------------------------------------------------------

    @property
    def cp(self) -> ControlPlane:
        if self.control_plane is None:
            raise ClusterError("cluster not started")
        return self.control_plane

    @property
    def kubeconfig_path(self) -> Path:
        return self.cp.kubeconfig_path

    @property
    def kubectl_path(self) -> Path:
        return self.cp.binaries_dir / "kubectl"

    def kubectl(
        self, *args: str, check: bool = True, input: str | None = None, timeout: float = 120.0
    ) -> subprocess.CompletedProcess[str]:
        """kubectl as admin; raises KubectlError (with stderr) on failure when ``check``."""
        return self.cp.kubectl(*args, check=check, input=input, timeout=timeout)

    def apply(self, *documents: dict[str, Any]) -> None:
        """``kubectl apply --server-side`` of the given objects."""
        self.kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump_all(documents))

    def user_env(self) -> dict[str, str]:
        """An environment in which ``kubectl`` (and helm) reach this cluster as admin, as a user's shell would."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
        env["KUBECONFIG"] = str(self.kubeconfig_path)
        env["PATH"] = f"{self.cp.binaries_dir}{os.pathsep}{env.get('PATH', '')}"
        return env

    # ---- internals ------------------------------------------------------------------------------------------

    @property
    def node_binaries(self) -> Path:
        return find_node_binaries()

    def _start_control_plane(self) -> None:
        began = time.monotonic()
        pki = self.workdir / "pki"
        # One CA for the kubelets' serving certificates and for the API server's client certificate towards them.
        self._node_ca = CertificateAuthority.create(pki, "node-ca")
        kubelet_client_cert, kubelet_client_key = self._node_ca.issue(
            pki / "apiserver-kubelet-client", "kube-apiserver-kubelet-client", organizations=["system:masters"]
        )
        self.control_plane = ControlPlane(
            workdir=self.workdir / "control-plane",
            binaries_dir=find_binaries(build=False),
            address=self.node_ip,
            authorization_modes=("Node", "RBAC"),
            start_timeout=self.start_timeout,
            extra_apiserver_args=[
                "--enable-admission-plugins=NodeRestriction",
                f"--kubelet-client-certificate={kubelet_client_cert}",
                f"--kubelet-client-key={kubelet_client_key}",
                f"--kubelet-certificate-authority={self._node_ca.cert_path}",
                "--kubelet-preferred-address-types=InternalIP",
            ],
        )
        self.control_plane.start()
        self.timings["control plane"] = time.monotonic() - began

    def _identity(self, name: str, common_name: str, organizations: Sequence[str] = ()) -> Path:
        cert, key = self.cp.client_ca.issue(self.workdir / "pki" / name, common_name, organizations=list(organizations))
        return self.cp.kubeconfig_for_certificate(cert, key, name=common_name, path=self.workdir / f"{name}.kubeconfig")

    def _start_controllers(self) -> None:
        began = time.monotonic()
        binaries = self.node_binaries
        kcm = self._identity("kube-controller-manager", "system:kube-controller-manager")
        scheduler = self._identity("kube-scheduler", "system:kube-scheduler")
        ports = {"kube-controller-manager": free_port(), "kube-scheduler": free_port()}
        common = ["--bind-address=127.0.0.1", "--leader-elect=false"]
        self._children.spawn(
            "kube-controller-manager",
            [
                str(binaries / "kube-controller-manager"),
                f"--kubeconfig={kcm}",
                f"--authentication-kubeconfig={kcm}",
                f"--authorization-kubeconfig={kcm}",
                f"--secure-port={ports['kube-controller-manager']}",
                f"--cert-dir={self.workdir / 'kcm-certs'}",
                # Each controller with its own service account, as in kubeadm clusters (RBAC-checked).
                "--use-service-account-credentials=true",
                # kube-root-ca.crt in every namespace: what Pods trust to reach the API server.
                f"--root-ca-file={self.cp.ca_path}",
                f"--service-account-private-key-file={self.workdir / 'control-plane' / 'pki' / 'sa.key'}",
                "--kube-api-qps=100",
                "--kube-api-burst=200",
                *common,
            ],
            cwd=self.workdir,
        )
        self._children.spawn(
            "kube-scheduler",
            [
                str(binaries / "kube-scheduler"),
                f"--kubeconfig={scheduler}",
                f"--authentication-kubeconfig={scheduler}",
                f"--authorization-kubeconfig={scheduler}",
                f"--secure-port={ports['kube-scheduler']}",
                *common,
            ],
            cwd=self.workdir,
        )
        for name, port in ports.items():
            self._wait(functools.partial(_https_ok, port, "/healthz"), name, f"{name} /healthz")
        self.timings["controllers"] = time.monotonic() - began

    def _prepare_images(self) -> None:
        images = self.workdir / "images"
        images.mkdir()
        self._pause_archive = build_busybox_image(images / "pause.tar", ref=PAUSE_IMAGE, cmd=PAUSE_COMMAND)
        self._busybox_archive = build_busybox_image(images / "busybox.tar", ref=BUSYBOX_IMAGE)

    def _start_kube_proxy(self) -> None:
        """One kube-proxy for the machine: every node shares the host's network namespace, whose Service rules it
        programs (nftables mode, in its own table)."""
        assert self._state is not None
        began = time.monotonic()
        first = next(iter(self.nodes))
        healthz = free_port()
        config = {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
            "kind": "KubeProxyConfiguration",
            "mode": "nftables",
            "clientConnection": {"kubeconfig": str(self._identity("kube-proxy", "system:kube-proxy"))},
            "hostnameOverride": first,
            "bindAddress": self.node_ip,
            "healthzBindAddress": f"127.0.0.1:{healthz}",
            "metricsBindAddress": f"127.0.0.1:{free_port()}",
            "clusterCIDR": str(POD_NETWORK),
            # Leave the machine's conntrack settings alone.
            "conntrack": {
                "maxPerCore": 0,
                "min": 0,
                "tcpEstablishedTimeout": "0s",
                "tcpCloseWaitTimeout": "0s",
                "udpTimeout": "0s",
                "udpStreamTimeout": "0s",
            },
            "nftables": {"syncPeriod": "30s", "minSyncPeriod": "0s"},
        }
        path = self.workdir / "kube-proxy.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        self._state.kube_proxy = True
        self._state.save()
        self._children.spawn(
            "kube-proxy", [str(self.node_binaries / "kube-proxy"), f"--config={path}", "--v=2"], cwd=self.workdir
        )
        self._wait(lambda: _http_ok(healthz, "/healthz"), "kube-proxy", "kube-proxy /healthz")
        self.timings["kube-proxy"] = time.monotonic() - began

    def _wait_cluster_ready(self) -> None:
        """The controllers work: the `default` ServiceAccount and kube-root-ca.crt exist in `default`."""

        def ready() -> bool:
            sa = self.kubectl("get", "serviceaccount", "default", "-n", "default", check=False)
            ca = self.kubectl("get", "configmap", "kube-root-ca.crt", "-n", "default", check=False)
            return sa.returncode == 0 and ca.returncode == 0

        self._wait(ready, "kube-controller-manager", "the default ServiceAccount and kube-root-ca.crt")

    def _wait(self, predicate: Callable[[], bool], process: str, what: str) -> None:
        deadline = time.monotonic() + self.start_timeout
        delay = 0.05
        while not predicate():
            code = self._children.exited(process)
            if code is not None:
                raise ClusterError(
                    f"{process} exited with {code} while waiting for {what}\n{self._children.tail(process)}"
                )
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"timed out after {self.start_timeout:.0f}s waiting for {what}\n{self._children.tail(process)}"
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)


def _https_ok(port: int, path: str) -> bool:
    import http.client
    import ssl

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the component's own self-signed serving certificate
    try:
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=2)
        conn.request("GET", path)
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False


def _http_ok(port: int, path: str) -> bool:
    import http.client

    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", path)
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
