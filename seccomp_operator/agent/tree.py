"""The on-node write protocol: the only code that touches the kubelet's seccomp directory.

Every path is resolved from the root with directory file descriptors and O_NOFOLLOW, so a symlink planted anywhere
in the subtree is refused instead of followed, and a root-owned write can never land outside `<root>/<subdir>`.
Writes go to an O_EXCL temp file in the target directory, are fsynced, renamed over the target (atomic: a reader sees
the old or the new file, never a partial one) and the directory is fsynced so the rename survives a crash.
A symlink or hardlink planted at a profile file is never written through: the rename replaces the directory entry.
"""

from __future__ import annotations

import errno
import hashlib
import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum

DIR_MODE = 0o755
FILE_MODE = 0o644
TEMP_SUFFIX = ".tmp"
PROFILE_SUFFIX = ".json"

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class UnsafePathError(OSError):
    """A symlink, or something that is not a directory, where the agent needs a directory; or a directory that
    another user owns."""


class EntryKind(Enum):
    MISSING = "missing"
    REGULAR = "regular"
    SYMLINK = "symlink"
    OTHER = "other"  # a directory, FIFO, socket or device planted where a profile file belongs


@dataclass(frozen=True)
class FileState:
    kind: EntryKind
    sha256: str = ""
    links: int = 0
    mode: int = 0
    uid: int = -1  # -1: unknown (never intact)

    @property
    def intact(self) -> bool:
        """A plain file of ours: regular, one link, mode 0644, owned by us (another owner could rewrite it)."""
        return (
            self.kind is EntryKind.REGULAR and self.links == 1 and self.mode == FILE_MODE and self.uid == os.geteuid()
        )


def is_safe_component(part: str) -> bool:
    """A name that stays one level below its directory: not empty, no slash or NUL, not hidden (temp files are)."""
    return bool(part) and "/" not in part and "\0" not in part and not part.startswith(".")


def _check_component(part: str) -> None:
    if not is_safe_component(part):
        raise ValueError(f"unsafe path component {part!r}")


class ProfileTree:
    """Files under `<root>/<subdir>/<namespace>/<name>.json`. Thread-safe: it keeps no open descriptors."""

    def __init__(self, root: str, subdir: str = "seccomp-operator") -> None:
        _check_component(subdir)
        self.root = root
        self.subdir = subdir

    def path_of(self, namespace: str, name: str) -> str:
        return os.path.join(self.root, self.subdir, namespace, name + PROFILE_SUFFIX)

    @contextmanager
    def _dir(self, *parts: str, create: bool) -> Iterator[int | None]:
        """Open `<root>/<parts...>` without following any symlink below the root; None when missing and not created."""
        # The root itself is trusted configuration (it may be a symlink on some distributions); below it, nothing is.
        fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            walked = self.root
            for part in parts:
                walked = os.path.join(walked, part)
                child = _open_child_dir(fd, part, walked, create=create)
                os.close(fd)
                fd = -1
                if child is None:
                    yield None
                    return
                fd = child
            yield fd
        finally:
            if fd >= 0:
                os.close(fd)

    def write(self, namespace: str, name: str, content: bytes) -> None:
        _check_component(namespace)
        _check_component(name)
        filename = name + PROFILE_SUFFIX
        with self._dir(self.subdir, namespace, create=True) as dir_fd:
            assert dir_fd is not None
            temp = f".{filename}.{secrets.token_hex(6)}{TEMP_SUFFIX}"
            fd = os.open(
                temp,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                FILE_MODE,
                dir_fd=dir_fd,
            )
            try:
                try:
                    view = memoryview(content)
                    while view:
                        view = view[os.write(fd, view) :]
                    os.fchmod(fd, FILE_MODE)  # the umask must not decide what the kubelet can read
                    os.fsync(fd)
                finally:
                    os.close(fd)
                os.rename(temp, filename, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            except BaseException:
                _unlink_quietly(temp, dir_fd)
                raise
            os.fsync(dir_fd)
            # A temp file stranded by an earlier failure (say, unlink refused on a read-only remount) goes now.
            for stale in os.listdir(dir_fd):
                if stale.startswith(f".{filename}.") and stale.endswith(TEMP_SUFFIX):
                    _unlink_quietly(stale, dir_fd)

    def read(self, namespace: str, name: str) -> FileState:
        try:
            with self._dir(self.subdir, namespace, create=False) as dir_fd:
                if dir_fd is None:
                    return FileState(EntryKind.MISSING)
                return _read_entry(dir_fd, name + PROFILE_SUFFIX)
        except UnsafePathError:
            return FileState(EntryKind.OTHER)

    def remove(self, namespace: str, name: str) -> bool:
        """Remove a profile file (never following a link); drop the namespace directory once empty."""
        _check_component(namespace)
        _check_component(name)
        with self._dir(self.subdir, create=False) as sub_fd:
            if sub_fd is None:
                return False
            ns_fd = _open_child_dir(sub_fd, namespace, os.path.join(self.root, self.subdir, namespace), create=False)
            if ns_fd is None:
                return False
            try:
                try:
                    os.unlink(name + PROFILE_SUFFIX, dir_fd=ns_fd)
                except FileNotFoundError:
                    return False
                os.fsync(ns_fd)
                empty = not os.listdir(ns_fd)
            finally:
                os.close(ns_fd)
            if empty:
                try:
                    os.rmdir(namespace, dir_fd=sub_fd)
                    os.fsync(sub_fd)
                except OSError as exc:  # a file appeared meanwhile: keep the directory
                    if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                        raise
            return True

    def scan(self) -> dict[tuple[str, str], FileState]:
        """Every profile file in the subtree; stale temp files from an interrupted write are removed on the way.

        A namespace directory the agent refuses (see ``_open_child_dir``) is skipped here: each profile in it fails
        on its own when it is converged, instead of one directory hiding every other namespace."""
        found: dict[tuple[str, str], FileState] = {}
        with self._dir(self.subdir, create=False) as sub_fd:
            if sub_fd is None:
                return found
            for ns_entry in os.scandir(sub_fd):
                if not ns_entry.is_dir(follow_symlinks=False) or ns_entry.name.startswith("."):
                    continue
                ns_path = os.path.join(self.root, self.subdir, ns_entry.name)
                try:
                    ns_fd = _open_child_dir(sub_fd, ns_entry.name, ns_path, create=False)
                except UnsafePathError:
                    continue
                if ns_fd is None:
                    continue
                try:
                    for entry in os.scandir(ns_fd):
                        if entry.name.startswith(".") and entry.name.endswith(TEMP_SUFFIX):
                            _unlink_quietly(entry.name, ns_fd)
                        elif entry.name.endswith(PROFILE_SUFFIX) and not entry.name.startswith("."):
                            name = entry.name[: -len(PROFILE_SUFFIX)]
                            found[(ns_entry.name, name)] = _read_entry(ns_fd, entry.name)
                finally:
                    os.close(ns_fd)
        return found


def _open_child_dir(parent_fd: int, name: str, shown: str, *, create: bool) -> int | None:
    try:
        fd = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    except FileNotFoundError:
        if not create:
            return None
        try:
            os.mkdir(name, DIR_MODE, dir_fd=parent_fd)
        except FileExistsError:
            pass  # raced with another creator, or a non-directory: the open below tells which
        else:
            os.fsync(parent_fd)
        return _open_child_dir(parent_fd, name, shown, create=False)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise UnsafePathError(
                exc.errno, f"{shown} is a symlink or not a directory; refusing to follow it"
            ) from None
        raise
    # A directory that another user owns lets that user swap entries under us, and taking it back needs CAP_CHOWN,
    # which the agent does not hold (it runs with no capability at all): refuse it, saying what would fix it. Only
    # host root can put such a directory into the kubelet's root-owned 0755 tree.
    info = os.fstat(fd)
    if info.st_uid != os.geteuid():
        os.close(fd)
        raise UnsafePathError(
            errno.EPERM,
            f"{shown} is owned by uid {info.st_uid}, not by the agent's uid {os.geteuid()}, so that user could swap "
            f"profiles in it; refusing to use it (the agent holds no CAP_CHOWN to take it back: "
            f"chown {os.geteuid()}:{os.getegid()} {shown} on the node)",
        )
    # A loose mode would let others swap entries too; the owner may put it back without any capability.
    if stat.S_IMODE(info.st_mode) != DIR_MODE:
        try:
            os.fchmod(fd, DIR_MODE)
        except BaseException:
            os.close(fd)
            raise
    return fd


def _read_entry(dir_fd: int, filename: str) -> FileState:
    try:
        info = os.stat(filename, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return FileState(EntryKind.MISSING)
    if stat.S_ISLNK(info.st_mode):
        return FileState(EntryKind.SYMLINK)
    if not stat.S_ISREG(info.st_mode):
        return FileState(EntryKind.OTHER)
    mode = stat.S_IMODE(info.st_mode)
    if mode != FILE_MODE or info.st_nlink != 1 or info.st_uid != os.geteuid():
        # Not intact whatever it holds, so it is replaced without being read: reading a file host root made
        # unreadable (chmod 000) would need CAP_DAC_OVERRIDE, which the agent does not hold.
        return FileState(EntryKind.REGULAR, "", info.st_nlink, mode, info.st_uid)
    try:
        # O_NONBLOCK: if a FIFO is swapped in between stat and open, the open must not hang.
        fd = os.open(filename, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=dir_fd)
    except FileNotFoundError:
        return FileState(EntryKind.MISSING)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return FileState(EntryKind.SYMLINK)
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return FileState(EntryKind.OTHER)
        digest = hashlib.sha256()
        while chunk := os.read(fd, 1 << 16):
            digest.update(chunk)
        return FileState(EntryKind.REGULAR, digest.hexdigest(), info.st_nlink, stat.S_IMODE(info.st_mode), info.st_uid)
    finally:
        os.close(fd)


def _unlink_quietly(name: str, dir_fd: int) -> None:
    try:
        os.unlink(name, dir_fd=dir_fd)
    except OSError:
        pass
