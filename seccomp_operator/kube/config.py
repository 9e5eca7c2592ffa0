"""Connection settings from a kubeconfig file or the in-cluster service account."""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml

IN_CLUSTER_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


@dataclass(frozen=True)
class ClusterConfig:
    server: str
    ssl_context: ssl.SSLContext | bool
    headers: dict[str, str] = field(default_factory=dict)
    # Re-read for every request when set: projected service-account tokens rotate on disk.
    token_file: Path | None = None
    # Kept as files for frameworks that take paths (kopf's login).
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None

    def auth_headers(self) -> dict[str, str]:
        if self.token_file is not None:
            return {**self.headers, "Authorization": f"Bearer {self.token_file.read_text().strip()}"}
        return self.headers

    def impersonating(
        self, user: str, groups: list[str] | None = None, extra: dict[str, list[str]] | None = None
    ) -> ClusterConfig:
        """A copy that acts as another user; tests use it to prove RBAC and admission policies."""
        headers = dict(self.headers)
        headers["Impersonate-User"] = user
        # aiohttp needs one header per group; a comma list is read as a single group, so groups go in a CIMultiDict
        # at request time. Keep them here joined by NUL and split in the client.
        if groups:
            headers["Impersonate-Group"] = "\0".join(groups)
        for key, values in (extra or {}).items():
            # Extra keys such as `authentication.kubernetes.io/node-name` must be percent-encoded in a header name.
            headers[f"Impersonate-Extra-{quote(key, safe='')}"] = "\0".join(values)
        return ClusterConfig(
            self.server, self.ssl_context, headers, self.token_file, self.ca_file, self.cert_file, self.key_file
        )


def _materialise(data: str | None, path: str | None, base: Path) -> str | None:
    """Return a file path for a `*-data` (base64) or a file field; ssl wants paths for cert chains."""
    if data:
        handle = tempfile.NamedTemporaryFile(prefix="kubecfg-", delete=False)  # noqa: SIM115 - must outlive this call
        with handle:
            handle.write(base64.b64decode(data))
        return handle.name
    if path:
        return str((base / path).resolve())
    return None


def _from_kubeconfig(path: Path, context_name: str | None) -> ClusterConfig:
    doc: dict[str, Any] = yaml.safe_load(path.read_text()) or {}
    context_name = context_name or doc.get("current-context")
    contexts = {c["name"]: c["context"] for c in doc.get("contexts") or []}
    if context_name not in contexts:
        raise ValueError(f"{path}: context {context_name!r} not found")
    context = contexts[context_name]
    cluster = {c["name"]: c["cluster"] for c in doc.get("clusters") or []}[context["cluster"]]
    user = {u["name"]: u["user"] for u in doc.get("users") or []}.get(context.get("user", ""), {})
    base = path.parent

    ssl_context: ssl.SSLContext | bool
    ca = None
    if cluster.get("insecure-skip-tls-verify"):
        ssl_context = False
    else:
        ca = _materialise(cluster.get("certificate-authority-data"), cluster.get("certificate-authority"), base)
        ssl_context = ssl.create_default_context(cafile=ca)
    cert = _materialise(user.get("client-certificate-data"), user.get("client-certificate"), base)
    key = _materialise(user.get("client-key-data"), user.get("client-key"), base)
    if cert and key and isinstance(ssl_context, ssl.SSLContext):
        ssl_context.load_cert_chain(cert, key)
    headers: dict[str, str] = {}
    token_file = None
    if user.get("token"):
        headers["Authorization"] = f"Bearer {user['token']}"
    elif user.get("tokenFile"):
        token_file = Path(user["tokenFile"])
    cfg = ClusterConfig(cluster["server"].rstrip("/"), ssl_context, headers, token_file, ca, cert, key)
    if user.get("as"):
        cfg = cfg.impersonating(user["as"], user.get("as-groups"), user.get("as-user-extra"))
    return cfg


def _in_cluster() -> ClusterConfig:
    host = os.environ["KUBERNETES_SERVICE_HOST"]
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    if ":" in host:
        host = f"[{host}]"
    ctx = ssl.create_default_context(cafile=str(IN_CLUSTER_DIR / "ca.crt"))
    return ClusterConfig(f"https://{host}:{port}", ctx, {}, IN_CLUSTER_DIR / "token", str(IN_CLUSTER_DIR / "ca.crt"))


def load_config(kubeconfig: str | None = None, context: str | None = None) -> ClusterConfig:
    """Kubeconfig from the argument or $KUBECONFIG, else in-cluster, else ~/.kube/config."""
    path = kubeconfig or os.environ.get("KUBECONFIG")
    if path:
        return _from_kubeconfig(Path(path.split(os.pathsep)[0]), context)
    if "KUBERNETES_SERVICE_HOST" in os.environ and (IN_CLUSTER_DIR / "token").exists():
        return _in_cluster()
    return _from_kubeconfig(Path.home() / ".kube" / "config", context)
