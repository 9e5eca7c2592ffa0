"""Checks of the long-running commands' settings, made before anything starts.

A setting that cannot work (an unknown log level, a kubeconfig that is not there, a missing root directory, a
certificate that cannot be read, an address that cannot be listened on) raises `SettingError`, which the CLI prints
as one line naming the setting and the reason, and exits 2: never a traceback from deep inside a framework.
"""

from __future__ import annotations

import argparse
import os
import socket
import ssl
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from seccomp_operator.kube.config import ClusterConfig

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
IN_CLUSTER_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")


class SettingError(Exception):
    """A setting that cannot work: `setting` is the flag (or environment variable) a user would change."""

    def __init__(self, setting: str, value: object, reason: str) -> None:
        shown = f" {value!r}" if value not in (None, "") else ""
        super().__init__(f"{setting}{shown}: {reason}")
        self.setting = setting


def check_log_level(value: str) -> None:
    if value.upper() not in LOG_LEVELS:
        raise SettingError("--log-level", value, f"unknown level; one of {', '.join(LOG_LEVELS)} (any case)")


def parse_address(setting: str, value: str) -> tuple[str, int]:
    """`HOST:PORT` (HOST may be empty for every interface, `[::1]:80` for IPv6) into (host, port)."""
    host, sep, port_text = value.rpartition(":")
    if not sep or not port_text.isdigit():
        raise SettingError(setting, value, "expected HOST:PORT, for example 0.0.0.0:8080 or 127.0.0.1:8080")
    port = int(port_text)
    if not 0 < port < 65536:
        raise SettingError(setting, value, f"port {port} is outside 1-65535")
    return host.strip("[]") or "0.0.0.0", port


def check_listen(setting: str, value: str) -> None:
    """The address parses and can be bound now (the component binds it a moment later)."""
    host, port = parse_address(setting, value)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise SettingError(setting, value, f"cannot resolve {host!r}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        # Like the servers themselves: a port in TIME_WAIT from a previous run is free to take.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise SettingError(setting, value, f"cannot listen there: {exc.strerror}") from None


def _read_file(setting: str, path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except IsADirectoryError:
        raise SettingError(setting, path, "is a directory, not a file") from None
    except OSError as exc:
        raise SettingError(setting, path, f"cannot be read: {exc.strerror}") from None


def _kubeconfig_source(value: str | None) -> tuple[str, str] | None:
    """(the setting to name, the file) that a component will load; None for the Pod's service account."""
    if value:
        return "--kubeconfig", value
    if os.environ.get("KUBECONFIG"):
        return "$KUBECONFIG", os.environ["KUBECONFIG"].split(os.pathsep)[0]
    if os.environ.get("KUBERNETES_SERVICE_HOST") and IN_CLUSTER_TOKEN.exists():
        return None
    default = Path.home() / ".kube" / "config"
    if not default.exists():
        raise SettingError(
            "--kubeconfig",
            None,
            f"not given, $KUBECONFIG is not set, this is not a Pod with a service-account token, and {default} "
            "does not exist",
        )
    return "--kubeconfig (default ~/.kube/config)", str(default)


def _parse_yaml(setting: str, path: str) -> Any:
    try:
        return yaml.safe_load(_read_file(setting, path))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SettingError(setting, path, f"is not YAML: {exc.problem}{where}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise SettingError(setting, path, f"is not YAML: {' '.join(str(exc).split())}") from None


def _named(doc: dict[str, Any], section: str, name: object) -> dict[str, Any] | None:
    """`clusters`/`users` entry `name`: its `cluster`/`user` mapping."""
    for entry in doc.get(section) or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            return dict(entry.get(section[:-1]) or {})
    return None


def check_kubeconfig(value: str | None) -> None:
    """The kubeconfig the component will load is there and is one: --kubeconfig, else $KUBECONFIG (its first file),
    else the Pod's service account, else ~/.kube/config. Its current context, that context's cluster, and the files
    they name (relative to the kubeconfig) must exist: otherwise they fail later, without saying which."""
    source = _kubeconfig_source(value)
    if source is None:
        return
    setting, path = source
    doc = _parse_yaml(setting, path)
    if not isinstance(doc, dict) or not doc.get("clusters") or not doc.get("contexts"):
        raise SettingError(setting, path, "is not a kubeconfig: it needs `clusters` and `contexts`")
    contexts = {c.get("name"): c.get("context") or {} for c in doc["contexts"] if isinstance(c, dict)}
    current = doc.get("current-context")
    if current not in contexts:
        raise SettingError(setting, path, f"current-context {current!r} is not one of {sorted(map(str, contexts))}")
    cluster_name, user_name = contexts[current].get("cluster"), contexts[current].get("user")
    cluster = _named(doc, "clusters", cluster_name)
    if cluster is None:
        raise SettingError(setting, path, f"context {current!r} names cluster {cluster_name!r}, which is not defined")
    user = _named(doc, "users", user_name) or {}
    for what, entry, fields in (
        (f"cluster {cluster_name!r}", cluster, ("certificate-authority",)),
        (f"user {user_name!r}", user, ("client-certificate", "client-key", "tokenFile")),
    ):
        for field in fields:
            if entry.get(field) and not (Path(path).parent / entry[field]).is_file():
                raise SettingError(setting, path, f"{what}: {field} {entry[field]!r} does not exist")


def load_agent_config(value: str | None) -> ClusterConfig:
    """The agent's connection settings (its own lean loader); what check_kubeconfig cannot see, such as a context
    naming a missing cluster or certificate data that is not a certificate, is a SettingError here too."""
    from seccomp_operator.kube import load_config

    try:
        return load_config(value)
    except (OSError, ValueError, KeyError, TypeError, ssl.SSLError) as exc:
        reason = f"cannot be used: {type(exc).__name__}: {exc}"
        raise SettingError("--kubeconfig", value or os.environ.get("KUBECONFIG"), reason) from None


def check_directory(setting: str, path: str) -> None:
    target = Path(path)
    if not target.exists():
        raise SettingError(setting, path, "no such directory")
    if not target.is_dir():
        raise SettingError(setting, path, "is not a directory")
    if not os.access(target, os.W_OK | os.X_OK):
        raise SettingError(setting, path, "is not writable by this process")


def check_tls_pair(cert_setting: str, cert: str | None, key_setting: str, key: str | None) -> None:
    if bool(cert) != bool(key):
        given, missing = (cert_setting, key_setting) if cert else (key_setting, cert_setting)
        raise SettingError(missing, None, f"is required with {given}")
    if not cert or not key:
        return
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        x509.load_pem_x509_certificates(_read_file(cert_setting, cert))
    except ValueError:
        raise SettingError(cert_setting, cert, "holds no PEM certificate") from None
    try:
        serialization.load_pem_private_key(_read_file(key_setting, key), password=None)
    except (ValueError, TypeError):
        raise SettingError(key_setting, key, "holds no unencrypted PEM private key") from None
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        reason = f"the key does not belong to the certificate ({exc.reason or exc})"
        raise SettingError(f"{cert_setting}/{key_setting}", f"{cert}, {key}", reason) from None


def check_agent(args: argparse.Namespace) -> None:
    """Everything `seccomp-operator agent` is told, before it starts."""
    check_log_level(args.log_level)
    if not args.node_name:
        raise SettingError("--node-name", None, "is required (or set $NODE_NAME; the DaemonSet passes spec.nodeName)")
    check_directory("--root", args.root)
    if args.health_addr:
        check_listen("--health-addr", args.health_addr)
    check_kubeconfig(args.kubeconfig)


def check_controller(args: argparse.Namespace) -> None:
    """Everything `seccomp-operator controller` is told, before it starts."""
    check_log_level(args.log_level)
    for flag in ("--health-addr", "--liveness-addr"):
        value = getattr(args, flag[2:].replace("-", "_"), None)
        if value:
            check_listen(flag, value)
    if not args.no_webhook:
        check_listen("--webhook-addr", args.webhook_addr)
        check_tls_pair("--webhook-cert", args.webhook_cert, "--webhook-key", args.webhook_key)
    check_kubeconfig(args.kubeconfig)
