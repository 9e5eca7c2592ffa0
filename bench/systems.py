"""The systems under test, driven only through their command lines and the Kubernetes API.

- `SeccompOperator`: `seccomp-operator controller` (its own process, admission webhooks on, as deployed) and one
  `seccomp-operator agent` process per node (`nodes="processes"`, each in its own namespaces: `bench.nsproc`), or
  simulated agents spread over several processes (`nodes="simulated"`: `bench.fleet`) for the large N.
- `SecurityProfilesOperator` (SPO v1.0.0, built by scripts/spo-binary.sh): its `daemon` per node and its `manager`
  for status, each in its own namespaces; CRDs read from the Go module cache.

Both expose the same verbs to the benchmark: prepare the API server, start, create/update/delete a profile, "does
status say installed everywhere", "are the objects gone", and the pids whose memory is reported.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.fleet import Fleet, node_body
from bench.nsproc import ApiForwarder, base_environment, main_pid, spawn_isolated, stop
from bench.util import REPO, log, parallel, proc_status_kib, wait_until
from seccomp_operator.testing.controlplane import ControlPlane
from seccomp_operator.testing.net import free_port

OWN_GROUP = "seccomp-operator.io"
OWN_VERSION = "v1alpha1"
SPO_GROUP = "security-profiles-operator.x-k8s.io"
SPO_NAMESPACE = "security-profiles-operator"
IN_CLUSTER_SECRETS = "/run/secrets/kubernetes.io/serviceaccount"  # /var/run is /run on Debian
CONTROLLER_LOG_LEVEL = os.environ.get("BENCH_CONTROLLER_LOG_LEVEL", "WARNING")
WEBHOOK_CONFIGURATION = "bench.seccomp-operator.io"


class PeerUnavailable(RuntimeError):
    """The peer cannot be built or found: reported, never silently skipped."""


class System:
    name = ""
    group = ""
    version = ""
    plural = "seccompprofiles"
    namespaced = True

    def __init__(self, cp: ControlPlane, workdir: Path) -> None:
        from kubernetes import client

        self.cp = cp
        self.workdir = workdir
        self.api = client.CustomObjectsApi(cp.api_client())
        self.own_requests: dict[tuple[str, str, str], float] = defaultdict(float)
        self._count_lock = threading.Lock()
        self.nodes: list[str] = []
        self.nodes_dir = workdir / "nodes"

    # --- the benchmark's own requests are counted, to be taken out of the API server's totals -----------------
    def count(self, verb: str, resource: str | None = None, group: str | None = None) -> None:
        with self._count_lock:
            self.own_requests[(verb, self.group if group is None else group, resource or self.plural)] += 1

    # --- profile verbs ------------------------------------------------------------------------------------------
    def body(self, namespace: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        meta = {"name": name, **({"namespace": namespace} if self.namespaced else {})}
        return {"apiVersion": f"{self.group}/{self.version}", "kind": "SeccompProfile", "metadata": meta, "spec": spec}

    def create(self, namespace: str, name: str, spec: dict[str, Any]) -> None:
        self.count("POST")
        if self.namespaced:
            self.api.create_namespaced_custom_object(
                self.group, self.version, namespace, self.plural, self.body(namespace, name, spec)
            )
        else:
            self.api.create_cluster_custom_object(
                self.group, self.version, self.plural, self.body(namespace, name, spec)
            )

    def update(self, namespace: str, name: str, spec: dict[str, Any]) -> None:
        self.count("PATCH")
        if self.namespaced:
            self.api.patch_namespaced_custom_object(
                self.group, self.version, namespace, self.plural, name, {"spec": spec}
            )
        else:
            self.api.patch_cluster_custom_object(self.group, self.version, self.plural, name, {"spec": spec})

    def delete(self, namespace: str, name: str) -> None:
        self.count("DELETE")
        if self.namespaced:
            self.api.delete_namespaced_custom_object(self.group, self.version, namespace, self.plural, name)
        else:
            self.api.delete_cluster_custom_object(self.group, self.version, self.plural, name)

    def list(self, namespace: str) -> dict[str, dict[str, Any]]:
        """The profiles as the API server's watch cache has them (resourceVersion 0: no etcd read). The benchmark
        polls this while it waits for status; a cache a moment behind can only make a figure later, never earlier,
        and at 50 profiles x 100 nodes a consistent LIST (up to 700 KB with the status of every node) every 100 ms
        was a measurable share of the API server's time in the phases it was meant to observe."""
        self.count("LIST")
        if self.namespaced:
            items = self.api.list_namespaced_custom_object(
                self.group, self.version, namespace, self.plural, resource_version="0"
            )["items"]
        else:
            items = self.api.list_cluster_custom_object(self.group, self.version, self.plural, resource_version="0")[
                "items"
            ]
        return {o["metadata"]["name"]: o for o in items}

    def new_namespace(self, namespace: str) -> None:
        if self.namespaced:
            self.cp.kubectl("create", "namespace", namespace)

    def gone(self, namespace: str, names: list[str]) -> bool:
        present = self.list(namespace)
        return not any(name in present for name in names)

    def create_nodes(self, nodes: list[str]) -> None:
        from kubernetes import client

        core = client.CoreV1Api(self.cp.api_client())
        existing = {n.metadata.name for n in core.list_node().items}
        parallel(lambda name: core.create_node(node_body(name)), [(n,) for n in nodes if n not in existing], 16)

    # --- to be provided by each system --------------------------------------------------------------------------
    def prepare(self) -> None:
        raise NotImplementedError

    def start(self, nodes: list[str]) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def installed_everywhere(self, namespace: str, names: list[str], revision: int) -> bool | None:
        """True when status says every node holds `revision` of every profile; None when the system's status
        cannot say so for this revision (the measurement is then reported as not available)."""
        raise NotImplementedError

    def controller_pid(self) -> int:
        raise NotImplementedError

    def agent_pids(self) -> list[int]:
        raise NotImplementedError

    def notes(self) -> list[str]:
        return []

    def timeline(self, since: float) -> dict[str, Any]:
        """Where the time of a phase went, as far as the API shows it (after the phase converged)."""
        return {}


def _crds_established(cp: ControlPlane, group: str, plurals: list[str]) -> None:
    for plural in plurals:
        cp.kubectl("wait", "--for=condition=Established", f"crd/{plural}.{group}", "--timeout=60s")
    wait_until(lambda: cp.get(f"/apis/{group}")[0] == 200, timeout=30, what=f"discovery of {group}")


class SeccompOperator(System):
    name = "seccomp-operator"
    group = OWN_GROUP
    version = OWN_VERSION

    def __init__(self, cp: ControlPlane, workdir: Path, *, nodes: str = "processes", drift_watched: int = 8) -> None:
        super().__init__(cp, workdir)
        self.mode = nodes
        self.drift_watched = drift_watched
        self.controller: subprocess.Popen[bytes] | None = None
        self.agents: dict[str, subprocess.Popen[bytes]] = {}
        self.fleet: Fleet | None = None
        self.forwarder: ApiForwarder | None = None
        self.health_port = 0
        self.published: list[tuple[float, str]] = []  # (epoch time, name) of each published revision seen
        self._watching = threading.Event()

    def prepare(self) -> None:
        self.cp.kubectl("apply", "--server-side", f"--filename={REPO / 'crds'}")
        _crds_established(self.cp, OWN_GROUP, ["seccompprofiles", "publishedseccompprofiles", "nodeprofilereports"])
        self.cp.kubectl("create", "namespace", "seccomp-operator", check=False)

    def root_of(self, node: str) -> Path:
        if self.mode == "simulated":
            return Fleet.root_of(self.workdir, node)
        return self.nodes_dir / node / "kubelet" / "seccomp"

    def _watch_published(self) -> None:
        """When the controller published each revision (PublishedSeccompProfile events): splits a rollout's time
        into the controller's part (until published) and the nodes' part (published to file on disk)."""
        from kubernetes import watch

        stream = watch.Watch()
        while self._watching.is_set():
            try:
                for event in stream.stream(
                    self.api.list_cluster_custom_object,
                    OWN_GROUP,
                    OWN_VERSION,
                    "publishedseccompprofiles",
                    timeout_seconds=300,
                ):
                    if event["type"] in ("ADDED", "MODIFIED"):
                        self.published.append((time.time(), event["object"]["metadata"]["name"]))
                    if not self._watching.is_set():
                        return
            except Exception:  # the stream ends with the control plane; a dropped stream is resumed
                time.sleep(0.5)

    def timeline(self, since: float) -> dict[str, Any]:
        first: dict[str, float] = {}
        for at, name in list(self.published):
            if at >= since:
                first.setdefault(name, at)
        if not first:
            return {}
        ordered = sorted(t - since for t in first.values())
        return {
            "published_first_s": ordered[0],
            "published_median_s": ordered[len(ordered) // 2],
            "published_last_s": ordered[-1],
        }

    def start(self, nodes: list[str]) -> None:
        self.nodes = nodes
        self._watching.set()
        threading.Thread(target=self._watch_published, name="published-watch", daemon=True).start()
        self.start_controller()
        if self.mode == "simulated":
            self.fleet = Fleet(self.cp, nodes, self.workdir, self.drift_watched, log)
            return
        self.create_nodes(nodes)
        self.forwarder = ApiForwarder(self.workdir, int(self.cp.server_url.rsplit(":", 1)[1]))
        binary = str(REPO / ".venv" / "bin" / "seccomp-operator")
        env = base_environment()
        for i, node in enumerate(nodes):
            root = self.root_of(node)
            root.mkdir(parents=True, exist_ok=True)
            argv = [
                binary,
                "agent",
                f"--node-name={node}",
                f"--root={root}",
                f"--kubeconfig={self.cp.kubeconfig_path}",
                "--log-format=plain",
                "--log-level=WARNING",
            ]
            if i >= self.drift_watched:
                argv.append("--no-drift-watch")  # inotify instances are a per-user budget shared with the machine
            self.agents[node] = spawn_isolated(
                argv, env=env, forwarder=self.forwarder, log_path=self.workdir / f"agent-{node}.log"
            )
        # An agent writes its NodeProfileReport after its first full sync, even with nothing to install.
        wait_until(self._reports_complete, timeout=120 + 2 * len(nodes), interval=0.5, what="agents' first sync")

    def _reports_complete(self) -> bool:
        self.count("LIST", "nodeprofilereports")
        reports = self.api.list_cluster_custom_object(OWN_GROUP, OWN_VERSION, "nodeprofilereports")["items"]
        for node, process in self.agents.items():
            if process.poll() is not None:
                raise RuntimeError(
                    f"agent {node} exited with {process.returncode}: see {self.workdir}/agent-{node}.log"
                )
        return len({r["metadata"]["name"] for r in reports} & set(self.nodes)) >= len(self.nodes)

    def start_controller(self, *, webhook: bool = True) -> None:
        """The controller as deployed: its own process, admission webhooks on (a ValidatingWebhookConfiguration
        pointing at it, so every create and update of a profile goes through it)."""
        self.health_port = free_port()
        command = [str(REPO / ".venv" / "bin" / "seccomp-operator")]
        profile_out = os.environ.get("BENCH_CPROFILE_CONTROLLER")
        if profile_out:
            command = [
                str(REPO / ".venv" / "bin" / "python"),
                "-m",
                "cProfile",
                "-o",
                profile_out,
                "-m",
                "seccomp_operator",
            ]
        args = [
            "controller",
            f"--kubeconfig={self.cp.kubeconfig_path}",
            f"--health-addr=127.0.0.1:{self.health_port}",
            "--log-format=plain",
            f"--log-level={CONTROLLER_LOG_LEVEL}",
        ]
        if webhook:
            cert, key = self.workdir / "webhook.crt", self.workdir / "webhook.key"
            subprocess.run(
                [
                    "openssl",
                    "req",
                    "-x509",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:P-256",
                    "-nodes",
                    "-days",
                    "2",
                    "-subj",
                    "/CN=127.0.0.1",
                    "-addext",
                    "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-keyout",
                    str(key),
                    "-out",
                    str(cert),
                ],
                check=True,
                capture_output=True,
            )
            args += [
                f"--webhook-addr=127.0.0.1:{free_port()}",
                "--webhook-host=127.0.0.1",
                f"--webhook-cert={cert}",
                f"--webhook-key={key}",
                f"--manage-webhook-config={WEBHOOK_CONFIGURATION}",
            ]
        else:
            args.append("--no-webhook")
        with open(self.workdir / "controller.log", "ab") as log:
            self.controller = subprocess.Popen(
                [*command, *args], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        wait_until(self._controller_ready, timeout=90, interval=0.2, what="the controller process")
        if webhook:
            wait_until(
                lambda: (
                    self.cp.get(
                        f"/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/{WEBHOOK_CONFIGURATION}"
                    )[0]
                    == 200
                ),
                timeout=60,
                what="the controller's webhook configuration",
            )

    def _controller_ready(self) -> bool:
        import urllib.request

        assert self.controller is not None
        if self.controller.poll() is not None:
            raise RuntimeError(f"the controller exited with {self.controller.returncode}: see {self.workdir}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}/readyz", timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def stop(self) -> None:
        self._watching.clear()
        if self.fleet is not None:
            self.fleet.close()
        for process in self.agents.values():
            stop(process)
        if self.controller is not None:
            self.controller.terminate()
            try:
                self.controller.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.controller.kill()
                self.controller.wait()
        if self.forwarder is not None:
            self.forwarder.close()

    def file_hash(self, namespace: str, name: str) -> str | None:
        path = self.root_of(self.nodes[0]) / "seccomp-operator" / namespace / f"{name}.json"
        try:
            return hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            return None

    def ready(self, namespace: str, names: list[str], hashes: dict[str, str | None] | None = None) -> bool:
        """Ready for the latest generation (kstatus: a Ready that describes an older generation does not count),
        and, with `hashes`, for exactly that content."""
        items = self.list(namespace)
        for name in names:
            obj = items.get(name) or {}
            status = obj.get("status") or {}
            ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
            if not ready or status.get("observedGeneration") != (obj.get("metadata") or {}).get("generation"):
                return False
            if hashes is not None and status.get("hash") != hashes[name]:
                return False
        return True

    def installed_everywhere(self, namespace: str, names: list[str], revision: int) -> bool | None:
        """Ready, with the hash of the file the nodes hold (the observer has seen `revision` on every node)."""
        return self.ready(namespace, names, {name: self.file_hash(namespace, name) for name in names})

    def agent_memory(self, profiles: int) -> dict[str, float]:
        """One real `seccomp-operator agent` process on a new node: peak RSS once it has installed `profiles`."""
        self.create_nodes(["agent-proc"])
        root = self.workdir / "agent-proc-root"
        root.mkdir()
        with open(self.workdir / "agent-proc.log", "ab") as log:
            agent = subprocess.Popen(
                [
                    str(REPO / ".venv" / "bin" / "seccomp-operator"),
                    "agent",
                    "--node-name=agent-proc",
                    f"--root={root}",
                    f"--kubeconfig={self.cp.kubeconfig_path}",
                    "--health-addr=",
                    "--log-format=plain",
                    "--log-level=WARNING",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        started = time.monotonic()

        def installed() -> bool:
            try:
                report = self.api.get_cluster_custom_object(OWN_GROUP, OWN_VERSION, "nodeprofilereports", "agent-proc")
            except Exception:
                return False
            return int((report.get("status") or {}).get("installedCount") or 0) >= profiles

        try:
            wait_until(installed, timeout=600, interval=0.2, what="the agent process to install every profile")
            elapsed = time.monotonic() - started
            time.sleep(2)
            return {
                "agent_install_s": elapsed,
                "agent_vmhwm_mib": proc_status_kib(agent.pid, "VmHWM") / 1024,
                "agent_vmrss_mib": proc_status_kib(agent.pid, "VmRSS") / 1024,
            }
        finally:
            agent.terminate()
            agent.wait(timeout=30)

    def controller_pid(self) -> int:
        assert self.controller is not None
        return self.controller.pid

    def agent_pids(self) -> list[int]:
        return [main_pid(p) for p in self.agents.values()]

    def notes(self) -> list[str]:
        return [
            "controller: `seccomp-operator controller` with its admission webhook on (every create and update of a "
            "profile goes through it), on the host's loopback",
            f"agents: one `seccomp-operator agent` process per node, inotify drift watching on the first "
            f"{self.drift_watched} (a per-user kernel budget shared with the machine), health port on",
            "agents write files and directories atomically and fsync both (crash-safe install)",
            "agents authenticate as cluster admin: the ValidatingAdmissionPolicy that limits each agent to its own "
            "NodeProfileReport in a cluster is not installed, so its CEL evaluation per report write is not paid",
        ]


class SecurityProfilesOperator(System):
    name = "security-profiles-operator"
    group = SPO_GROUP
    version = "v1"
    namespaced = False  # v1.0.0's SeccompProfile is cluster-scoped

    def __init__(self, cp: ControlPlane, workdir: Path, spo_dir: Path) -> None:
        super().__init__(cp, workdir)
        self.binary = spo_dir / "security-profiles-operator"
        self.crds = Path((spo_dir / "module-dir").read_text().strip()) / "deploy" / "base-crds" / "crds"
        if not self.binary.is_file() or not self.crds.is_dir():
            raise PeerUnavailable(f"SPO is incomplete in {spo_dir}: need {self.binary} and {self.crds}")
        self.forwarder: ApiForwarder | None = None
        self.manager: subprocess.Popen[bytes] | None = None
        self.daemons: dict[str, subprocess.Popen[bytes]] = {}

    def version_line(self) -> str:
        out = subprocess.run([str(self.binary), "version"], capture_output=True, text=True, check=False).stdout
        return " ".join(
            line.strip() for line in out.splitlines() if line.strip().lower().startswith(("version", "gitcommit"))
        )

    def prepare(self) -> None:
        self.cp.kubectl("apply", "--server-side", f"--filename={self.crds}")
        _crds_established(
            self.cp, SPO_GROUP, ["seccompprofiles", "securityprofilenodestatuses", "securityprofilesoperatordaemons"]
        )
        self.cp.kubectl("create", "namespace", SPO_NAMESPACE, check=False)
        spod = {
            "apiVersion": f"{SPO_GROUP}/v1alpha1",
            "kind": "SecurityProfilesOperatorDaemon",
            "metadata": {"name": "spod", "namespace": SPO_NAMESPACE},
            "spec": {},
        }
        self.cp.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(spod))
        self.cp.kubectl("create", "serviceaccount", "security-profiles-operator", "-n", SPO_NAMESPACE, check=False)
        self.cp.kubectl(
            "create",
            "clusterrolebinding",
            "security-profiles-operator-bench",
            "--clusterrole=cluster-admin",
            f"--serviceaccount={SPO_NAMESPACE}:security-profiles-operator",
            check=False,
        )

    def _daemonset(self, count: int) -> None:
        """The manager reports status only when the `spod` DaemonSet's counts match the node-status objects. No
        DaemonSet controller runs here, so the benchmark writes what it would: N scheduled, N available."""
        daemonset = {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "spod", "namespace": SPO_NAMESPACE},
            "spec": {
                "selector": {"matchLabels": {"app": "spod"}},
                "template": {
                    "metadata": {"labels": {"app": "spod"}},
                    "spec": {"containers": [{"name": "spod", "image": "spod"}]},
                },
            },
        }
        self.cp.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(daemonset))
        counts = {
            "desiredNumberScheduled": count,
            "currentNumberScheduled": count,
            "numberAvailable": count,
            "numberReady": count,
            "updatedNumberScheduled": count,
            "numberMisscheduled": 0,
            "numberUnavailable": 0,
            "observedGeneration": 1,
        }
        self.cp.kubectl(
            "patch",
            "daemonset",
            "spod",
            "-n",
            SPO_NAMESPACE,
            "--subresource=status",
            "--type=merge",
            "-p",
            json.dumps({"status": counts}),
        )

    def start(self, nodes: list[str]) -> None:
        self.nodes = nodes
        self.create_nodes(nodes)
        self._daemonset(len(nodes))
        self.forwarder = ApiForwarder(self.workdir, int(self.cp.server_url.rsplit(":", 1)[1]))
        env = base_environment()
        # The manager calls rest.InClusterConfig(): a service-account token, the CA and the namespace under
        # /var/run/secrets in its mount namespace, and the API server's address in the usual variables.
        secrets = self.workdir / "manager-secrets"
        secrets.mkdir(exist_ok=True)
        token = self.cp.service_account_token(SPO_NAMESPACE, "security-profiles-operator", duration_seconds=86400)
        (secrets / "token").write_text(token)
        (secrets / "namespace").write_text(SPO_NAMESPACE)
        (secrets / "ca.crt").write_bytes(Path(self.cp.ca_path).read_bytes())
        port = self.forwarder.port
        self.manager = spawn_isolated(
            [
                str(self.binary),
                "manager",
                "--webhook=false",
                "--with-spod-controller=false",
                "--with-workload-annotator=false",
                "--with-recording-merger=false",
            ],
            env={
                **env,
                "OPERATOR_NAMESPACE": SPO_NAMESPACE,
                "KUBERNETES_SERVICE_HOST": "127.0.0.1",
                "KUBERNETES_SERVICE_PORT": str(port),
                "HOME": str(self.workdir),
            },
            forwarder=self.forwarder,
            log_path=self.workdir / "spo-manager.log",
            setup=[f"mkdir -p {IN_CLUSTER_SECRETS} && cp {secrets}/* {IN_CLUSTER_SECRETS}/"],
        )
        for node in nodes:
            kubelet = self.nodes_dir / node / "kubelet"
            kubelet.mkdir(parents=True, exist_ok=True)
            self.daemons[node] = spawn_isolated(
                [str(self.binary), "daemon"],
                env={
                    **env,
                    "NODE_NAME": node,
                    "OPERATOR_NAMESPACE": SPO_NAMESPACE,
                    "SPOD_NAME": "spod",
                    "KUBELET_DIR": str(kubelet),
                    "KUBECONFIG": str(self.cp.kubeconfig_path),
                    # Plain HTTP metrics: in a cluster a kube-rbac-proxy sidecar terminates TLS instead.
                    "ENABLE_INSECURE_METRICS_ACCESS": "true",
                    "HOME": str(self.workdir),
                },
                forwarder=self.forwarder,
                log_path=self.workdir / f"spo-daemon-{node}.log",
            )
        wait_until(self._started, timeout=120 + 2 * len(nodes), interval=0.5, what="SPO's daemons and manager")

    def _started(self) -> bool:
        """Every daemon's and the manager's controllers run their workers (their logs say so)."""
        processes = {"manager": self.manager, **self.daemons}
        for name, process in processes.items():
            assert process is not None
            if process.poll() is not None:
                raise RuntimeError(f"SPO {name} exited with {process.returncode}: see {self.workdir}")
        logs = [self.workdir / f"spo-daemon-{n}.log" for n in self.daemons] + [self.workdir / "spo-manager.log"]
        return all("Starting workers" in path.read_text(errors="replace") for path in logs)

    def installed_everywhere(self, namespace: str, names: list[str], revision: int) -> bool | None:
        if revision > 0:
            # The daemon finds its node status already Installed and leaves it: SPO's status does not say which
            # revision a node holds, so it cannot tell when an update has reached every node.
            return None
        items = self.list(namespace)
        return all(((items.get(n) or {}).get("status") or {}).get("status") == "Installed" for n in names)

    def stop(self) -> None:
        codes = [stop(p) for p in self.daemons.values()]
        if self.manager is not None:
            codes.append(stop(self.manager))
        if self.forwarder is not None:
            self.forwarder.close()
        del codes  # SPO exits by panicking on SIGTERM (`close of closed channel`): non-zero by design

    def controller_pid(self) -> int:
        assert self.manager is not None
        return main_pid(self.manager)

    def agent_pids(self) -> list[int]:
        return [main_pid(p) for p in self.daemons.values()]

    def notes(self) -> list[str]:
        return [
            "daemon: `security-profiles-operator daemon` per node (seccomp only: built without AppArmor and BPF, "
            "SELinux off as by default), plain-HTTP metrics instead of a kube-rbac-proxy sidecar",
            "manager: `security-profiles-operator manager --webhook=false --with-spod-controller=false "
            "--with-workload-annotator=false --with-recording-merger=false` (status aggregation only), in-cluster "
            "credentials of a service account bound to cluster-admin, leader election on",
            "the `spod` DaemonSet's status is written by the benchmark (no DaemonSet controller runs)",
            "daemons write each file in place with one write and no fsync (cheaper than an atomic, fsynced install; "
            "a crash mid-write can leave a partial file)",
            "daemons authenticate as cluster admin (RBAC evaluation of its service account is not paid)",
        ]


def vmhwm_mib(pids: list[int]) -> list[float]:
    return [proc_status_kib(pid, "VmHWM") / 1024 for pid in pids]


def wait_for(predicate: Any, timeout: float, what: str) -> float:
    """Poll every 100 ms; the epoch time of the first poll that saw it true."""

    def check() -> float | None:
        now = time.time()
        return now if predicate() else None

    return wait_until(check, timeout=timeout, interval=0.1, what=what)
