"""The deployment artifacts against the real API server (issue #6).

- manifests/ (kustomize base, each component) and the Helm chart render and pass a server-side dry-run apply;
  the chart renders the very objects the kustomize tree does;
- least privilege: the RBAC is applied for real and probed with `kubectl auth can-i` per service account, and the
  real controller and agent code run with nothing but their own service-account tokens;
- "own node only": the ValidatingAdmissionPolicies are proven with impersonation (the node-name user extra) and
  with real node-bound tokens issued by the API server;
- the agent's security context, field by field, and the claim behind it (uid 0 with no capability can do all the
  agent's file work) by running the agent's tree code with an empty capability set;
- the Dockerfile's structure (no container engine runs here).
"""

from __future__ import annotations

import ast
import asyncio
import base64
import copy
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from seccomp_operator.testing.controlplane import ControlPlane
from seccomp_operator.testing.simulation import wait_until

from .conftest import CRD_DIR, CRD_NAMES, REPO, _in_ci

MANIFESTS = REPO / "manifests"
COMPONENTS = MANIFESTS / "components"
CHART = REPO / "charts" / "seccomp-operator"
NS = "seccomp-operator"
AGENT_SA = "seccomp-operator-agent"
CONTROLLER_SA = "seccomp-operator-controller"
AGENT_USER = f"system:serviceaccount:{NS}:{AGENT_SA}"
CONTROLLER_USER = f"system:serviceaccount:{NS}:{CONTROLLER_SA}"
SA_GROUPS = ("system:serviceaccounts", f"system:serviceaccounts:{NS}", "system:authenticated")
NODE_NAME_EXTRA = "authentication.kubernetes.io/node-name"
READINESS_TAINT = "seccomp-operator.io/not-ready"
HOST_SECCOMP = "/var/lib/kubelet/seccomp"
IMAGE = "seccomp-operator:0.1.0"
K8S_VERSION = "v1.37.2"
# Objects that need cert-manager's CRDs, which this API server does not have: checked structurally instead.
CERT_MANAGER_GROUP = "cert-manager.io/"
# What the tests apply for real: identities, permissions and admission policies (never the webhooks: a Fail-closed
# webhook without a server behind it would break every other test's SeccompProfile writes).
REAL_KINDS = (
    "ServiceAccount",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
)

Doc = dict[str, Any]


# --------------------------------------------------------------------------------------------------------------
# Rendering


def load_docs(text: str) -> list[Doc]:
    return [d for d in yaml.safe_load_all(text) if d]


def dump_docs(docs: list[Doc]) -> str:
    return yaml.safe_dump_all(docs, sort_keys=False)


def find(docs: list[Doc], kind: str, name: str) -> Doc:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected exactly one {kind}/{name}, found {len(matches)}"
    return matches[0]


def keys(docs: list[Doc]) -> set[tuple[str, str]]:
    return {(d["kind"], d["metadata"]["name"]) for d in docs}


def kustomize(cp: ControlPlane, tmp_path: Path, *components: str) -> list[Doc]:
    """`kubectl kustomize` of the base, or of an overlay that adds the given components (as a user would write it:
    kustomize accepts directories outside the overlay, but only by relative path)."""
    if not components:
        return load_docs(cp.kubectl("kustomize", str(MANIFESTS)).stdout)
    overlay = tmp_path / ("overlay-" + "-".join(components))
    overlay.mkdir(exist_ok=True)
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(MANIFESTS, overlay)],
        "components": [os.path.relpath(COMPONENTS / c, overlay) for c in components],
    }
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    return load_docs(cp.kubectl("kustomize", str(overlay)).stdout)


@pytest.fixture(scope="session")
def helm() -> str:
    """The helm binary from scripts/helm-binary.sh: $HELM, the cache, or a build from the Go module proxy."""
    script = REPO / "scripts" / "helm-binary.sh"
    result = subprocess.run([str(script)], stdout=subprocess.PIPE, text=True, check=False, timeout=1200)
    if result.returncode != 0:
        message = f"{script} failed (exit {result.returncode}); see its output above"
        if _in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return result.stdout.strip().splitlines()[-1]


def helm_template(helm: str, *values: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    argv = [helm, "template", "seccomp-operator", str(CHART), f"--namespace={NS}", "--include-crds"]
    argv += [f"--kube-version={K8S_VERSION}"]
    for value in values:
        argv += ["--set", value]
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"helm template failed:\n{result.stderr}")
    return result


def helm_render(helm: str, *values: str) -> list[Doc]:
    return load_docs(helm_template(helm, *values).stdout)


def dry_run(cp: ControlPlane, docs: list[Doc]) -> None:
    """Server-side apply with --dry-run=server: schema, defaulting, validation and admission, nothing stored."""
    applicable = [d for d in docs if not d["apiVersion"].startswith(CERT_MANAGER_GROUP)]
    result = cp.kubectl("apply", "--server-side", "--dry-run=server", "--filename=-", input=dump_docs(applicable))
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == len(applicable), result.stdout
    assert all(line.endswith("serverside-applied (server dry run)") for line in lines), result.stdout
    # Deprecations, unknown fields and Pod Security warnings would all show up here.
    assert "Warning" not in result.stderr, result.stderr


# --------------------------------------------------------------------------------------------------------------
# Cluster fixtures


@pytest.fixture(scope="module")
def operator_namespace(control_plane: ControlPlane, crds: tuple[str, ...]) -> str:
    # Other tests (the controller's Lease) may have made it already.
    control_plane.kubectl("create", "namespace", NS, check=False)
    control_plane.kubectl("get", "namespace", NS)
    return NS


def _real_objects(docs: list[Doc]) -> list[Doc]:
    return [d for d in docs if d["kind"] in REAL_KINDS]


def impersonating(cp: ControlPlane, user: str, node: str | None = None, *, extra_nodes: tuple[str, ...] = ()) -> Path:
    nodes = ([node] if node else []) + list(extra_nodes)
    return cp.kubeconfig_for_impersonation(
        user,
        groups=SA_GROUPS,
        extra={NODE_NAME_EXTRA: nodes} if nodes else None,
        name=f"{user.rsplit(':', 1)[-1]}-{'-'.join(nodes) or 'no-node'}",
    )


def report_manifest(name: str) -> str:
    return json.dumps(
        {
            "apiVersion": "seccomp-operator.io/v1alpha1",
            "kind": "NodeProfileReport",
            "metadata": {"name": name},
            "status": {"nodeName": name},
        }
    )


def _policy_effective(cp: ControlPlane, probe: list[str], message: str, input: str | None = None) -> bool:
    result = cp.kubectl(*probe, check=False, input=input)
    return result.returncode != 0 and message in result.stderr


@pytest.fixture(scope="module")
def base_rbac(
    control_plane: ControlPlane, operator_namespace: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """Applies the base's service accounts, RBAC and the report policy for real; removes them at the end."""
    docs = _real_objects(kustomize(control_plane, tmp_path_factory.mktemp("base")))
    manifest = dump_docs(docs)
    control_plane.kubectl("apply", "--server-side", "--filename=-", input=manifest)
    # RBAC and admission policies reach the API server's caches through informers: wait until each one bites.
    wait_until(
        lambda: can_i(control_plane, AGENT_USER, "list", "publishedseccompprofiles", "-A"),
        timeout=60,
        what="the agent's RBAC",
    )
    wait_until(
        lambda: can_i(control_plane, CONTROLLER_USER, "list", "pods", "-A"), timeout=60, what="the controller's RBAC"
    )
    wait_until(
        lambda: can_i(control_plane, CONTROLLER_USER, "create", "leases", "-n", NS), timeout=60, what="the Lease Role"
    )
    agent_a = impersonating(control_plane, AGENT_USER, "probe-a")
    wait_until(
        lambda: _policy_effective(
            control_plane,
            [f"--kubeconfig={agent_a}", "create", "--dry-run=server", "--filename=-"],
            "may write only NodeProfileReport probe-a, not probe-b",
            input=report_manifest("probe-b"),
        ),
        timeout=60,
        what="the report policy to be enforced",
    )
    yield
    control_plane.kubectl("delete", "--ignore-not-found", "--wait=false", "--filename=-", input=manifest)


@pytest.fixture
def readiness_gate(control_plane: ControlPlane, base_rbac: None, tmp_path: Path) -> Iterator[None]:
    """The readiness-gate component's RBAC and node policy, applied for real for one test and removed after it (so
    the base's "the agent cannot touch Nodes" holds for every other test, whatever the order)."""
    gate = _real_objects(kustomize(control_plane, tmp_path, "readiness-gate"))
    base = keys(_real_objects(kustomize(control_plane, tmp_path)))
    manifest = dump_docs([d for d in gate if (d["kind"], d["metadata"]["name"]) not in base])
    control_plane.kubectl("apply", "--server-side", "--filename=-", input=manifest)
    # A patch of a Node that does not exist ends in 404 before admission: the probe needs a real Node.
    probe = unique("deploy-probe")
    control_plane.kubectl("create", "--filename=-", input=json.dumps(node_manifest(probe)))
    agent_a = impersonating(control_plane, AGENT_USER, "probe-a")
    try:
        wait_until(
            lambda: _policy_effective(
                control_plane,
                [f"--kubeconfig={agent_a}", "patch", "node", probe, "--dry-run=server", "--type=merge", "-p={}"],
                f"may change only Node probe-a, not {probe}",
            ),
            timeout=60,
            what="the node policy to be enforced",
        )
        yield
    finally:
        control_plane.kubectl("delete", "node", probe, "--ignore-not-found", "--wait=false")
        control_plane.kubectl("delete", "--ignore-not-found", "--filename=-", input=manifest)
        wait_until(
            lambda: can_i(control_plane, AGENT_USER, "get", "nodes") is False,
            timeout=60,
            what="the readiness-gate RBAC to be gone",
        )


@pytest.fixture
def probe_nodes(control_plane: ControlPlane) -> Iterator[list[str]]:
    """Names of the Nodes a test creates; deleted afterwards with their reports, so that no other test's controller
    ever counts them as targeted nodes."""
    created: list[str] = []
    yield created
    for node in created:
        control_plane.kubectl("delete", "node", node, "--ignore-not-found", "--wait=false")
        control_plane.kubectl("delete", "nodeprofilereport", node, "--ignore-not-found", "--wait=false")


def node_manifest(name: str, taints: list[dict[str, str]] | None = None) -> Doc:
    body: Doc = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}}
    body["metadata"]["labels"] = {"kubernetes.io/hostname": name}
    if taints:
        body["spec"] = {"taints": taints}
    return body


def create_node(cp: ControlPlane, name: str, nodes: list[str], taints: list[dict[str, str]] | None = None) -> None:
    nodes.append(name)
    cp.kubectl("create", "--filename=-", input=json.dumps(node_manifest(name, taints)))


def taints_of(cp: ControlPlane, node: str) -> list[dict[str, Any]]:
    obj = json.loads(cp.kubectl("get", "node", node, "-o", "json").stdout)
    return list((obj.get("spec") or {}).get("taints") or [])


def can_i(cp: ControlPlane, user: str, verb: str, resource: str, *flags: str) -> bool:
    groups = [f"--as-group={g}" for g in SA_GROUPS]
    result = cp.kubectl("auth", "can-i", verb, resource, *flags, f"--as={user}", *groups, check=False)
    answer = result.stdout.strip()
    assert answer in ("yes", "no"), f"can-i {verb} {resource} {flags}: {result.stdout!r} {result.stderr!r}"
    return answer == "yes"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


# --------------------------------------------------------------------------------------------------------------
# Copies of the CRDs


@pytest.mark.parametrize("copy_dir", [MANIFESTS / "crds", CHART / "crds"], ids=["manifests", "chart"])
def test_crd_copies_are_identical_to_crds(copy_dir: Path) -> None:
    """kustomize refuses files outside its directory and Helm installs CRDs only from the chart's crds/, hence
    copies. Refresh them with: cp crds/*.yaml manifests/crds/ && cp crds/*.yaml charts/seccomp-operator/crds/"""
    originals = sorted(p.name for p in CRD_DIR.glob("*.yaml"))
    assert sorted(p.name for p in copy_dir.glob("*.yaml")) == originals
    for name in originals:
        assert (copy_dir / name).read_bytes() == (CRD_DIR / name).read_bytes(), (
            f"{copy_dir / name} differs from crds/{name}; run: cp crds/*.yaml {copy_dir.relative_to(REPO)}/"
        )


# --------------------------------------------------------------------------------------------------------------
# kustomize


BASE_OBJECTS = {
    ("Namespace", NS),
    *(("CustomResourceDefinition", name) for name in CRD_NAMES),
    ("ServiceAccount", CONTROLLER_SA),
    ("ClusterRole", CONTROLLER_SA),
    ("ClusterRoleBinding", CONTROLLER_SA),
    ("Role", "seccomp-operator-controller-leader-election"),
    ("RoleBinding", "seccomp-operator-controller-leader-election"),
    ("ServiceAccount", AGENT_SA),
    ("ClusterRole", AGENT_SA),
    ("ClusterRoleBinding", AGENT_SA),
    ("Deployment", "seccomp-operator-controller"),
    ("Service", "seccomp-operator-webhook"),
    ("Service", "seccomp-operator-controller-metrics"),
    ("PodDisruptionBudget", "seccomp-operator-controller"),
    ("DaemonSet", "seccomp-operator-agent"),
    ("Service", "seccomp-operator-agent-metrics"),
    ("ValidatingWebhookConfiguration", "seccomp-operator"),
    ("ValidatingAdmissionPolicy", "seccomp-operator-agent-own-report"),
    ("ValidatingAdmissionPolicyBinding", "seccomp-operator-agent-own-report"),
}
READINESS_GATE_OBJECTS = {
    ("ClusterRole", "seccomp-operator-agent-readiness-gate"),
    ("ClusterRoleBinding", "seccomp-operator-agent-readiness-gate"),
    ("ValidatingAdmissionPolicy", "seccomp-operator-agent-node-taint"),
    ("ValidatingAdmissionPolicyBinding", "seccomp-operator-agent-node-taint"),
}
CERT_MANAGER_OBJECTS = {("Issuer", "seccomp-operator-selfsigned"), ("Certificate", "seccomp-operator-webhook")}
CLUSTER_SCOPED = {
    "Namespace",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
    "ValidatingWebhookConfiguration",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
}


def test_kustomize_base_applies(control_plane: ControlPlane, operator_namespace: str, tmp_path: Path) -> None:
    docs = kustomize(control_plane, tmp_path)
    assert keys(docs) == BASE_OBJECTS
    for doc in docs:
        if doc["kind"] not in CLUSTER_SCOPED:
            assert doc["metadata"]["namespace"] == NS, (doc["kind"], doc["metadata"]["name"])
    workloads = [d for d in docs if d["kind"] in ("Deployment", "DaemonSet")]
    assert {c["image"] for d in workloads for c in d["spec"]["template"]["spec"]["containers"]} == {IMAGE}
    # Without components/readiness-gate the agent neither removes the taint nor may touch Nodes.
    daemonset = find(docs, "DaemonSet", "seccomp-operator-agent")
    assert "--remove-readiness-taint" not in daemonset["spec"]["template"]["spec"]["containers"][0]["args"]
    webhooks = find(docs, "ValidatingWebhookConfiguration", "seccomp-operator")
    assert "cert-manager.io/inject-ca-from" not in (webhooks["metadata"].get("annotations") or {})
    dry_run(control_plane, docs)


@pytest.mark.parametrize(
    "components",
    [("readiness-gate",), ("cert-manager",), ("cert-manager", "readiness-gate")],
    ids="+".join,
)
def test_kustomize_components_apply(
    control_plane: ControlPlane, operator_namespace: str, tmp_path: Path, components: tuple[str, ...]
) -> None:
    docs = kustomize(control_plane, tmp_path, *components)
    expected = set(BASE_OBJECTS)
    if "readiness-gate" in components:
        expected |= READINESS_GATE_OBJECTS
    if "cert-manager" in components:
        expected |= CERT_MANAGER_OBJECTS
    assert keys(docs) == expected
    args = find(docs, "DaemonSet", "seccomp-operator-agent")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert ("--remove-readiness-taint" in args) == ("readiness-gate" in components)
    if "cert-manager" in components:
        check_cert_manager_wiring(docs)
    dry_run(control_plane, docs)


def check_cert_manager_wiring(docs: list[Doc]) -> None:
    """What cert-manager would do cannot run here; what it is told can be checked: the Certificate's secret is the
    one the controller mounts, its names are the webhook Service's, and the CA injector's annotation names it."""
    certificate = find(docs, "Certificate", "seccomp-operator-webhook")
    deployment = find(docs, "Deployment", "seccomp-operator-controller")
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert certificate["spec"]["secretName"] == volumes["webhook-tls"]["secret"]["secretName"]
    service = find(docs, "Service", "seccomp-operator-webhook")
    assert f"{service['metadata']['name']}.{NS}.svc" in certificate["spec"]["dnsNames"]
    issuer_ref = certificate["spec"]["issuerRef"]
    issuer = find(docs, issuer_ref["kind"], issuer_ref["name"])
    assert issuer["spec"] == {"selfSigned": {}}
    assert issuer["metadata"]["namespace"] == certificate["metadata"]["namespace"] == NS
    webhooks = find(docs, "ValidatingWebhookConfiguration", "seccomp-operator")
    assert webhooks["metadata"]["annotations"]["cert-manager.io/inject-ca-from"] == f"{NS}/seccomp-operator-webhook"
    for webhook in webhooks["webhooks"]:
        assert "caBundle" not in webhook["clientConfig"]
        assert webhook["clientConfig"]["service"]["name"] == service["metadata"]["name"]


# --------------------------------------------------------------------------------------------------------------
# What the manifests promise, field by field


def agent_daemonset_checks(docs: list[Doc]) -> None:
    daemonset = find(docs, "DaemonSet", "seccomp-operator-agent")
    spec = daemonset["spec"]
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "10%"}}
    pod = spec["template"]["spec"]
    assert pod["serviceAccountName"] == AGENT_SA
    assert pod.get("automountServiceAccountToken", True) is True  # the node-bound projected token
    assert pod["hostNetwork"] is False
    assert pod["hostPID"] is False
    assert pod["hostIPC"] is False
    assert pod["priorityClassName"] == "system-node-critical"
    assert pod["tolerations"] == [{"operator": "Exists"}]
    assert pod["securityContext"] == {
        "runAsUser": 0,
        "runAsGroup": 0,
        "runAsNonRoot": False,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    # The one volume: the kubelet's seccomp directory, at the same path.
    assert pod["volumes"] == [
        {"name": "kubelet-seccomp", "hostPath": {"path": HOST_SECCOMP, "type": "DirectoryOrCreate"}}
    ]
    [container] = pod["containers"]
    assert "initContainers" not in pod
    assert container["volumeMounts"] == [
        {"name": "kubelet-seccomp", "mountPath": HOST_SECCOMP, "mountPropagation": "None"}
    ]
    context = container["securityContext"]
    assert context["runAsUser"] == 0
    assert context["privileged"] is False
    assert context["allowPrivilegeEscalation"] is False
    assert context["readOnlyRootFilesystem"] is True
    assert context["capabilities"] == {"drop": ["ALL"]}  # and nothing added: see test_agent_needs_no_capability
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    assert set(context) == {
        "runAsUser",
        "runAsNonRoot",
        "privileged",
        "allowPrivilegeEscalation",
        "readOnlyRootFilesystem",
        "capabilities",
        "seccompProfile",
    }
    assert container["env"] == [{"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}]
    assert container["args"][:2] == ["agent", f"--root={HOST_SECCOMP}"]
    assert "--health-addr=0.0.0.0:8081" in container["args"]
    assert container["resources"] == {
        "requests": {"cpu": "10m", "memory": "32Mi"},
        "limits": {"cpu": "200m", "memory": "64Mi"},
    }
    assert container["ports"] == [{"name": "metrics", "containerPort": 8081, "protocol": "TCP"}]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}


def controller_deployment_checks(docs: list[Doc]) -> None:
    deployment = find(docs, "Deployment", "seccomp-operator-controller")
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    pod = spec["template"]["spec"]
    assert pod["serviceAccountName"] == CONTROLLER_SA
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    anti = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert anti[0]["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert anti[0]["podAffinityTerm"]["labelSelector"]["matchLabels"] == spec["selector"]["matchLabels"]
    [container] = pod["containers"]
    context = container["securityContext"]
    assert context["allowPrivilegeEscalation"] is False
    assert context["readOnlyRootFilesystem"] is True
    assert context["privileged"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"metrics": 8080, "webhook": 9443}
    args = container["args"]
    assert args[0] == "controller"
    assert "--manage-webhook-config" not in " ".join(args)  # the manifests own the webhook configuration
    [cert_dir] = [m["mountPath"] for m in container["volumeMounts"] if m["name"] == "webhook-tls"]
    assert f"--webhook-cert={cert_dir}/tls.crt" in args
    assert f"--webhook-key={cert_dir}/tls.key" in args
    pdb = find(docs, "PodDisruptionBudget", "seccomp-operator-controller")
    assert pdb["spec"] == {"minAvailable": 1, "selector": spec["selector"]}
    for name in ("seccomp-operator-webhook", "seccomp-operator-controller-metrics"):
        assert find(docs, "Service", name)["spec"]["selector"] == spec["selector"]["matchLabels"]


def _kopf_webhook_handlers() -> dict[str, dict[str, Any]]:
    """The webhook handlers declared in seccomp_operator/controller/operator.py, read with ast (no kopf import):
    {handler id: {group, plural, operations, ignore_failures}}."""
    from seccomp_operator import api

    def value(node: ast.expr) -> Any:
        return getattr(api, node.id) if isinstance(node, ast.Name) else ast.literal_eval(node)

    tree = ast.parse((REPO / "seccomp_operator" / "controller" / "operator.py").read_text())
    handlers: dict[str, dict[str, Any]] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        if node.func.attr != "validate" or ast.unparse(node.func.value) != "kopf.on":
            continue
        kwargs = {k.arg: value(k.value) for k in node.keywords if k.arg in ("id", "operations", "ignore_failures")}
        args = [value(a) for a in node.args]
        group = args[0] if len(args) == 3 else ""  # kopf.on.validate("v1", "pods") is the core group
        handlers[kwargs.pop("id")] = {"group": group, "plural": args[-1], **kwargs}
    return handlers


def webhook_checks(docs: list[Doc]) -> None:
    """Each webhook calls the path kopf serves its handler at (`/<handler id>`), for the same resource and
    operations, failing closed exactly when the handler is not marked ignore_failures."""
    handlers = _kopf_webhook_handlers()
    config = find(docs, "ValidatingWebhookConfiguration", "seccomp-operator")
    service = find(docs, "Service", "seccomp-operator-webhook")
    assert len(config["webhooks"]) == len(handlers) == 2
    for webhook in config["webhooks"]:
        ref = webhook["clientConfig"]["service"]
        assert (ref["name"], ref["namespace"], ref["port"]) == (service["metadata"]["name"], NS, 443)
        handler = handlers[ref["path"].lstrip("/")]
        [rule] = webhook["rules"]
        assert rule["apiGroups"] == [handler["group"]]
        assert rule["resources"] == [handler["plural"]]
        assert rule["operations"] == handler["operations"]
        expected_policy = "Ignore" if handler.get("ignore_failures") else "Fail"
        assert webhook["failurePolicy"] == expected_policy
        assert webhook["sideEffects"] == "None"
        assert webhook["admissionReviewVersions"] == ["v1"]
    assert service["spec"]["ports"] == [{"name": "webhook", "port": 443, "targetPort": "webhook", "protocol": "TCP"}]


def test_kustomize_manifests_hold_their_promises(control_plane: ControlPlane, tmp_path: Path) -> None:
    docs = kustomize(control_plane, tmp_path)
    agent_daemonset_checks(docs)
    controller_deployment_checks(docs)
    webhook_checks(docs)


# --------------------------------------------------------------------------------------------------------------
# Helm


def _normalised(docs: list[Doc]) -> dict[tuple[str, str], Doc]:
    """Objects keyed by kind and name, without the labels Helm adds (selectors are kept and so compared)."""
    result = {}
    for original in docs:
        doc = copy.deepcopy(original)
        doc["metadata"].pop("labels", None)
        template = (doc.get("spec") or {}).get("template")
        if isinstance(template, dict):
            template.get("metadata", {}).pop("labels", None)
        result[(doc["kind"], doc["metadata"]["name"])] = doc
    return result


@pytest.mark.timeout(1500)  # the first use may build helm (a few minutes on 2 cores)
@pytest.mark.parametrize(
    ("values", "components"),
    [
        ((), ("cert-manager",)),
        (("readinessGate.enabled=true",), ("cert-manager", "readiness-gate")),
    ],
    ids=["defaults", "readiness-gate"],
)
def test_helm_chart_renders_what_kustomize_renders(
    control_plane: ControlPlane,
    operator_namespace: str,
    helm: str,
    tmp_path: Path,
    values: tuple[str, ...],
    components: tuple[str, ...],
) -> None:
    chart = helm_render(helm, *values)
    base = kustomize(control_plane, tmp_path, *components)
    ours = _normalised(chart)
    theirs = _normalised([d for d in base if d["kind"] != "Namespace"])  # Helm: --create-namespace
    assert set(ours) == set(theirs)
    for key, obj in theirs.items():
        assert ours[key] == obj, f"{key[0]}/{key[1]} differs between the chart and manifests/"
    agent_daemonset_checks(chart)
    controller_deployment_checks(chart)
    webhook_checks(chart)
    dry_run(control_plane, chart)


@pytest.mark.timeout(1500)
def test_helm_chart_without_cert_manager(control_plane: ControlPlane, operator_namespace: str, helm: str) -> None:
    ca_bundle = base64.b64encode(control_plane.ca_path.read_bytes()).decode()
    docs = helm_render(
        helm,
        "webhook.certManager.enabled=false",
        f"webhook.caBundle={ca_bundle}",
        "webhook.secretName=my-webhook-tls",
        "image.repository=registry.example.com/seccomp-operator",
        "image.digest=sha256:" + "ab" * 32,
        "agent.nodeSelector.kubernetes\\.io/os=linux",
    )
    assert not {k for k in keys(docs) if k[0] in ("Issuer", "Certificate")}
    webhooks = find(docs, "ValidatingWebhookConfiguration", "seccomp-operator")
    assert "annotations" not in webhooks["metadata"]
    assert all(w["clientConfig"]["caBundle"] == ca_bundle for w in webhooks["webhooks"])
    deployment = find(docs, "Deployment", "seccomp-operator-controller")
    assert deployment["spec"]["template"]["spec"]["volumes"][0]["secret"]["secretName"] == "my-webhook-tls"
    daemonset = find(docs, "DaemonSet", "seccomp-operator-agent")
    pod = daemonset["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert pod["containers"][0]["image"] == "registry.example.com/seccomp-operator@sha256:" + "ab" * 32
    agent_daemonset_checks(docs)
    dry_run(control_plane, docs)


@pytest.mark.timeout(1500)
def test_helm_chart_lints(helm: str) -> None:
    result = subprocess.run([helm, "lint", "--strict", str(CHART)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.timeout(1500)
@pytest.mark.parametrize(
    ("values", "message"),
    [
        (("webhook.certManager.enabled=false",), "webhook.caBundle is required"),
        (("replicas=2",), "additional properties 'replicas' not allowed"),
        (("image.digest=latest",), "/image/digest"),
        (("agent.maxUnavailable=ten",), "/agent/maxUnavailable"),
    ],
    ids=["no-ca-bundle", "unknown-key", "bad-digest", "bad-max-unavailable"],
)
def test_helm_chart_refuses_bad_values(helm: str, values: tuple[str, ...], message: str) -> None:
    result = helm_template(helm, *values, check=False)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr


# --------------------------------------------------------------------------------------------------------------
# Least privilege: kubectl auth can-i per service account


AGENT_CAN = [
    ("list", "publishedseccompprofiles", "-A"),
    ("watch", "publishedseccompprofiles", "-A"),
    ("list", "nodes"),
    ("watch", "nodes"),
    ("get", "nodeprofilereports"),
    ("create", "nodeprofilereports"),
    ("patch", "nodeprofilereports"),
]
AGENT_CANNOT = [
    ("get", "seccompprofiles", "-A"),
    ("list", "seccompprofiles", "-A"),
    ("update", "seccompprofiles", "-A"),
    ("patch", "seccompprofiles", "-A"),
    ("patch", "seccompprofiles", "-A", "--subresource=status"),
    ("create", "publishedseccompprofiles", "-A"),
    ("patch", "publishedseccompprofiles", "-A"),
    ("delete", "publishedseccompprofiles", "-A"),
    ("update", "nodeprofilereports"),
    ("delete", "nodeprofilereports"),
    ("list", "nodeprofilereports"),
    ("get", "nodes"),
    ("patch", "nodes"),
    ("update", "nodes"),
    ("patch", "nodes", "--subresource=status"),
    ("delete", "nodes"),
    ("get", "secrets", "-n", NS),
    ("list", "secrets", "-A"),
    ("get", "configmaps", "-n", NS),
    ("list", "pods", "-A"),
    ("create", "pods", "-n", NS),
    ("create", "events", "-n", NS),
    ("create", "leases", "-n", NS),
    ("create", "serviceaccounts/token", "-n", NS),
    ("impersonate", "users"),
    ("create", "validatingadmissionpolicies"),
]
CONTROLLER_CAN = [
    ("list", "seccompprofiles", "-A"),
    ("watch", "seccompprofiles", "-A"),
    ("patch", "seccompprofiles", "-A"),
    ("patch", "seccompprofiles", "-A", "--subresource=status"),
    ("list", "publishedseccompprofiles", "-A"),
    ("watch", "publishedseccompprofiles", "-A"),
    ("create", "publishedseccompprofiles", "-A"),
    ("patch", "publishedseccompprofiles", "-A"),
    ("delete", "publishedseccompprofiles", "-A"),
    ("list", "nodeprofilereports"),
    ("watch", "nodeprofilereports"),
    ("list", "nodes"),
    ("watch", "nodes"),
    ("list", "pods", "-A"),
    ("create", "events", "-n", "some-team"),
    ("create", "leases", "-n", NS),
    ("get", "leases/seccomp-operator-controller", "-n", NS),
    ("update", "leases/seccomp-operator-controller", "-n", NS),
]
CONTROLLER_CANNOT = [
    ("create", "seccompprofiles", "-A"),
    ("update", "seccompprofiles", "-A"),
    ("delete", "seccompprofiles", "-A"),
    ("update", "seccompprofiles", "-A", "--subresource=status"),
    ("update", "publishedseccompprofiles", "-A"),
    ("create", "nodeprofilereports"),
    ("patch", "nodeprofilereports"),
    ("delete", "nodeprofilereports"),
    ("get", "nodes"),
    ("patch", "nodes"),
    ("delete", "nodes"),
    ("get", "pods", "-A"),
    ("watch", "pods", "-A"),
    ("delete", "pods", "-A"),
    ("create", "pods", "-n", NS),
    ("get", "secrets", "-n", NS),
    ("list", "secrets", "-A"),
    ("get", "configmaps", "-n", NS),
    ("delete", "events", "-n", "some-team"),
    ("get", "leases/kube-scheduler", "-n", NS),
    ("update", "leases/other", "-n", NS),
    ("delete", "leases/seccomp-operator-controller", "-n", NS),
    ("create", "leases", "-n", "kube-system"),
    ("create", "validatingwebhookconfigurations"),
    ("patch", "validatingwebhookconfigurations"),
    ("create", "mutatingwebhookconfigurations"),
    ("patch", "validatingadmissionpolicies"),
    ("delete", "validatingadmissionpolicybindings"),
    ("get", "customresourcedefinitions"),
    ("create", "serviceaccounts/token", "-n", NS),
    ("impersonate", "users"),
    ("bind", "clusterroles"),
    ("escalate", "clusterroles"),
]
READINESS_GATE_CAN = [("get", "nodes"), ("patch", "nodes")]
READINESS_GATE_CANNOT = [
    ("update", "nodes"),
    ("delete", "nodes"),
    ("create", "nodes"),
    ("patch", "nodes", "--subresource=status"),
]


def _matrix(cp: ControlPlane, user: str, allowed: list[tuple[str, ...]], denied: list[tuple[str, ...]]) -> None:
    wrong = [("should be allowed", row) for row in allowed if not can_i(cp, user, *row)]
    wrong += [("should be denied", row) for row in denied if can_i(cp, user, *row)]
    assert not wrong, "\n".join(f"{user}: {' '.join(row)}: {why}" for why, row in wrong)


def test_rbac_least_privilege_matrix(control_plane: ControlPlane, base_rbac: None) -> None:
    _matrix(control_plane, AGENT_USER, AGENT_CAN, AGENT_CANNOT)
    _matrix(control_plane, CONTROLLER_USER, CONTROLLER_CAN, CONTROLLER_CANNOT)


def test_rbac_readiness_gate_adds_only_node_get_and_patch(control_plane: ControlPlane, readiness_gate: None) -> None:
    _matrix(control_plane, AGENT_USER, AGENT_CAN + READINESS_GATE_CAN, READINESS_GATE_CANNOT)
    _matrix(control_plane, CONTROLLER_USER, CONTROLLER_CAN, [("get", "nodes"), ("patch", "nodes")])


# --------------------------------------------------------------------------------------------------------------
# "Own node only": the report policy


def test_agent_writes_only_its_own_report_impersonated(control_plane: ControlPlane, base_rbac: None) -> None:
    cp = control_plane
    node_a, node_b = unique("deploy-a"), unique("deploy-b")
    agent_a = impersonating(cp, AGENT_USER, node_a)
    try:
        # Another node's report: refused by the policy, with the policy's message.
        refused = cp.kubectl(f"--kubeconfig={agent_a}", "create", "-f", "-", input=report_manifest(node_b), check=False)
        assert refused.returncode != 0
        assert f"may write only NodeProfileReport {node_a}, not {node_b}" in refused.stderr
        assert "ValidatingAdmissionPolicy 'seccomp-operator-agent-own-report'" in refused.stderr
        # Its own: created and patched (a merge patch, as the agent's ReportWriter sends it).
        cp.kubectl(f"--kubeconfig={agent_a}", "create", "-f", "-", input=report_manifest(node_a))
        patch = json.dumps({"status": {"nodeName": node_a, "installedCount": 0, "failedCount": 0}})
        cp.kubectl(f"--kubeconfig={agent_a}", "patch", "nodeprofilereport", node_a, "--type=merge", f"-p={patch}")
        # Node B's report exists (made by an administrator, whom the policy does not bind): still not A's to patch.
        cp.kubectl("create", "-f", "-", input=report_manifest(node_b))
        patch_b = json.dumps({"status": {"nodeName": node_b, "installedCount": 0}})
        refused = cp.kubectl(
            f"--kubeconfig={agent_a}",
            "patch",
            "nodeprofilereport",
            node_b,
            "--type=merge",
            f"-p={patch_b}",
            check=False,
        )
        assert refused.returncode != 0
        assert f"may write only NodeProfileReport {node_a}, not {node_b}" in refused.stderr
        # Delete is not even granted.
        refused = cp.kubectl(f"--kubeconfig={agent_a}", "delete", "nodeprofilereport", node_a, check=False)
        assert refused.returncode != 0 and "cannot delete resource" in refused.stderr
        # Without the node-name extra (a token not bound to a Pod on a Node), or with two of them: nothing.
        for kubeconfig in (
            impersonating(cp, AGENT_USER),
            impersonating(cp, AGENT_USER, node_a, extra_nodes=(node_b,)),
        ):
            refused = cp.kubectl(
                f"--kubeconfig={kubeconfig}",
                "patch",
                "nodeprofilereport",
                node_a,
                "--type=merge",
                f"-p={patch}",
                check=False,
            )
            assert refused.returncode != 0
            assert "must hold exactly one node name" in refused.stderr
        # The controller may read reports (list, as its watch does), never write them.
        controller = f"--kubeconfig={impersonating(cp, CONTROLLER_USER)}"
        assert node_a in cp.kubectl(controller, "get", "nodeprofilereports", "--output=name").stdout
        refused = cp.kubectl(controller, "create", "-f", "-", input=report_manifest(unique("deploy-c")), check=False)
        assert refused.returncode != 0 and "cannot create resource" in refused.stderr
    finally:
        cp.kubectl("delete", "nodeprofilereport", node_a, node_b, "--ignore-not-found", "--wait=false")


def test_agent_writes_only_its_own_report_with_a_real_node_bound_token(
    control_plane: ControlPlane, base_rbac: None, probe_nodes: list[str]
) -> None:
    """The same with a token the API server issues bound to a Node: proof that the API server itself puts the node
    name into the user extra the policy reads (on a real node the kubelet's Pod-bound token carries it too)."""
    cp = control_plane
    node_a, node_b = unique("deploy-a"), unique("deploy-b")
    create_node(cp, node_a, probe_nodes)
    token = cp.service_account_token(NS, AGENT_SA, bound_node=node_a, duration_seconds=600)
    kubeconfig = cp.kubeconfig_for_token(token, name=f"agent-token-{node_a}")
    who = json.loads(cp.kubectl(f"--kubeconfig={kubeconfig}", "auth", "whoami", "-o", "json").stdout)
    assert who["status"]["userInfo"]["username"] == AGENT_USER
    assert who["status"]["userInfo"]["extra"][NODE_NAME_EXTRA] == [node_a]
    probe_nodes.append(node_b)  # cleans up report node_b should the policy ever let it through
    refused = cp.kubectl(f"--kubeconfig={kubeconfig}", "create", "-f", "-", input=report_manifest(node_b), check=False)
    assert refused.returncode != 0
    assert f"may write only NodeProfileReport {node_a}, not {node_b}" in refused.stderr
    cp.kubectl(f"--kubeconfig={kubeconfig}", "create", "-f", "-", input=report_manifest(node_a))


# --------------------------------------------------------------------------------------------------------------
# The readiness gate


def test_agent_may_only_remove_the_readiness_taint_from_its_own_node(
    control_plane: ControlPlane, readiness_gate: None, probe_nodes: list[str]
) -> None:
    cp = control_plane
    node_a, node_b = unique("deploy-a"), unique("deploy-b")
    ours = {"key": READINESS_TAINT, "effect": "NoSchedule"}
    other = {"key": "example.com/dedicated", "value": "x", "effect": "NoSchedule"}
    create_node(cp, node_a, probe_nodes, [ours, other])
    create_node(cp, node_b, probe_nodes, [ours, other])
    agent_a = f"--kubeconfig={impersonating(cp, AGENT_USER, node_a)}"

    def without_ours(node: str) -> str:
        return json.dumps(
            [
                {
                    "op": "replace",
                    "path": "/spec/taints",
                    "value": [t for t in taints_of(cp, node) if t["key"] != READINESS_TAINT],
                }
            ]
        )

    def refused(*args: str) -> str:
        result = cp.kubectl(agent_a, *args, check=False)
        assert result.returncode != 0, f"{args} was allowed"
        return result.stderr

    assert f"may change only Node {node_a}, not {node_b}" in refused(
        "patch", "node", node_b, "--type=json", f"-p={without_ours(node_b)}"
    )
    kept_only_ours = json.dumps(
        [
            {
                "op": "replace",
                "path": "/spec/taints",
                "value": [t for t in taints_of(cp, node_a) if t["key"] == READINESS_TAINT],
            }
        ]
    )
    assert "may only remove the seccomp-operator.io/not-ready taint" in refused(
        "patch", "node", node_a, "--type=json", f"-p={kept_only_ours}"
    )
    added = json.dumps([{"op": "add", "path": "/spec/taints/-", "value": {"key": "x", "effect": "NoExecute"}}])
    assert "may only remove the seccomp-operator.io/not-ready taint" in refused(
        "patch", "node", node_a, "--type=json", f"-p={added}"
    )
    assert "may change only spec.taints" in refused("label", "node", node_a, "pool=secure")
    assert "may change only spec.taints" in refused(
        "patch", "node", node_a, "--type=merge", '-p={"spec":{"unschedulable":true}}'
    )
    assert "cannot delete resource" in refused("delete", "node", node_a)
    # What the agent really sends: a JSON patch guarded by the resourceVersion it read.
    node = json.loads(cp.kubectl("get", "node", node_a, "-o", "json").stdout)
    patch = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": node["metadata"]["resourceVersion"]},
        *json.loads(without_ours(node_a)),
    ]
    cp.kubectl(agent_a, "patch", "node", node_a, "--type=json", f"-p={json.dumps(patch)}")
    remaining = taints_of(cp, node_a)
    assert READINESS_TAINT not in {t["key"] for t in remaining}
    assert other in remaining
    assert READINESS_TAINT in {t["key"] for t in taints_of(cp, node_b)}


def test_agent_removes_the_readiness_taint_with_its_own_token(
    control_plane: ControlPlane, readiness_gate: None, probe_nodes: list[str], namespace: str, tmp_path: Path
) -> None:
    """The real NodeAgent, authenticated only by a token bound to its Node: it lists the published revisions,
    installs the one aimed at its node, writes its own report and removes the taint, all through the RBAC and the
    admission policies above."""
    from seccomp_operator.agent.agent import AgentSettings
    from seccomp_operator.testing.simulation import Simulation

    cp = control_plane
    node = unique("deploy-gate")
    other = {"key": "example.com/dedicated", "value": "x", "effect": "NoSchedule"}
    create_node(cp, node, probe_nodes, [{"key": READINESS_TAINT, "effect": "NoSchedule"}, other])
    content = '{"defaultAction":"SCMP_ACT_ALLOW"}\n'
    digest = hashlib.sha256(content.encode()).hexdigest()
    published = {
        "apiVersion": "seccomp-operator.io/v1alpha1",
        "kind": "PublishedSeccompProfile",
        "metadata": {"name": "gate", "namespace": namespace},
        "spec": {
            "localhostProfile": f"seccomp-operator/{namespace}/gate.json",
            "hash": digest,
            "content": content,
            # Only this test's node: agents of other tests never install it.
            "nodeSelector": {"kubernetes.io/hostname": node},
            "sourceGeneration": 1,
        },
    }
    cp.kubectl("create", "--filename=-", input=json.dumps(published))
    token = cp.service_account_token(NS, AGENT_SA, bound_node=node, duration_seconds=600)
    kubeconfig = cp.kubeconfig_for_token(token, name=f"agent-{node}")

    def reported() -> bool:
        result = cp.kubectl("get", "nodeprofilereport", node, "-o", "json", check=False)
        if result.returncode != 0:
            return False
        entry = (json.loads(result.stdout)["status"].get("profiles") or {}).get(f"{namespace}/gate") or {}
        return entry.get("state") == "Installed" and entry.get("hash") == digest

    try:
        with Simulation(kubeconfig, tmp_path, agent_settings=AgentSettings(remove_readiness_taint=True)) as sim:
            agent = sim.start_agent(node)
            wait_until(
                lambda: READINESS_TAINT not in {t["key"] for t in taints_of(cp, node)},
                timeout=60,
                what=f"the taint to leave {node}",
            )
            assert agent.ready.is_set()
            wait_until(reported, timeout=60, what=f"{node}'s own report")
            assert (sim.root_of(node) / "seccomp-operator" / namespace / "gate.json").read_text() == content
    finally:
        cp.kubectl("delete", "publishedseccompprofile", "gate", "-n", namespace, "--ignore-not-found")
    assert other in taints_of(cp, node)


# --------------------------------------------------------------------------------------------------------------
# The controller with nothing but its own RBAC


@pytest.fixture
def isolated_control_plane(binaries_dir: Path) -> Iterator[ControlPlane]:
    """A control plane of its own: the controller reconciles every SeccompProfile in the cluster, and the shared
    one holds other tests' profiles."""
    with ControlPlane(binaries_dir=binaries_dir) as cp:
        yield cp


@pytest.mark.timeout(240)
def test_controller_works_with_only_its_rbac(
    isolated_control_plane: ControlPlane, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Runs the real controller (kopf watches, leader election, publishing, status, events, deletion with the
    Pod check) authenticated by its service-account token; any 403 would show up as a warning or a stuck phase."""
    from seccomp_operator.controller.operator import Controller
    from seccomp_operator.kube import load_config

    cp = isolated_control_plane
    cp.kubectl("apply", "--server-side", f"--filename={CRD_DIR}")
    for name in CRD_NAMES:
        wait_until(
            lambda name=name: cp.kubectl("get", "crd", name, "-o", "jsonpath={.status.acceptedNames.kind}").stdout,
            timeout=60,
            what=f"{name} served",
        )
    wait_until(lambda: cp.get("/apis/seccomp-operator.io/v1alpha1")[0] == 200, timeout=60, what="discovery")
    cp.kubectl("create", "namespace", NS)
    cp.kubectl("apply", "--server-side", "--filename=-", input=dump_docs(_real_objects(kustomize(cp, tmp_path))))
    token = cp.service_account_token(NS, CONTROLLER_SA, duration_seconds=600)
    kubeconfig = cp.kubeconfig_for_token(token, name="controller")
    cp.kubectl("create", "namespace", "team")
    create_node(cp, "deploy-controller-node", [])

    caplog.set_level(logging.WARNING)
    stop = threading.Event()
    controller = Controller(
        load_config(str(kubeconfig)), namespace=NS, identity="test-controller", lease_seconds=4, renew_seconds=1.0
    )
    thread = threading.Thread(target=lambda: asyncio.run(controller.run(stop)), name="controller", daemon=True)
    thread.start()
    try:
        wait_until(controller.ready.is_set, timeout=60, what="the controller to start")
        profile = {
            "apiVersion": "seccomp-operator.io/v1alpha1",
            "kind": "SeccompProfile",
            "metadata": {"name": "web", "namespace": "team"},
            "spec": {
                "defaultAction": "SCMP_ACT_ERRNO",
                "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"}],
            },
        }
        cp.kubectl("apply", "--filename=-", input=json.dumps(profile))

        def status() -> dict[str, Any]:
            obj = json.loads(cp.kubectl("get", "seccompprofile", "web", "-n", "team", "-o", "json").stdout)
            return dict(obj.get("status") or {})

        # Published (server-side apply), then status written (status subresource) with the published hash.
        def published_hash() -> str:
            result = cp.kubectl("get", "publishedseccompprofile", "web", "-n", "team", "-o", "json", check=False)
            return str(json.loads(result.stdout)["spec"]["hash"]) if result.returncode == 0 else ""

        wait_until(published_hash, timeout=60, what="the revision to be published")
        wait_until(
            lambda: status().get("hash") == published_hash(), timeout=60, what="status to carry the published hash"
        )
        # The Node watch works too: the one Node is counted as targeted.
        wait_until(
            lambda: (status().get("summary") or {}).get("targeted") == 1, timeout=60, what="the node to be targeted"
        )
        lease = json.loads(cp.kubectl("get", "lease", CONTROLLER_SA, "-n", NS, "-o", "json").stdout)
        assert lease["spec"]["holderIdentity"] == "test-controller"

        def events() -> str:
            return cp.kubectl("get", "events", "-n", "team", "-o", "name").stdout.strip()

        wait_until(events, timeout=60, what="an Event")
        # Deletion: the Pod check (cluster-wide LIST), removal of the published revision and of the finalizer.
        cp.kubectl("delete", "seccompprofile", "web", "-n", "team", "--wait=false")
        wait_until(
            lambda: cp.kubectl("get", "seccompprofile", "web", "-n", "team", check=False).returncode != 0,
            timeout=60,
            what="the profile to be gone",
        )
        assert cp.kubectl("get", "publishedseccompprofile", "web", "-n", "team", check=False).returncode != 0
    finally:
        stop.set()
        thread.join(timeout=60)
    forbidden = [r.getMessage() for r in caplog.records if "403" in r.getMessage() or "orbidden" in r.getMessage()]
    assert not forbidden, forbidden


# --------------------------------------------------------------------------------------------------------------
# The agent's capability set


NO_CAPS_SCRIPT = r"""
import os, stat, sys, time
status = dict(line.split(":\t", 1) for line in open("/proc/self/status").read().splitlines() if ":\t" in line)
for field in ("CapPrm", "CapEff", "CapBnd", "CapAmb"):
    assert int(status[field], 16) == 0, (field, status[field])
assert os.geteuid() == 0
from seccomp_operator.agent.drift import DriftWatcher
from seccomp_operator.agent.tree import ProfileTree
root = sys.argv[1]
seen = []
watcher = DriftWatcher(root, os.path.join(root, "seccomp-operator"), seen.append)
watcher.start()
tree = ProfileTree(root)
tree.write("team", "web", b'{"defaultAction":"SCMP_ACT_ERRNO"}\n')
tree.write("team", "web", b'{"defaultAction":"SCMP_ACT_LOG"}\n')  # replace: rename over the old file
tree.write("other", "db", b"{}\n")
state = tree.read("team", "web")
assert state.intact, state
# A loose directory mode is put back (fchmod of a directory we own: no CAP_FOWNER needed).
os.chmod(os.path.join(root, "seccomp-operator", "other"), 0o777)
tree.write("other", "db", b"{}\n")
assert stat.S_IMODE(os.stat(os.path.join(root, "seccomp-operator", "other")).st_mode) == 0o755
assert set(tree.scan()) == {("team", "web"), ("other", "db")}
assert tree.remove("other", "db")
assert set(tree.scan()) == {("team", "web")}
deadline = time.monotonic() + 10
while not seen and time.monotonic() < deadline:
    time.sleep(0.05)
watcher.stop()
assert seen, "inotify saw nothing"
# The capabilities really are gone: changing a file's owner needs CAP_CHOWN.
try:
    os.chown(tree.path_of("team", "web"), 1000, 1000)
except PermissionError:
    print("ok")
else:
    raise AssertionError("chown succeeded: capabilities were not dropped")
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: the agent runs as uid 0")
@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux)")
def test_agent_needs_no_capability(tmp_path: Path) -> None:
    """Why the DaemonSet adds no capability back after dropping ALL: as uid 0 with an empty capability set (what the
    container runtime gives a container with `drop: [ALL]`), the agent's whole file protocol and its inotify watch
    work in a root-owned 0755 directory like /var/lib/kubelet/seccomp, because uid 0 owns everything there."""
    root = tmp_path / "var-lib-kubelet-seccomp"
    root.mkdir(mode=0o755)
    os.chmod(root, 0o755)
    assert root.stat().st_uid == 0
    argv = [
        "setpriv",
        "--bounding-set=-all",
        "--inh-caps=-all",
        "--ambient-caps=-all",
        "--no-new-privs",
        sys.executable,
        "-c",
        NO_CAPS_SCRIPT,
        str(root),
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


# --------------------------------------------------------------------------------------------------------------
# The Dockerfile (no container engine runs here, so its structure is what can be checked)


def dockerfile_stages() -> list[dict[str, Any]]:
    """[{name, base, instructions: [(INSTRUCTION, args)]}], with line continuations joined and comments dropped;
    instructions before the first FROM (global ARGs) land in a stage named None."""
    text = (REPO / "Dockerfile").read_text()
    logical: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    stages: list[dict[str, Any]] = [{"name": None, "base": None, "instructions": []}]
    for line in logical:
        instruction, _, args = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            parts = args.split()
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            stages.append({"name": name, "base": parts[0], "instructions": []})
        else:
            stages[-1]["instructions"].append((instruction, args.strip()))
    return stages


def test_dockerfile_structure() -> None:
    stages = dockerfile_stages()
    globals_, build, final = stages[0], stages[1], stages[-1]
    assert len(stages) == 3, "a build stage and a runtime stage"
    args = dict(a.split("=", 1) for i, a in globals_["instructions"] if i == "ARG")
    base = args["PYTHON_IMAGE"]
    # Pinned: an exact patch release of the slim bookworm image (optionally with a digest), never a floating tag.
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", base), base
    assert build["base"] == final["base"] == "${PYTHON_IMAGE}"
    assert build["name"] == "build"
    runs = lambda stage: " ".join(a for i, a in stage["instructions"] if i == "RUN")  # noqa: E731
    assert "pip wheel" in runs(build)
    # Everything the build copies exists and gets through .dockerignore.
    ignore = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()]
    ignore = [line for line in ignore if line and not line.startswith("#")]
    assert ignore[0] == "*", ".dockerignore starts by excluding everything"
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    for instruction, value in build["instructions"]:
        if instruction == "COPY":
            *sources, _dest = value.split()
            for source in sources:
                assert source.rstrip("/") in allowed, f"{source} is excluded by .dockerignore"
                assert (REPO / source).exists(), f"COPY {source}: not in the repository"
    assert {"pyproject.toml", "seccomp_operator"} <= allowed
    # The runtime stage: libseccomp only, no toolchain, wheels only from the build stage, non-root, exec form.
    final_runs = runs(final)
    assert not re.search(r"\b(gcc|g\+\+|cc|clang|make|build-essential|[a-z0-9.+-]+-dev)\b", final_runs), final_runs
    installs = re.findall(r"apt-get install ([^&;]+)", final_runs)
    assert len(installs) == 1
    packages = [w for w in installs[0].split() if not w.startswith("-")]
    assert packages == ["libseccomp2"]
    assert "--no-install-recommends" in installs[0]
    assert "rm -rf /var/lib/apt/lists/*" in final_runs
    assert "--no-index" in final_runs and "from=build" in final_runs
    assert not any(i == "ADD" for stage in stages for i, _ in stage["instructions"])
    users = [a for i, a in final["instructions"] if i == "USER"]
    assert users and users[-1].split(":")[0] == "65532"
    [entrypoint] = [a for i, a in final["instructions"] if i == "ENTRYPOINT"]
    assert json.loads(entrypoint) == ["seccomp-operator"]
    # The entry point is the console script pyproject.toml declares.
    pyproject = (REPO / "pyproject.toml").read_text()
    assert re.search(r'^seccomp-operator = "seccomp_operator\.cli:main"$', pyproject, re.MULTILINE)
