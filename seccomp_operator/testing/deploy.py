"""The operator installed into a :class:`~seccomp_operator.testing.cluster.LocalCluster` exactly as
``manifests/README.md`` tells a user to: ``kubectl apply --server-side -k`` of the kustomize base (optionally with
components) or ``helm install`` of the chart, with the webhook certificate made by the README's own shell blocks
(the recipe for clusters without cert-manager), which are extracted from the README and run verbatim.

Usage::

    archive = operator_image_archive()
    with LocalCluster(images=[(archive, None)]) as cluster:
        operator = OperatorInstall(cluster)
        operator.install()                  # returns once the controller Deployment and the DaemonSet are ready
        ...
        operator.uninstall()
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

import yaml

from seccomp_operator.testing.cluster import LocalCluster
from seccomp_operator.testing.controlplane import repo_root

__all__ = [
    "AGENT_DAEMONSET",
    "CONTROLLER_DEPLOYMENT",
    "NAMESPACE",
    "InstallError",
    "OperatorInstall",
    "operator_image_archive",
    "readme_recipe",
]

NAMESPACE = "seccomp-operator"
CONTROLLER_DEPLOYMENT = "seccomp-operator-controller"
AGENT_DAEMONSET = "seccomp-operator-agent"
MANIFESTS_README = "manifests/README.md"


class InstallError(RuntimeError):
    """The operator could not be installed or removed."""


def operator_image_archive() -> Path:
    """The image built from the repository's Dockerfile (``scripts/image.sh``: buildah, no Docker daemon, no
    registry; cached by content), as an OCI archive for ``ctr images import``. ``$SECCOMP_OPERATOR_IMAGE_ARCHIVE``
    names a prebuilt archive instead."""
    given = os.environ.get("SECCOMP_OPERATOR_IMAGE_ARCHIVE")
    if given:
        return Path(given)
    script = repo_root() / "scripts" / "image.sh"
    result = subprocess.run([str(script)], stdout=subprocess.PIPE, text=True, check=False)
    if result.returncode != 0:
        raise InstallError(f"{script} failed with exit code {result.returncode} (see its output above)")
    return Path(result.stdout.strip().splitlines()[-1])


def readme_recipe(name: str, readme: Path | None = None) -> str:
    """The shell block that follows ``<!-- recipe: NAME -->`` in manifests/README.md, with its indentation removed."""
    text = (readme or repo_root() / MANIFESTS_README).read_text()
    match = re.search(rf"<!-- recipe: {re.escape(name)} -->\s*\n(\s*)```sh\n(.*?)\n\s*```", text, re.DOTALL)
    if match is None:
        raise InstallError(f"no shell block marked <!-- recipe: {name} --> in {MANIFESTS_README}")
    indent = match.group(1).split("\n")[-1]
    return "\n".join(line.removeprefix(indent) for line in match.group(2).splitlines()) + "\n"


class OperatorInstall:
    """One installation of the operator into a cluster; see the module docstring.

    Args:
        method: ``kustomize`` (``kubectl apply --server-side -k``) or ``helm``.
        readiness_gate: with kustomize, a kustomization of one's own that adds ``components/readiness-gate`` (as
            the README shows); with Helm, ``--set readinessGate.enabled=true``.
        timeout: deadline for the rollouts.
    """

    def __init__(
        self,
        cluster: LocalCluster,
        *,
        method: Literal["kustomize", "helm"] = "kustomize",
        readiness_gate: bool = False,
        timeout: float = 240.0,
    ) -> None:
        self.cluster = cluster
        self.method = method
        self.readiness_gate = readiness_gate
        self.timeout = timeout
        self.workdir = Path(tempfile.mkdtemp(prefix="install-", dir=cluster.workdir))
        self.install_seconds: float | None = None
        """From the first kubectl/helm command to both rollouts complete."""

    # ---- what a user runs -----------------------------------------------------------------------------------

    def shell(self, script: str, *, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        """Runs a shell script the way a user would in a terminal: bash, ``kubectl`` and ``helm`` on PATH,
        ``KUBECONFIG`` set, in this installation's directory (where the certificate files are made)."""
        env = self.cluster.user_env()
        helm = self._helm()
        if helm is not None:
            env["PATH"] = f"{helm.parent}{os.pathsep}{env['PATH']}"
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=self.workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise InstallError(f"exit code {result.returncode} from:\n{script}\n--- stderr:\n{result.stderr}")
        return result

    def install(self) -> float:
        """Installs and waits for the controller Deployment and the agent DaemonSet; returns the seconds taken."""
        began = time.monotonic()
        if self.method == "kustomize":
            self.shell(f"kubectl apply --server-side -k {self._kustomization()}")
            self.shell(readme_recipe("webhook-certificate"))
            self.shell(readme_recipe("webhook-ca-bundle"))
        else:
            self.shell(readme_recipe("helm-namespace"))
            self.shell(readme_recipe("webhook-certificate"))
            (self.workdir / "charts").symlink_to(repo_root() / "charts")
            recipe = readme_recipe("helm-without-cert-manager")
            if self.readiness_gate:
                recipe = recipe.rstrip() + " --set readinessGate.enabled=true\n"
            self.shell(recipe)
        self.wait_rolled_out()
        self.install_seconds = time.monotonic() - began
        return self.install_seconds

    def wait_rolled_out(self) -> None:
        timeout = f"--timeout={int(self.timeout)}s"
        for kind, name in (("deployment", CONTROLLER_DEPLOYMENT), ("daemonset", AGENT_DAEMONSET)):
            result = self.cluster.kubectl(
                "-n", NAMESPACE, "rollout", "status", f"{kind}/{name}", timeout, check=False, timeout=self.timeout + 30
            )
            if result.returncode != 0:
                raise InstallError(f"{kind}/{name} did not roll out: {result.stderr.strip()}\n{self.describe()}")

    def uninstall(self) -> None:
        """Deletes every SeccompProfile (while the controller runs, so its finalizer is released), then the
        installation, and waits until the namespace is gone."""
        self.cluster.kubectl("delete", "seccompprofiles", "--all", "-A", "--timeout=180s", timeout=200)
        if self.method == "kustomize":
            self.shell(f"kubectl delete -k {self._kustomization()} --ignore-not-found --timeout=180s", timeout=200)
        else:
            self.shell("helm uninstall seccomp-operator -n seccomp-operator --wait --timeout 180s", timeout=200)
            self.shell("kubectl delete namespace seccomp-operator --ignore-not-found --timeout=180s", timeout=200)
            # Helm leaves CRDs installed from crds/ in place (as the README says); remove them like a user would.
            self.shell(f"kubectl delete -f {repo_root() / 'crds'} --ignore-not-found --timeout=120s")

    # ---- looking at it --------------------------------------------------------------------------------------

    def pods(self, component: Literal["agent", "controller"]) -> list[dict[str, Any]]:
        out = self.cluster.kubectl(
            "-n", NAMESPACE, "get", "pods", "-l", f"app.kubernetes.io/component={component}", "-o", "json"
        ).stdout
        return [p for p in yaml.safe_load(out)["items"] if not p["metadata"].get("deletionTimestamp")]

    def agent_pod(self, node: str) -> dict[str, Any]:
        for pod in self.pods("agent"):
            if pod["spec"].get("nodeName") == node:
                return pod
        raise InstallError(f"no agent Pod on node {node}")

    def describe(self) -> str:
        """Pods, events and the controller's and agents' last log lines: what a user would look at."""
        parts = [self.cluster.kubectl("-n", NAMESPACE, "get", "pods,ds,deploy", "-o", "wide", check=False).stdout]
        parts.append(
            self.cluster.kubectl("-n", NAMESPACE, "get", "events", "--sort-by=.lastTimestamp", check=False).stdout
        )
        for selector in ("app.kubernetes.io/component=controller", "app.kubernetes.io/component=agent"):
            parts.append(
                self.cluster.kubectl(
                    "-n", NAMESPACE, "logs", "-l", selector, "--tail=20", "--prefix", check=False
                ).stdout
            )
        return "\n".join(parts)

    # ---- internals ------------------------------------------------------------------------------------------

    def _kustomization(self) -> Path:
        """``manifests/`` itself, or (readiness gate) a directory of one's own that adds the component, as the
        README's Install section shows (kustomize wants relative paths to components)."""
        manifests = repo_root() / "manifests"
        if not self.readiness_gate:
            return manifests
        own = self.workdir / "kustomization"
        own.mkdir(exist_ok=True)
        relative = Path(os.path.relpath(manifests, own))
        (own / "kustomization.yaml").write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "kustomize.config.k8s.io/v1beta1",
                    "kind": "Kustomization",
                    "resources": [str(relative)],
                    "components": [str(relative / "components" / "readiness-gate")],
                }
            )
        )
        return own

    def _helm(self) -> Path | None:
        if self.method != "helm":
            return None
        result = subprocess.run(
            [str(repo_root() / "scripts" / "helm-binary.sh")], stdout=subprocess.PIPE, text=True, check=False
        )
        if result.returncode != 0:
            raise InstallError("scripts/helm-binary.sh failed (see its output above)")
        return Path(result.stdout.strip())
