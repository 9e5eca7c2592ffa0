"""A real container runtime for tests: a private containerd, a local busybox image, one-shot ``ctr run``.

The harness proves that a seccomp profile file written on disk is loaded and enforced by the same code that
loads a Kubernetes ``Localhost`` profile. ``ctr run --seccomp --seccomp-profile <file>`` and the CRI plugin's
``Localhost`` case both end in containerd's ``contrib/seccomp.WithProfile(<file>)`` (``os.ReadFile`` +
``json.Unmarshal`` into the OCI ``LinuxSeccomp``), and runc then compiles and loads the filter. See
``seccomp_operator/testing/README.md`` for the details and the sandbox workarounds.

Everything lives under one work directory: containerd's root and state, its sockets, the runc root, the IO
FIFOs and the image tarball. Nothing needs network access: the image is built from the host's static busybox.
This module has no pytest dependency; ``tests/runtime/conftest.py`` wraps it in fixtures.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import json
import os
import platform
import select
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal

__all__ = [
    "DEFAULT_IMAGE_REF",
    "DEFAULT_NAMESPACE",
    "REQUIRED_BINARIES",
    "ContainerTimeoutError",
    "ContainerdHarness",
    "HarnessError",
    "RunResult",
    "build_busybox_image",
    "missing_requirements",
    "oci_arch",
]

DEFAULT_NAMESPACE = "seccomp-operator-test"
DEFAULT_IMAGE_REF = "localhost/seccomp-operator-test/busybox:latest"
DEFAULT_BUSYBOX = "/bin/busybox"
REQUIRED_BINARIES = ("containerd", "ctr", "runc", "containerd-shim-runc-v2")

# containerd plugins this harness never needs. The CRI plugin is left out on purpose: it wants CNI and a
# sandbox (pause) image from a registry, neither of which exists here. Its Localhost seccomp path calls the
# same ``seccomp.WithProfile`` that ``ctr run --seccomp-profile`` uses (see README.md). ``opt`` would create
# /opt/containerd on the host; the remaining snapshotters would only probe the host's filesystems.
_DISABLED_PLUGINS = (
    "io.containerd.grpc.v1.cri",
    "io.containerd.internal.v1.opt",
    "io.containerd.internal.v1.tracing",
    "io.containerd.tracing.processor.v1.otlp",
    "io.containerd.snapshotter.v1.aufs",
    "io.containerd.snapshotter.v1.btrfs",
    "io.containerd.snapshotter.v1.devmapper",
    "io.containerd.snapshotter.v1.zfs",
)

# Unix socket paths are limited to 108 bytes (sun_path) including the terminating NUL. The longest socket
# we create is "<workdir>/containerd.sock.ttrpc"; keep a margin.
_MAX_SOCKET_PATH = 100

# Fixed timestamp for every entry of the generated image, so the image digest depends only on busybox.
_IMAGE_MTIME = 1_700_000_000

# Applets linked into /bin when the host busybox cannot list them.
_FALLBACK_APPLETS = (
    "sh", "echo", "cat", "ls", "mkdir", "rmdir", "chmod", "stat", "touch", "rm", "id", "true", "false",
    "sleep", "test", "[", "env", "nc", "uname", "printf", "wc", "head", "grep",
)  # fmt: skip

_GOARCH = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv7l": "arm",
    "armv6l": "arm",
    "i386": "386",
    "i686": "386",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
    "loongarch64": "loong64",
}


class HarnessError(RuntimeError):
    """The runtime harness could not do its job (containerd did not start, import failed, ...)."""


class ContainerTimeoutError(HarnessError):
    """A container did not finish within its timeout; it has been killed and removed."""

    def __init__(self, message: str, stdout: str, stderr: str) -> None:
        super().__init__(message)
        self.stdout = stdout
        self.stderr = stderr


@dataclass(frozen=True)
class RunResult:
    """Outcome of one ``ctr run --rm``.

    ``exit_code`` is the container process's exit status when it ran; when containerd or runc refused to
    create or start the container, ``ctr`` itself exits non-zero (1) and ``stderr`` starts with ``ctr:``.
    """

    container_id: str
    command: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str
    duration: float

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def describe(self) -> str:
        """A multi-line summary for assertion messages."""
        return (
            f"container {self.container_id} {list(self.command)!r} exited {self.exit_code} "
            f"after {self.duration:.2f}s\n--- stdout ---\n{self.stdout}--- stderr ---\n{self.stderr}"
        )


def oci_arch(machine: str | None = None) -> str:
    """The OCI/GOARCH name of ``machine`` (default: this host), as containerd matches image platforms."""
    m = machine if machine is not None else platform.machine()
    try:
        return _GOARCH[m]
    except KeyError:
        raise HarnessError(f"no OCI architecture name known for machine {m!r}") from None


def _is_static_elf(path: Path) -> bool:
    """True when ``path`` is an ELF executable without a PT_INTERP segment (needs no dynamic loader)."""
    with path.open("rb") as f:
        ident = f.read(64)
        if len(ident) < 64 or ident[:4] != b"\x7fELF":
            return False
        is64 = ident[4] == 2
        order: Literal["little", "big"] = "little" if ident[5] == 1 else "big"
        if is64:
            phoff = int.from_bytes(ident[32:40], order)
            phentsize = int.from_bytes(ident[54:56], order)
            phnum = int.from_bytes(ident[56:58], order)
        else:
            phoff = int.from_bytes(ident[28:32], order)
            phentsize = int.from_bytes(ident[42:44], order)
            phnum = int.from_bytes(ident[44:46], order)
        for i in range(phnum):
            f.seek(phoff + i * phentsize)
            p_type = int.from_bytes(f.read(4), order)
            if p_type == 3:  # PT_INTERP
                return False
    return True


def missing_requirements(busybox: str | os.PathLike[str] = DEFAULT_BUSYBOX) -> list[str]:
    """Reasons the harness cannot run on this machine; empty when it can."""
    reasons: list[str] = []
    if os.geteuid() != 0:
        reasons.append("not running as root (containerd and runc need root)")
    for name in REQUIRED_BINARIES:
        if shutil.which(name) is None:
            reasons.append(f"{name} not found on PATH (Debian packages: containerd, runc)")
    bb = Path(busybox)
    if not bb.is_file():
        reasons.append(f"{bb} not found (Debian package: busybox-static)")
    elif not _is_static_elf(bb):
        reasons.append(f"{bb} is not statically linked (install the Debian package busybox-static)")
    if not Path("/proc/self/status").read_text().count("Seccomp:"):
        reasons.append("the kernel does not report seccomp support in /proc/self/status")
    return reasons


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _tar_add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    info.mtime = _IMAGE_MTIME
    tar.addfile(info, io.BytesIO(data))


def _tar_add_dir(tar: tarfile.TarFile, name: str, mode: int = 0o755) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = mode
    info.mtime = _IMAGE_MTIME
    tar.addfile(info)


def _tar_add_symlink(tar: tarfile.TarFile, name: str, target: str) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.SYMTYPE
    info.linkname = target
    info.mode = 0o777
    info.mtime = _IMAGE_MTIME
    tar.addfile(info)


def _busybox_applets(busybox: Path) -> list[str]:
    try:
        out = subprocess.run([str(busybox), "--list"], capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return list(_FALLBACK_APPLETS)
    applets = {a.strip() for a in out.splitlines()}
    return sorted(a for a in applets if a and "/" not in a and a != "busybox")


def _rootfs_layer(busybox: Path) -> bytes:
    """An uncompressed layer tar: /bin/busybox, one symlink per applet, the usual empty mount points."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in ("bin", "dev", "etc", "proc", "root", "run", "sys", "usr", "var"):
            _tar_add_dir(tar, d)
        _tar_add_dir(tar, "tmp", 0o1777)
        _tar_add_symlink(tar, "usr/bin", "../bin")
        _tar_add_symlink(tar, "sbin", "bin")
        _tar_add_bytes(tar, "bin/busybox", busybox.read_bytes(), 0o755)
        for applet in _busybox_applets(busybox):
            _tar_add_symlink(tar, f"bin/{applet}", "busybox")
        _tar_add_bytes(tar, "etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")
        _tar_add_bytes(tar, "etc/group", b"root:x:0:\n")
    return buf.getvalue()


def build_busybox_image(
    dest: str | os.PathLike[str],
    *,
    busybox: str | os.PathLike[str] = DEFAULT_BUSYBOX,
    ref: str = DEFAULT_IMAGE_REF,
    arch: str | None = None,
    cmd: Sequence[str] = ("/bin/sh",),
) -> Path:
    """Write an OCI image-layout tarball (``ctr images import`` format ``oci.v1``) holding one image.

    The image has a single uncompressed layer: the static ``busybox`` at /bin/busybox with a symlink for
    each applet in /bin, /tmp (1777), mount points and a minimal /etc/passwd. ``ref`` is stored as the
    ``org.opencontainers.image.ref.name`` annotation; a full reference (with ``/`` or ``:``) is imported
    under exactly that name. ``cmd`` is the image's default command.
    """
    bb = Path(busybox)
    if not _is_static_elf(bb):
        raise HarnessError(f"{bb} is not a statically linked ELF executable (install busybox-static)")
    goarch = arch if arch is not None else oci_arch()
    layer = _rootfs_layer(bb)
    layer_digest = _sha256(layer)
    config = {
        "architecture": goarch,
        "os": "linux",
        "config": {"Env": ["PATH=/bin"], "Cmd": list(cmd), "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        "history": [{"created_by": "seccomp_operator.testing.runtime.build_busybox_image"}],
    }
    config_bytes = json.dumps(config, sort_keys=True).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": _sha256(config_bytes),
            "size": len(config_bytes),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": layer_digest,
                "size": len(layer),
            }
        ],
    }
    manifest_bytes = json.dumps(manifest, sort_keys=True).encode()
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": _sha256(manifest_bytes),
                "size": len(manifest_bytes),
                "platform": {"architecture": goarch, "os": "linux"},
                "annotations": {"org.opencontainers.image.ref.name": ref},
            }
        ],
    }
    out = Path(dest)
    with tarfile.open(out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        _tar_add_bytes(tar, "oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode())
        _tar_add_bytes(tar, "index.json", json.dumps(index, sort_keys=True).encode())
        _tar_add_dir(tar, "blobs")
        _tar_add_dir(tar, "blobs/sha256")
        for blob in (layer, config_bytes, manifest_bytes):
            _tar_add_bytes(tar, "blobs/sha256/" + _sha256(blob).removeprefix("sha256:"), blob)
    return out


def _clean_env() -> dict[str, str]:
    """The environment for ctr/containerd without CONTAINERD_* overrides (address, namespace, snapshotter)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("CONTAINERD_")}


def _tail(path: Path, limit: int = 4000) -> str:
    try:
        data = path.read_bytes()
    except OSError:
        return ""
    return data[-limit:].decode(errors="replace")


class ContainerdHarness:
    """A private containerd plus the busybox test image, for running one-shot containers under seccomp.

    Use as a context manager (``with ContainerdHarness() as rt: rt.run([...], seccomp_profile=...)``) or
    call :meth:`start` and :meth:`stop`. :meth:`stop` is idempotent and also cleans up after a failed
    :meth:`start`: remaining tasks and containers, shims, runc state, mounts and cgroups it created.
    """

    def __init__(
        self,
        workdir: str | os.PathLike[str] | None = None,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        image_ref: str = DEFAULT_IMAGE_REF,
        snapshotter: str | None = None,
        busybox: str | os.PathLike[str] = DEFAULT_BUSYBOX,
        start_timeout: float = 30.0,
        keep_workdir: bool = False,
    ) -> None:
        """``workdir``: where everything lives (default: a new short directory in /tmp, removed by
        :meth:`stop` unless ``keep_workdir``). ``snapshotter``: ``"overlayfs"`` or ``"native"``; default
        picks overlayfs when containerd reports it usable and a test mount succeeds, else native."""
        self._own_workdir = workdir is None
        self._workdir_arg = Path(workdir) if workdir is not None else None
        self.namespace = namespace
        self.image_ref = image_ref
        self._snapshotter_arg = snapshotter
        self.busybox = Path(busybox)
        self.start_timeout = start_timeout
        self.keep_workdir = keep_workdir
        self._workdir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: io.BufferedWriter | None = None
        self._snapshotter: str | None = None
        self._counter = itertools.count(1)
        self._token = uuid.uuid4().hex[:8]

    # ------------------------------------------------------------------ properties

    @property
    def workdir(self) -> Path:
        if self._workdir is None:
            raise HarnessError("the harness has not been started")
        return self._workdir

    @property
    def address(self) -> str:
        """containerd's gRPC socket."""
        return str(self.workdir / "containerd.sock")

    @property
    def log_path(self) -> Path:
        return self.workdir / "containerd.log"

    @property
    def runc_root(self) -> Path:
        """runc's state root given to the shim (``ctr run --runc-root``); runc adds ``/<namespace>``."""
        return self.workdir / "runc"

    @property
    def snapshotter(self) -> str:
        if self._snapshotter is None:
            raise HarnessError("the harness has not been started")
        return self._snapshotter

    @property
    def cgroup_parent(self) -> str:
        """The cgroup path (relative to each hierarchy's root) under which this harness's containers go."""
        return f"/{self.namespace}-{self._token}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> ContainerdHarness:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start containerd, wait until it answers, pick the snapshotter and import the image.

        On any failure everything started so far is stopped again before the error propagates.
        """
        if self._proc is not None:
            raise HarnessError("the harness is already started")
        try:
            self._prepare_workdir()
            self._start_containerd()
            self._wait_ready()
            self._snapshotter = self._pick_snapshotter()
            self.import_image()
        except BaseException:
            self.stop()
            raise

    def _prepare_workdir(self) -> None:
        if self._workdir_arg is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="sco-ctrd-", dir="/tmp"))
        else:
            wd = self._workdir_arg.absolute()
            if len(str(wd / "containerd.sock.ttrpc")) > _MAX_SOCKET_PATH:
                raise HarnessError(
                    f"work directory {wd} is too long for a unix socket path (max about "
                    f"{_MAX_SOCKET_PATH - 22} characters); use a shorter one"
                )
            wd.mkdir(parents=True, exist_ok=True)
            self._workdir = wd
        for sub in ("root", "state", "runc", "fifo"):
            (self.workdir / sub).mkdir(mode=0o711, exist_ok=True)

    def _config_text(self) -> str:
        w = self.workdir
        disabled = ", ".join(json.dumps(p) for p in _DISABLED_PLUGINS)
        return "\n".join(
            [
                "version = 2",
                f"root = {json.dumps(str(w / 'root'))}",
                f"state = {json.dumps(str(w / 'state'))}",
                f"disabled_plugins = [{disabled}]",
                "",
                "[grpc]",
                f"  address = {json.dumps(self.address)}",
                "",
                "[ttrpc]",
                f"  address = {json.dumps(self.address + '.ttrpc')}",
                "",
                "[debug]",
                '  address = ""',
                '  level = "info"',
                "",
                "[metrics]",
                '  address = ""',
                "",
            ]
        )

    def _start_containerd(self) -> None:
        config = self.workdir / "config.toml"
        config.write_text(self._config_text())
        self._log_file = self.log_path.open("ab")
        self._proc = subprocess.Popen(
            ["containerd", "--config", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=_clean_env(),
            start_new_session=True,
        )

    def _wait_ready(self) -> None:
        """Poll ``ctr version`` until the daemon answers, containerd exits, or the deadline passes."""
        assert self._proc is not None
        deadline = time.monotonic() + self.start_timeout
        last = ""
        while True:
            if self._proc.poll() is not None:
                raise HarnessError(
                    f"containerd exited with {self._proc.returncode} while starting; log tail:\n{_tail(self.log_path)}"
                )
            if os.path.exists(self.address):
                remaining = max(deadline - time.monotonic(), 1.0)
                try:
                    res = self.ctr("version", timeout=min(5.0, remaining), check=False)
                except subprocess.TimeoutExpired:
                    last = "ctr version timed out"
                else:
                    if res.returncode == 0:
                        return
                    last = res.stderr.strip()
            if time.monotonic() >= deadline:
                raise HarnessError(
                    f"containerd did not answer within {self.start_timeout}s (last: {last}); log tail:\n"
                    f"{_tail(self.log_path)}"
                )
            # Wait on the daemon itself: returns early if it dies, otherwise paces the next poll.
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=0.05)

    def _pick_snapshotter(self) -> str:
        if self._snapshotter_arg is not None:
            return self._snapshotter_arg
        plugins = self.ctr("plugins", "ls", timeout=10).stdout
        for line in plugins.splitlines():
            cols = line.split()
            if len(cols) >= 4 and cols[0] == "io.containerd.snapshotter.v1" and cols[1] == "overlayfs":
                if cols[-1] == "ok" and overlay_mount_works(self.workdir):
                    return "overlayfs"
                break
        return "native"

    def stop(self) -> None:
        """Stop everything this harness started. Safe to call more than once and after a failed start."""
        errors: list[str] = []
        if self.running:
            try:
                self.remove_all_containers()
            except (HarnessError, OSError, subprocess.SubprocessError) as e:
                errors.append(f"removing containers: {e}")
        self._stop_containerd()
        if self._workdir is not None:
            self._kill_leftover_shims()
            self._runc_force_delete_all()
            self._unmount_under(self._workdir)
            self._remove_cgroups()
            if self._own_workdir and not self.keep_workdir:
                shutil.rmtree(self._workdir, ignore_errors=True)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        self._proc = None
        self._snapshotter = None
        if self._own_workdir and not self.keep_workdir:
            self._workdir = None
        if errors:
            raise HarnessError("; ".join(errors))

    def _stop_containerd(self) -> None:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)

    def _kill_leftover_shims(self) -> None:
        """SIGKILL shims still running after containerd stopped, and wait until they are gone."""
        for pid in shim_pids(self.address):
            kill_and_wait(pid, timeout=10)

    def _runc_force_delete_all(self) -> None:
        """Kill and delete containers left in our private runc root (only after a crash or timeout)."""
        runc_force_delete_all(self.workdir / "runc" / self.namespace)

    @staticmethod
    def _unmount_under(base: Path) -> None:
        unmount_under(base)

    def _remove_cgroups(self) -> None:
        """Remove the (by now empty) cgroup directories of this harness, deepest first."""
        remove_cgroup_tree(self.cgroup_parent)

    # ------------------------------------------------------------------ ctr

    def ctr(
        self, *args: str, timeout: float = 60.0, check: bool = True, namespace: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run ``ctr --address <ours> --namespace <ours> <args>`` and return the completed process."""
        cmd = ["ctr", "--address", self.address, "--namespace", namespace or self.namespace, *args]
        res = subprocess.run(
            cmd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env=_clean_env(),
        )
        if check and res.returncode != 0:
            raise HarnessError(f"{' '.join(cmd)} exited {res.returncode}: {res.stderr.strip() or res.stdout.strip()}")
        return res

    def import_image(self) -> str:
        """Build the busybox image tarball and import it into our namespace; returns the image ref."""
        tarball = build_busybox_image(self.workdir / "busybox-oci.tar", busybox=self.busybox, ref=self.image_ref)
        base_name = self.image_ref.rsplit(":", 1)[0]
        self.ctr(
            "images", "import", "--base-name", base_name, "--snapshotter", self.snapshotter,
            str(tarball), timeout=120,
        )  # fmt: skip
        names = self.ctr("images", "ls", "-q", timeout=30).stdout.split()
        if self.image_ref not in names:
            raise HarnessError(f"image {self.image_ref} missing after import; images: {names}")
        return self.image_ref

    def list_containers(self) -> list[str]:
        return self.ctr("containers", "ls", "-q", timeout=30).stdout.split()

    def list_tasks(self) -> list[str]:
        out = self.ctr("tasks", "ls", timeout=30).stdout.splitlines()
        return [line.split()[0] for line in out[1:] if line.strip()]

    def remove_container(self, container_id: str) -> None:
        """Kill the task (if any), delete it, then delete the container and its snapshot."""
        self.ctr("tasks", "kill", "--signal", "SIGKILL", container_id, timeout=30, check=False)
        self.ctr("tasks", "delete", "--force", container_id, timeout=30, check=False)
        self.ctr("containers", "delete", container_id, timeout=30, check=False)
        self.ctr("snapshots", "--snapshotter", self.snapshotter, "rm", container_id, timeout=30, check=False)

    def remove_all_containers(self) -> None:
        for cid in sorted(set(self.list_tasks()) | set(self.list_containers())):
            self.remove_container(cid)
        left = self.list_containers()
        if left:
            raise HarnessError(f"containers left after cleanup: {left}")

    def run(
        self,
        command: Sequence[str],
        *,
        seccomp_profile: str | os.PathLike[str] | None,
        timeout: float = 30.0,
        container_id: str | None = None,
        env: Mapping[str, str] | None = None,
        no_new_privileges: bool = True,
        extra_args: Sequence[str] = (),
    ) -> RunResult:
        """Run ``command`` in a new one-shot container and wait for it.

        ``seccomp_profile``: absolute path of an OCI ``LinuxSeccomp`` JSON file, passed as
        ``--seccomp --seccomp-profile <path>`` (ctr 1.6 refuses ``--seccomp-profile`` without ``--seccomp``);
        ``None`` runs the container without any seccomp filter. The file is read when the container is
        created, exactly like a Localhost profile. ``no_new_privileges``: ctr's default spec sets the OCI
        ``noNewPrivileges`` flag; ``False`` (``--allow-new-privs``) matches a Kubernetes container whose
        ``allowPrivilegeEscalation`` is not ``false``. It matters for allow-lists: without the flag runc
        loads the filter *before* dropping privileges, so the profile must also allow runc's capset,
        setgroups, setuid, ... calls. On timeout the container is killed and removed and
        :class:`ContainerTimeoutError` is raised.
        """
        if not self.running:
            raise HarnessError("containerd is not running")
        if not command:
            raise ValueError("command must not be empty")
        cid = container_id or f"sco-{next(self._counter)}-{uuid.uuid4().hex[:8]}"
        args = [
            "run", "--rm",
            "--snapshotter", self.snapshotter,
            "--runc-root", str(self.runc_root),
            "--fifo-dir", str(self.workdir / "fifo"),
            "--cgroup", f"{self.cgroup_parent}/{cid}",
        ]  # fmt: skip
        if seccomp_profile is not None:
            profile = os.fspath(seccomp_profile)
            if not os.path.isabs(profile):
                raise ValueError(f"seccomp_profile must be an absolute path (the kubelet sends one): {profile}")
            args += ["--seccomp", "--seccomp-profile", profile]
        if not no_new_privileges:
            args.append("--allow-new-privs")
        for key, value in (env or {}).items():
            args += ["--env", f"{key}={value}"]
        args += [*extra_args, self.image_ref, cid, *command]
        cmd = ["ctr", "--address", self.address, "--namespace", self.namespace, *args]
        started = time.monotonic()
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_clean_env(),
            start_new_session=True,
        )
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            self.remove_container(cid)
            raise ContainerTimeoutError(
                f"container {cid} {list(command)!r} did not finish within {timeout}s",
                out.decode(errors="replace"),
                err.decode(errors="replace"),
            ) from None
        except BaseException:
            proc.kill()
            proc.wait()
            self.remove_container(cid)
            raise
        if not self.running:
            raise HarnessError(
                f"containerd died while container {cid} ran; ctr said: {err.decode(errors='replace').strip()}; "
                f"log tail:\n{_tail(self.log_path)}"
            )
        return RunResult(
            container_id=cid,
            command=tuple(command),
            exit_code=proc.returncode,
            stdout=out.decode(errors="replace"),
            stderr=err.decode(errors="replace"),
            duration=time.monotonic() - started,
        )

    def run_shell(
        self,
        script: str,
        *,
        seccomp_profile: str | os.PathLike[str] | None,
        timeout: float = 30.0,
        no_new_privileges: bool = True,
    ) -> RunResult:
        """``run(["/bin/sh", "-c", script], ...)``."""
        return self.run(
            ["/bin/sh", "-c", script],
            seccomp_profile=seccomp_profile,
            timeout=timeout,
            no_new_privileges=no_new_privileges,
        )


# ---------------------------------------------------------------------- clean-up helpers, shared with testing/node.py


def shim_pids(address: str) -> list[int]:
    """PIDs of the containerd shims of the containerd at ``address`` (their command line names its socket)."""
    needle = address.encode()
    pids: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and b"containerd-shim" in argv[0] and needle in argv:
            pids.append(int(entry.name))
    return pids


def runc_force_delete_all(root: Path) -> None:
    """``runc delete --force`` every container whose state is in ``root`` (kills its processes first)."""
    if not root.is_dir():
        return
    for state in root.iterdir():
        if state.is_dir():
            subprocess.run(
                ["runc", "--root", str(root), "delete", "--force", state.name],
                capture_output=True,
                timeout=30,
                check=False,
                env=_clean_env(),
            )


def unmount_under(base: Path) -> None:
    """Lazily unmount everything mounted below ``base`` in this mount namespace, deepest first."""
    prefix = str(base).rstrip("/") + "/"
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return
    points = []
    for line in lines:
        fields = line.split()
        if len(fields) > 4:
            mp = fields[4].encode().decode("unicode_escape")
            if mp.startswith(prefix):
                points.append(mp)
    for mp in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "-l", mp], capture_output=True, timeout=10, check=False)


def cgroup_dirs(relative: str) -> list[Path]:
    """Every directory of the cgroup ``relative`` (say ``/foo``) and its descendants, in every mounted hierarchy,
    deepest first."""
    parent = relative.strip("/")
    base = Path("/sys/fs/cgroup")
    found: list[Path] = []
    if not parent:
        return found
    with contextlib.suppress(OSError):
        for hierarchy in [base, *(p for p in base.iterdir() if p.is_dir())]:
            top = hierarchy / parent
            if top.is_dir():
                found.extend(sorted(top.rglob("*"), key=lambda p: len(p.parts), reverse=True))
                found.append(top)
    return [p for p in found if p.is_dir()]


def remove_cgroup_tree(relative: str) -> None:
    """Remove the (by now empty) cgroup ``relative`` and everything below it, in every hierarchy."""
    for path in cgroup_dirs(relative):
        with contextlib.suppress(OSError):
            path.rmdir()


def kill_cgroup_tree(relative: str, timeout: float = 10.0) -> None:
    """SIGKILL every process in the cgroup ``relative`` or below it, until none is left or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        pids: set[int] = set()
        for path in cgroup_dirs(relative):
            with contextlib.suppress(OSError):
                pids.update(int(p) for p in (path / "cgroup.procs").read_text().split())
        if not pids or time.monotonic() > deadline:
            return
        for pid in pids:
            kill_and_wait(pid, timeout=max(0.1, deadline - time.monotonic()))


def kill_and_wait(pid: int, timeout: float) -> None:
    """SIGKILL ``pid`` (not necessarily our child) and wait for it to exit, via a pidfd."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        poller.poll(int(timeout * 1000))  # readable once the process has exited
    finally:
        os.close(pidfd)


def overlay_mount_works(workdir: Path) -> bool:
    """Try one real overlay mount in ``workdir``: nested sandboxes often list overlay but refuse it."""
    base = workdir / "overlay-probe"
    dirs = [base / d for d in ("lower1", "lower2", "upper", "work", "merged")]
    try:
        for d in dirs:
            d.mkdir(parents=True, exist_ok=True)
        opts = f"lowerdir={dirs[0]}:{dirs[1]},upperdir={dirs[2]},workdir={dirs[3]}"
        res = subprocess.run(
            ["mount", "-t", "overlay", "overlay", "-o", opts, str(dirs[4])],
            capture_output=True,
            timeout=10,
            check=False,
        )
        if res.returncode != 0:
            return False
        subprocess.run(["umount", str(dirs[4])], capture_output=True, timeout=10, check=False)
        return True
    except (OSError, subprocess.SubprocessError):
        return False
    finally:
        shutil.rmtree(base, ignore_errors=True)
