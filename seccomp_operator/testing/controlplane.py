"""A real, local Kubernetes control plane (etcd + kube-apiserver) for tests, the demo and benchmarks.

This plays the role of controller-runtime's envtest: the CRD schema, CEL rules, status subresource, watches, 410s,
RBAC and admission policies under test are the API server's own, not a mock's.

Usage::

    with ControlPlane() as cp:
        cp.kubectl("apply", "--server-side", "-f", "crds/")
        client = cp.api_client()

What runs: etcd on two free loopback ports (client, peer) and kube-apiserver on a free port of ``address``
(127.0.0.1 unless a real node must reach it: see ``testing/cluster.py``), both children of this process, each in its
own process group, with their logs in ``<workdir>/logs``. etcd listens on 127.0.0.1 only. Certificates, keys and
kubeconfigs are generated into ``<workdir>`` with ``cryptography``.

Cleanup is layered because a test that fails, a Ctrl-C and a SIGKILLed runner must all leave nothing behind:
``stop()`` / the context manager (SIGTERM, then SIGKILL after a deadline), a ``weakref.finalize`` that also runs at
interpreter exit, and ``PR_SET_PDEATHSIG`` in every child so the kernel kills it if this process dies without running
any Python code. PDEATHSIG fires when the *thread* that started the child exits, so call ``start()`` (and the
``restart_*`` methods) from a thread that lives as long as the control plane, such as the main thread.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import datetime as dt
import http.client
import ipaddress
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "AdminCredentials",
    "BinariesNotFoundError",
    "CertificateAuthority",
    "ControlPlane",
    "ControlPlaneError",
    "KubectlError",
    "cache_root",
    "find_binaries",
    "repo_root",
    "script_default",
]

BINARIES = ("kube-apiserver", "etcd", "kubectl")
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
# The first address of this range (10.0.0.1) is the in-cluster `kubernetes` Service; it is in the serving cert.
SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"
LOG_TAIL_LINES = 40
_PR_SET_PDEATHSIG = 1


class ControlPlaneError(RuntimeError):
    """The control plane could not be started, restarted or queried."""


class BinariesNotFoundError(ControlPlaneError):
    """kube-apiserver, etcd or kubectl is not available (and was not, or could not be, built)."""


class KubectlError(subprocess.CalledProcessError):
    """A failed kubectl call; unlike CalledProcessError its message carries kubectl's stderr."""

    def __str__(self) -> str:
        stderr = self.stderr if isinstance(self.stderr, str) else ""
        return f"{super().__str__()}\n{stderr.strip()}"


@dataclass(frozen=True)
class AdminCredentials:
    """The admin client certificate: user ``username`` in group ``system:masters``, which bypasses RBAC."""

    username: str
    groups: tuple[str, ...]
    cert_path: Path
    key_path: Path


# --------------------------------------------------------------------------------------------------------------
# Binaries


def repo_root() -> Path:
    """The checkout this module belongs to (it lives at ``<root>/seccomp_operator/testing/``)."""
    return Path(__file__).resolve().parents[2]


def _has_all(directory: Path) -> bool:
    return all(os.access(directory / name, os.X_OK) for name in BINARIES)


def script_default(variable: str, *scripts: Path) -> str:
    """The default of ``variable`` in the build scripts, overridable from the environment like the scripts do.

    Reads e.g. K8S_VERSION="${K8S_VERSION:-v1.37.2}", so each version lives in one place: the scripts.
    """
    if os.environ.get(variable):
        return os.environ[variable]
    for script in scripts:
        match = re.search(rf'^{variable}="\$\{{{variable}:-([^}}]+)\}}"', script.read_text(), re.MULTILINE)
        if match is not None:
            return match.group(1)
    raise BinariesNotFoundError(f"cannot read the default {variable} from {', '.join(map(str, scripts))}")


def cache_root() -> Path:
    """``${SECCOMP_OPERATOR_CACHE:-${XDG_CACHE_HOME:-~/.cache}/seccomp-operator}``, as the scripts compute it."""
    cache_home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(os.environ.get("SECCOMP_OPERATOR_CACHE") or os.path.join(cache_home, "seccomp-operator"))


def _cached_binaries_dir(script: Path) -> Path:
    """Where scripts/control-plane-binaries.sh caches its build (mirrors the script's own computation)."""
    k8s = script_default("K8S_VERSION", script.parent / "lib" / "kubernetes.sh")
    etcd = script_default("ETCD_VERSION", script)
    return cache_root() / "control-plane" / f"k8s-{k8s}_etcd-{etcd}"


def find_binaries(*, build: bool = True) -> Path:
    """The directory holding kube-apiserver, etcd and kubectl.

    ``$KUBEBUILDER_ASSETS`` wins when set (and must then be complete: a wrong explicit setting should fail loudly,
    not silently trigger a 25-minute build). Otherwise the cache of ``scripts/control-plane-binaries.sh`` is used;
    with ``build=True`` a missing cache is filled by running that script (progress goes to our stderr).
    Tests call this with ``build=False`` because a first build far exceeds any per-test timeout.
    """
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    if assets:
        directory = Path(assets)
        if not _has_all(directory):
            raise BinariesNotFoundError(f"KUBEBUILDER_ASSETS={assets} does not hold all of {', '.join(BINARIES)}")
        return directory
    script = repo_root() / "scripts" / "control-plane-binaries.sh"
    if not script.is_file():
        raise BinariesNotFoundError(f"{script} not found and KUBEBUILDER_ASSETS is not set")
    cached = _cached_binaries_dir(script)
    if _has_all(cached):
        return cached
    if not build:
        raise BinariesNotFoundError(
            f"control-plane binaries not found in {cached}; run {script} (first build ~25 min) "
            "or set KUBEBUILDER_ASSETS"
        )
    result = subprocess.run([str(script)], stdout=subprocess.PIPE, text=True, check=False)
    if result.returncode != 0:
        raise BinariesNotFoundError(f"{script} failed with exit code {result.returncode} (see its stderr above)")
    directory = Path(result.stdout.strip().splitlines()[-1])
    if not _has_all(directory):
        raise BinariesNotFoundError(f"{script} printed {directory}, which does not hold all of {BINARIES}")
    return directory


# --------------------------------------------------------------------------------------------------------------
# PKI


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _new_key() -> ec.EllipticCurvePrivateKey:
    # P-256: generated in microseconds (RSA-2048 takes ~0.1 s each) and accepted everywhere we need it:
    # TLS serving, client certs and ES256 service-account tokens.
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _make_ca(common_name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        # Back-dated an hour so a slightly skewed clock never makes a fresh cert "not yet valid".
        .not_valid_before(_now() - dt.timedelta(hours=1))
        .not_valid_after(_now() + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _issue(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    subject: x509.Name,
    *,
    server: bool,
    dns_names: Sequence[str] = (),
    ips: Sequence[str] = (),
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _new_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - dt.timedelta(hours=1))
        .not_valid_after(_now() + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if dns_names or ips:
        names: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
        names += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


@dataclass(frozen=True)
class CertificateAuthority:
    """A CA whose key is on disk, for issuing more certificates later (client identities, kubelet serving certs)."""

    cert_path: Path
    key_path: Path

    @classmethod
    def create(cls, directory: Path, common_name: str) -> CertificateAuthority:
        """Makes a new CA as ``<directory>/<common_name>.crt`` and ``.key``, or loads it when both exist."""
        ca = cls(directory / f"{common_name}.crt", directory / f"{common_name}.key")
        if not (ca.cert_path.exists() and ca.key_path.exists()):
            directory.mkdir(parents=True, exist_ok=True)
            cert, key = _make_ca(common_name)
            ca.cert_path.write_bytes(_cert_pem(cert))
            _write_private(ca.key_path, _key_pem(key))
        return ca

    def issue(
        self,
        path_stem: Path,
        common_name: str,
        *,
        organizations: Sequence[str] = (),
        server: bool = False,
        dns_names: Sequence[str] = (),
        ips: Sequence[str] = (),
    ) -> tuple[Path, Path]:
        """Writes ``<path_stem>.crt`` and ``.key`` (a client certificate unless ``server``); returns both paths."""
        ca_cert = x509.load_pem_x509_certificate(self.cert_path.read_bytes())
        ca_key = serialization.load_pem_private_key(self.key_path.read_bytes(), password=None)
        assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
        attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
        cert, key = _issue(ca_cert, ca_key, x509.Name(attributes), server=server, dns_names=dns_names, ips=ips)
        cert_path, key_path = path_stem.with_suffix(".crt"), path_stem.with_suffix(".key")
        cert_path.parent.mkdir(parents=True, exist_ok=True)
        cert_path.write_bytes(_cert_pem(cert))
        _write_private(key_path, _key_pem(key))
        return cert_path, key_path


@dataclass(frozen=True)
class _Pki:
    ca: Path  # serving CA: what clients trust
    server_cert: Path
    server_key: Path
    client_ca: Path  # separate CA for client certs, so a serving cert can never authenticate as a user
    client_ca_key: Path
    admin_cert: Path
    admin_key: Path
    sa_public: Path
    sa_private: Path


def _ensure_pki(directory: Path, address: str) -> _Pki:
    """Creates the CAs, certs and the service-account key pair once; a reused workdir keeps them (and so its
    kubeconfigs and issued tokens stay valid). The serving certificate names ``address`` too."""
    pki = _Pki(
        ca=directory / "ca.crt",
        server_cert=directory / "apiserver.crt",
        server_key=directory / "apiserver.key",
        client_ca=directory / "client-ca.crt",
        client_ca_key=directory / "client-ca.key",
        admin_cert=directory / "admin.crt",
        admin_key=directory / "admin.key",
        sa_public=directory / "sa.pub",
        sa_private=directory / "sa.key",
    )
    if all(Path(p).exists() for p in vars(pki).values()):
        return pki
    directory.mkdir(parents=True, exist_ok=True)
    ca_cert, ca_key = _make_ca("seccomp-operator-test-ca")
    server_cert, server_key = _issue(
        ca_cert,
        ca_key,
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]),
        server=True,
        dns_names=(
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        ),
        ips=tuple(dict.fromkeys(("127.0.0.1", address, str(ipaddress.ip_network(SERVICE_CLUSTER_IP_RANGE)[1])))),
    )
    client_ca_cert, client_ca_key = _make_ca("seccomp-operator-test-client-ca")
    admin_cert, admin_key = _issue(
        client_ca_cert,
        client_ca_key,
        x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:masters"),
                x509.NameAttribute(NameOID.COMMON_NAME, "admin"),
            ]
        ),
        server=False,
    )
    sa_key = _new_key()
    pki.ca.write_bytes(_cert_pem(ca_cert))
    pki.server_cert.write_bytes(_cert_pem(server_cert))
    _write_private(pki.server_key, _key_pem(server_key))
    pki.client_ca.write_bytes(_cert_pem(client_ca_cert))
    _write_private(pki.client_ca_key, _key_pem(client_ca_key))
    pki.admin_cert.write_bytes(_cert_pem(admin_cert))
    _write_private(pki.admin_key, _key_pem(admin_key))
    pki.sa_public.write_bytes(
        sa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    _write_private(pki.sa_private, _key_pem(sa_key))
    return pki


# --------------------------------------------------------------------------------------------------------------
# Processes


def _free_ports(count: int) -> list[int]:
    """``count`` distinct ports the kernel considers unused right now.

    The sockets stay open until all are picked, so the kernel cannot hand out one port twice. There is a window
    before the children bind them, which start() covers by retrying with new ports when a log says "address already
    in use".
    """
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def child_setup_factory() -> Callable[[], None] | None:
    """preexec_fn that makes the kernel SIGKILL the child when its parent dies (even by SIGKILL).

    libc and prctl are resolved here, in the parent, so the child between fork and exec only makes one plain
    syscall (no imports, no allocation-heavy lookups while another thread might hold a lock).
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()
    sigkill = int(signal.SIGKILL)

    def setup() -> None:
        prctl(_PR_SET_PDEATHSIG, sigkill, 0, 0, 0)
        # The parent may have died between fork() and prctl(); then nobody would ever signal us.
        if os.getppid() != parent:
            os._exit(1)

    return setup


def _exited(pid: int) -> bool:
    """True once the child has exited; WNOWAIT leaves it a zombie, so its pid (and process group id) cannot be
    reused until we reap it, which makes the follow-up killpg safe."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def terminate(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM the child's process group, SIGKILL it after ``timeout`` (at once if ``timeout <= 0``), reap it."""
    if proc.returncode is None:
        if timeout > 0:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while not _exited(proc.pid) and time.monotonic() < deadline:
                time.sleep(0.05)
        # Also sweeps any helper the child may have forked into its group; the leader is still a zombie here.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


class _Children:
    """What the finalizer needs, kept apart from ControlPlane so the finalizer holds no reference to it."""

    def __init__(self) -> None:
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: dict[str, IO[bytes]] = {}

    def stop(self, name: str, timeout: float) -> None:
        proc = self.procs.pop(name, None)
        if proc is not None:
            terminate(proc, timeout)
        log = self.logs.pop(name, None)
        if log is not None:
            log.close()


def _shutdown(children: _Children, timeout: float, remove: Path | None) -> None:
    # The API server first: stopped after etcd it would spend its whole grace period retrying etcd.
    for name in ("kube-apiserver", "etcd", *list(children.procs)):
        children.stop(name, timeout)
    if remove is not None:
        shutil.rmtree(remove, ignore_errors=True)


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 256 * 1024))
            text = handle.read().decode("utf-8", "replace")
    except OSError as exc:
        return f"(no log: {exc})"
    return "\n".join(text.splitlines()[-lines:])


# --------------------------------------------------------------------------------------------------------------
# The control plane


class ControlPlane:
    """etcd + kube-apiserver on free loopback ports; see the module docstring.

    Args:
        workdir: where PKI, etcd data, logs and kubeconfigs go. Default: a new temporary directory, removed by
            ``stop()`` unless ``keep_workdir`` is true. A given workdir is never removed and can be reused.
        binaries_dir: directory with kube-apiserver, etcd and kubectl. Default: ``find_binaries(build=build)``.
        extra_apiserver_args / extra_etcd_args: appended last, so they override the defaults
            (e.g. ``--default-watch-cache-size=0``, ``--watch-cache-sizes=...``, ``--max-requests-inflight=...``).
        etcd_fsync: False (default) passes ``--unsafe-no-fsync``: several times faster writes, and crash safety
            does not matter for throw-away data. Benchmarks measuring write latency may want True.
        start_timeout: deadline for etcd plus the API server to become ready, per attempt.
        stop_timeout: grace period between SIGTERM and SIGKILL, per process.
        address: where the API server listens and what it advertises (the ``kubernetes`` Service's endpoint).
            127.0.0.1 by default; a real node's Pods need an address they can reach, such as the host's own.
        authorization_modes: ``--authorization-mode``; a real node adds ``Node`` in front of ``RBAC``.
    """

    def __init__(
        self,
        *,
        workdir: str | os.PathLike[str] | None = None,
        binaries_dir: str | os.PathLike[str] | None = None,
        extra_apiserver_args: Sequence[str] = (),
        extra_etcd_args: Sequence[str] = (),
        etcd_fsync: bool = False,
        start_timeout: float = 90.0,
        stop_timeout: float = 15.0,
        keep_workdir: bool = False,
        build: bool = True,
        address: str = "127.0.0.1",
        authorization_modes: Sequence[str] = ("RBAC",),
    ) -> None:
        self._given_workdir = Path(workdir).resolve() if workdir is not None else None
        self._binaries_dir = Path(binaries_dir) if binaries_dir is not None else None
        self.extra_apiserver_args: tuple[str, ...] = tuple(extra_apiserver_args)
        self.extra_etcd_args: tuple[str, ...] = tuple(extra_etcd_args)
        self.etcd_fsync = etcd_fsync
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.keep_workdir = keep_workdir
        self._build = build
        self.address = address
        self.authorization_modes: tuple[str, ...] = tuple(authorization_modes)
        self._workdir: Path | None = None
        self._pki: _Pki | None = None
        self._children = _Children()
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self._etcd_port = 0
        self._etcd_peer_port = 0
        self._apiserver_port = 0
        self._ssl: ssl.SSLContext | None = None
        self.last_start_seconds: float | None = None
        """Wall time of the last successful start() or restart_*(), until /readyz answered ok."""

    # ---- lifecycle -------------------------------------------------------------------------------------------

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return bool(self._children.procs)

    def start(self) -> Self:
        """Starts etcd and kube-apiserver and returns once ``/readyz`` is ok; raises ControlPlaneError otherwise."""
        if self.running:
            raise ControlPlaneError("control plane already running")
        binaries = self.binaries_dir
        if self._given_workdir is not None:
            self._workdir = self._given_workdir
            self._workdir.mkdir(parents=True, exist_ok=True)
            remove: Path | None = None
        else:
            self._workdir = Path(tempfile.mkdtemp(prefix="seccomp-operator-cp-"))
            remove = None if self.keep_workdir else self._workdir
        # Registered before the first child exists: whatever happens from here on, the children get stopped
        # (explicitly, on garbage collection, or at interpreter exit).
        self._finalizer = weakref.finalize(self, _shutdown, self._children, self.stop_timeout, remove)
        try:
            for name in BINARIES:
                if not os.access(binaries / name, os.X_OK):
                    raise BinariesNotFoundError(f"{binaries / name} is missing or not executable")
            (self._workdir / "logs").mkdir(exist_ok=True)
            self._pki = _ensure_pki(self._workdir / "pki", self.address)
            self._ssl = self._admin_ssl_context()
            self._remove_stale_kubeconfig()
            fresh_etcd = not (self._workdir / "etcd").exists()
            for attempt in range(3):
                self._etcd_port, self._etcd_peer_port, self._apiserver_port = _free_ports(3)
                try:
                    began = time.monotonic()
                    self._start_etcd()
                    self._start_apiserver()
                    self.last_start_seconds = time.monotonic() - began
                    break
                except ControlPlaneError as exc:
                    self._children.stop("kube-apiserver", self.stop_timeout)
                    self._children.stop("etcd", self.stop_timeout)
                    if attempt == 2 or "address already in use" not in str(exc):
                        raise
                    if fresh_etcd:
                        # The member was initialised with the lost peer URL; start the retry from scratch.
                        shutil.rmtree(self._workdir / "etcd", ignore_errors=True)
            self._write_kubeconfig(self.kubeconfig_path, self._admin_user())
        except BaseException:
            # Includes KeyboardInterrupt during the readiness wait.
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stops the API server, then etcd (SIGTERM, SIGKILL after ``stop_timeout``); idempotent."""
        if self._finalizer is not None:
            self._finalizer()
            self._finalizer = None

    def restart_apiserver(self, *, stop_timeout: float | None = None) -> None:
        """Stops and starts kube-apiserver with the same flags, port and etcd data; returns when ready.

        ``stop_timeout`` overrides the SIGTERM grace period; 0 kills it outright (a crash, for fault tests).
        """
        self._require_running()
        self._children.stop("kube-apiserver", self.stop_timeout if stop_timeout is None else stop_timeout)
        began = time.monotonic()
        self._start_apiserver()
        self.last_start_seconds = time.monotonic() - began

    def restart_etcd(self, *, stop_timeout: float | None = None) -> None:
        """Stops and starts etcd with the same data and ports; returns when the API server is ready again.

        A graceful stop takes about 7 s while the API server is connected: etcd waits its request timeout
        (5 s + 2 election timeouts) for the open watch streams before closing them. ``stop_timeout=0`` kills it
        outright instead, which loses nothing acknowledged (written data is in the page cache even without
        fsync) and is also the crash a fault test wants.
        """
        self._require_running()
        self._children.stop("etcd", self.stop_timeout if stop_timeout is None else stop_timeout)
        began = time.monotonic()
        self._start_etcd()
        self._wait_ready("kube-apiserver", "/readyz", time.monotonic() + self.start_timeout)
        self.last_start_seconds = time.monotonic() - began

    # ---- where things are --------------------------------------------------------------------------------

    @property
    def binaries_dir(self) -> Path:
        if self._binaries_dir is None:
            self._binaries_dir = find_binaries(build=self._build)
        return self._binaries_dir

    @property
    def workdir(self) -> Path:
        if self._workdir is None:
            raise ControlPlaneError("control plane not started")
        return self._workdir

    @property
    def server_url(self) -> str:
        return f"https://{self.address}:{self._apiserver_port}"

    @property
    def etcd_url(self) -> str:
        return f"http://127.0.0.1:{self._etcd_port}"

    @property
    def kubeconfig_path(self) -> Path:
        """Admin kubeconfig (credentials embedded, so the file can be copied elsewhere)."""
        return self.workdir / "kubeconfig"

    @property
    def ca_path(self) -> Path:
        """CA that signed the API server's serving certificate."""
        return self._require_pki().ca

    @property
    def client_ca(self) -> CertificateAuthority:
        """The CA the API server trusts for client certificates (``--client-ca-file``): issue identities with it."""
        pki = self._require_pki()
        return CertificateAuthority(pki.client_ca, pki.client_ca_key)

    @property
    def admin(self) -> AdminCredentials:
        pki = self._require_pki()
        return AdminCredentials("admin", ("system:masters",), pki.admin_cert, pki.admin_key)

    @property
    def apiserver_log(self) -> Path:
        return self.workdir / "logs" / "kube-apiserver.log"

    @property
    def etcd_log(self) -> Path:
        return self.workdir / "logs" / "etcd.log"

    @property
    def pids(self) -> dict[str, int]:
        """Process ids of the running children (each is also its process group id)."""
        return {name: proc.pid for name, proc in self._children.procs.items()}

    # ---- talking to it -----------------------------------------------------------------------------------

    def get(self, path: str, *, timeout: float = 10.0) -> tuple[int, bytes]:
        """GET ``path`` from the API server as admin; returns (HTTP status, body)."""
        self._require_running()
        assert self._ssl is not None
        conn = http.client.HTTPSConnection(self.address, self._apiserver_port, context=self._ssl, timeout=timeout)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def apiserver_metrics(self) -> str:
        """The raw Prometheus text of the API server's /metrics."""
        status, body = self.get("/metrics", timeout=30.0)
        if status != 200:
            raise ControlPlaneError(f"/metrics returned HTTP {status}: {body[:200]!r}")
        return body.decode()

    def kubectl(
        self,
        *args: str,
        check: bool = True,
        kubeconfig: str | os.PathLike[str] | None = None,
        input: str | None = None,
        timeout: float = 120.0,
    ) -> subprocess.CompletedProcess[str]:
        """Runs the built kubectl against this control plane (admin unless ``kubeconfig`` is given).

        Raises KubectlError (a CalledProcessError whose message includes stderr) when ``check`` and it fails.
        """
        cmd = [
            str(self.binaries_dir / "kubectl"),
            f"--kubeconfig={kubeconfig or self.kubeconfig_path}",
            # Per control plane, so a run does not grow ~/.kube/cache with one entry per random port.
            f"--cache-dir={self.workdir / 'kubectl-cache'}",
            *args,
        ]
        env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
        result = subprocess.run(cmd, check=False, input=input, capture_output=True, text=True, env=env, timeout=timeout)
        if check and result.returncode != 0:
            raise KubectlError(result.returncode, cmd, result.stdout, result.stderr)
        return result

    def api_client(self, kubeconfig: str | os.PathLike[str] | None = None) -> Any:
        """A ``kubernetes.client.ApiClient`` for the admin kubeconfig (or the given one)."""
        from kubernetes import config

        # The kubernetes package is untyped; the alias keeps mypy --strict from flagging the call.
        load: Callable[..., Any] = config.new_client_from_config
        return load(config_file=str(kubeconfig or self.kubeconfig_path))

    def kubeconfig_for_certificate(self, cert_path: Path, key_path: Path, *, name: str, path: Path) -> Path:
        """Writes a kubeconfig that authenticates with a client certificate (e.g. from ``client_ca.issue``)."""
        user = {
            "client-certificate-data": base64.b64encode(cert_path.read_bytes()).decode(),
            "client-key-data": base64.b64encode(key_path.read_bytes()).decode(),
        }
        self._write_kubeconfig(path, user, user_name=name)
        return path

    def kubeconfig_for_token(
        self, token: str, *, name: str = "token", path: str | os.PathLike[str] | None = None
    ) -> Path:
        """Writes a kubeconfig authenticating with a bearer token (e.g. from ``service_account_token``)."""
        target = Path(path) if path is not None else self.workdir / "kubeconfigs" / f"{name}.yaml"
        self._write_kubeconfig(target, {"token": token}, user_name=name)
        return target

    def kubeconfig_for_impersonation(
        self,
        user: str,
        *,
        groups: Sequence[str] = (),
        extra: Mapping[str, Sequence[str]] | None = None,
        uid: str | None = None,
        name: str | None = None,
        path: str | os.PathLike[str] | None = None,
    ) -> Path:
        """Writes a kubeconfig that authenticates as admin and impersonates ``user``.

        For a service account use ``user="system:serviceaccount:<ns>:<name>"`` and groups
        ``["system:serviceaccounts", "system:serviceaccounts:<ns>", "system:authenticated"]``; a node-bound token
        is mimicked with ``extra={"authentication.kubernetes.io/node-name": ["<node>"]}``. Note that kubectl
        honours these fields, while the Python client's kubeconfig loader ignores impersonation.
        """
        user_entry = dict(self._admin_user())
        user_entry["as"] = user
        if groups:
            user_entry["as-groups"] = list(groups)
        if extra:
            user_entry["as-user-extra"] = {k: list(v) for k, v in extra.items()}
        if uid is not None:
            user_entry["as-uid"] = uid
        label = name or re.sub(r"[^A-Za-z0-9_.-]+", "_", user)
        target = Path(path) if path is not None else self.workdir / "kubeconfigs" / f"{label}.yaml"
        self._write_kubeconfig(target, user_entry, user_name=label)
        return target

    def service_account_token(
        self,
        namespace: str,
        name: str,
        *,
        audiences: Sequence[str] = (),
        duration_seconds: int = 3600,
        bound_node: str | None = None,
    ) -> str:
        """Issues a token for an existing ServiceAccount through the TokenRequest API.

        ``bound_node`` binds it to that Node object (which must exist); the API server then puts the node name into
        the token's user extra ``authentication.kubernetes.io/node-name``, which admission policies can check.
        """
        args = ["create", "token", name, "-n", namespace, f"--duration={duration_seconds}s"]
        args += [f"--audience={a}" for a in audiences]
        if bound_node is not None:
            args += ["--bound-object-kind=Node", f"--bound-object-name={bound_node}"]
        return self.kubectl(*args).stdout.strip()

    # ---- internals -------------------------------------------------------------------------------------------

    def _require_pki(self) -> _Pki:
        if self._pki is None:
            raise ControlPlaneError("control plane not started")
        return self._pki

    def _require_running(self) -> None:
        if not self.running:
            raise ControlPlaneError("control plane not running")

    def _admin_ssl_context(self) -> ssl.SSLContext:
        pki = self._require_pki()
        context = ssl.create_default_context(cafile=str(pki.ca))
        context.load_cert_chain(str(pki.admin_cert), str(pki.admin_key))
        return context

    def _admin_user(self) -> dict[str, Any]:
        pki = self._require_pki()
        return {
            "client-certificate-data": base64.b64encode(pki.admin_cert.read_bytes()).decode(),
            "client-key-data": base64.b64encode(pki.admin_key.read_bytes()).decode(),
        }

    def _remove_stale_kubeconfig(self) -> None:
        # A stale kubeconfig from a reused workdir would point at old ports until start() finishes.
        with contextlib.suppress(FileNotFoundError):
            self.kubeconfig_path.unlink()

    def _write_kubeconfig(self, path: Path, user: Mapping[str, Any], *, user_name: str = "admin") -> None:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "seccomp-operator-test",
                    "cluster": {
                        "server": self.server_url,
                        "certificate-authority-data": base64.b64encode(self.ca_path.read_bytes()).decode(),
                    },
                }
            ],
            "users": [{"name": user_name, "user": dict(user)}],
            "contexts": [{"name": user_name, "context": {"cluster": "seccomp-operator-test", "user": user_name}}],
            "current-context": user_name,
            "preferences": {},
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_private(path, yaml.safe_dump(config, sort_keys=False).encode())

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log_path = self.workdir / "logs" / f"{name}.log"
        log = log_path.open("ab")
        # Appending keeps the history across restarts; the marker shows where each run begins.
        log.write(f"\n===== {dt.datetime.now(dt.UTC).isoformat()} starting {name}: {' '.join(argv)}\n".encode())
        log.flush()
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                # Own process group: a terminal's Ctrl-C does not hit the children before we can stop them in
                # order, and killpg reaches anything they fork.
                process_group=0,
                preexec_fn=child_setup_factory(),  # noqa: PLW1509 (see child_setup_factory)
            )
        except BaseException:
            log.close()
            raise
        self._children.procs[name] = proc
        self._children.logs[name] = log
        return proc

    def _start_etcd(self) -> None:
        peer = f"http://127.0.0.1:{self._etcd_peer_port}"
        argv = [
            str(self.binaries_dir / "etcd"),
            "--name=default",
            f"--data-dir={self.workdir / 'etcd'}",
            f"--listen-client-urls={self.etcd_url}",
            f"--advertise-client-urls={self.etcd_url}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=default={peer}",
            "--initial-cluster-state=new",
        ]
        if not self.etcd_fsync:
            argv.append("--unsafe-no-fsync")
        argv += self.extra_etcd_args
        self._spawn("etcd", argv)
        self._wait_ready("etcd", "/health", time.monotonic() + self.start_timeout)

    def _apiserver_argv(self) -> list[str]:
        pki = self._require_pki()
        return [
            str(self.binaries_dir / "kube-apiserver"),
            f"--etcd-servers={self.etcd_url}",
            f"--bind-address={self.address}",
            f"--advertise-address={self.address}",
            f"--secure-port={self._apiserver_port}",
            f"--cert-dir={self.workdir / 'apiserver-certs'}",
            f"--tls-cert-file={pki.server_cert}",
            f"--tls-private-key-file={pki.server_key}",
            f"--client-ca-file={pki.client_ca}",
            f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
            f"--service-account-key-file={pki.sa_public}",
            f"--service-account-signing-key-file={pki.sa_private}",
            f"--api-audiences={SERVICE_ACCOUNT_ISSUER}",
            f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
            f"--authorization-mode={','.join(self.authorization_modes)}",
            # These are on by default in 1.37; naming them keeps the tests' premise explicit.
            "--enable-admission-plugins=ValidatingAdmissionPolicy,ValidatingAdmissionWebhook,MutatingAdmissionWebhook",
            "--allow-privileged=true",
            # The lease reconciler of the `kubernetes` Service refuses a loopback advertise address (1.37), and
            # with no kube-proxy nothing would use those endpoints anyway. A reachable address gets real endpoints.
            "--endpoint-reconciler-type=" + ("none" if ipaddress.ip_address(self.address).is_loopback else "lease"),
            *self.extra_apiserver_args,
        ]

    def _start_apiserver(self) -> None:
        self._spawn("kube-apiserver", self._apiserver_argv())
        self._wait_ready("kube-apiserver", "/readyz", time.monotonic() + self.start_timeout)

    def _probe(self, name: str, path: str) -> bool:
        try:
            if name == "etcd":
                conn: http.client.HTTPConnection = http.client.HTTPConnection("127.0.0.1", self._etcd_port, timeout=2)
            else:
                assert self._ssl is not None
                conn = http.client.HTTPSConnection(self.address, self._apiserver_port, context=self._ssl, timeout=5)
            try:
                conn.request("GET", path)
                response = conn.getresponse()
                body = response.read()
            finally:
                conn.close()
        except (OSError, http.client.HTTPException):
            return False
        if response.status != 200:
            return False
        # etcd answers 200 with {"health":"false"} while it has no leader.
        return name != "etcd" or b'"health":"true"' in body

    def _wait_ready(self, name: str, path: str, deadline: float) -> None:
        delay = 0.05
        while True:
            proc = self._children.procs.get(name)
            if proc is None or proc.poll() is not None:
                code = None if proc is None else proc.returncode
                raise self._start_error(name, f"{name} exited during startup (exit code {code})")
            if self._probe(name, path):
                return
            if time.monotonic() >= deadline:
                raise self._start_error(name, f"{name} not ready ({path}) within {self.start_timeout:.0f}s")
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)

    def _start_error(self, name: str, what: str) -> ControlPlaneError:
        # The API server's log is what explains most failures (flags, certs, etcd unreachable); etcd's own log is
        # added only when etcd is the one that failed, to keep the message readable.
        logs = ["etcd"] if name == "etcd" else ["kube-apiserver"]
        parts = [what]
        for log_name in logs:
            log = self.workdir / "logs" / f"{log_name}.log"
            parts.append(f"--- last {LOG_TAIL_LINES} lines of {log}:\n{log_tail(log)}")
        return ControlPlaneError("\n".join(parts))
