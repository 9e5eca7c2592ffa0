"""The kernel's seccomp user-notification interface, through ctypes: what the recorder needs and nothing else.

- `install_notify_filter()` (in the process to be recorded): a one-instruction BPF program that returns
  SECCOMP_RET_USER_NOTIF for every system call of every architecture, loaded with SECCOMP_FILTER_FLAG_NEW_LISTENER.
  The kernel evaluates it before any syscall runs, in this task and in every thread and child it creates later
  (filters are inherited across clone and kept across execve), and hands the listener fd back (O_CLOEXEC).
- `Listener` (in the supervisor): `receive()` one notification (pid, audit arch, syscall number), `allow()` it to go
  on unchanged (SECCOMP_USER_NOTIF_FLAG_CONTINUE). A task whose call is notified waits in the kernel until the
  listener answers: nothing is dropped and nothing is rate-limited.
- `pidfd_getfd()` takes the listener fd out of the recorded process (what runc does too).

Kernel facts used (Linux >= 5.10 for all of them; uapi `linux/seccomp.h`): struct seccomp_notif is 80 bytes
(id u64, pid u32, flags u32, seccomp_data{nr s32, arch u32, ip u64, args u64[6]}), struct seccomp_notif_resp 24
(id u64, val s64, error s32, flags u32); NOTIF_RECV wants a zeroed buffer; `pid` is in the pid namespace of the task
that calls NOTIF_RECV (0 when that task cannot see it); the listener polls EPOLLHUP once no task uses the filter any
more (5.8), i.e. once every recorded task has exited and been reaped.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct
from dataclasses import dataclass
from typing import Any

from seccomp_operator.profile.syscalls import native_number

SECCOMP_SET_MODE_FILTER = 1
SECCOMP_GET_NOTIF_SIZES = 3
SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3
SECCOMP_RET_USER_NOTIF = 0x7FC00000
SECCOMP_USER_NOTIF_FLAG_CONTINUE = 1
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36
_BPF_RET_K = 0x06  # BPF_RET | BPF_K: return the constant

_NOTIF = struct.Struct("=QII" + "iIQ6Q")  # seccomp_notif with its seccomp_data inline
_RESP = struct.Struct("=QqiI")  # seccomp_notif_resp
_SIZES = struct.Struct("=HHH")  # seccomp_notif_sizes


def _ioc(direction: str, number: int, size: int) -> int:
    """Linux `_IOC(dir, '!', nr, size)`. powerpc and mips use 3 direction bits and 13 size bits, where read is
    2 and write is 4; the others (x86, arm, s390, riscv, loongarch) use 2 and 14, read 2, write 1."""
    if platform.machine().startswith(("ppc", "mips")):
        bits = {"r": 2, "w": 4, "rw": 6}[direction]
        return bits << 29 | size << 16 | ord("!") << 8 | number
    bits = {"r": 2, "w": 1, "rw": 3}[direction]
    return bits << 30 | size << 16 | ord("!") << 8 | number


NOTIF_RECV = _ioc("rw", 0, _NOTIF.size)
NOTIF_SEND = _ioc("rw", 1, _RESP.size)

_libc: Any = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long
_prctl = _libc.prctl
_prctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong)
_prctl.restype = ctypes.c_int
_ioctl = _libc.ioctl
_ioctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p)
_ioctl.restype = ctypes.c_int


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


@dataclass(frozen=True, slots=True)
class Notification:
    id: int
    pid: int
    arch: int  # AUDIT_ARCH_* of the call (a 32-bit `int 0x80` call from a 64-bit process is AUDIT_ARCH_I386)
    nr: int  # the syscall number in that architecture's numbering (x32 calls carry __X32_SYSCALL_BIT)


def _check(result: int, what: str) -> int:
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")
    return result


class NotifyFilter:
    """Everything `install_notify_filter` needs, prepared in advance: a forked child about to install the filter
    should run as little Python as possible, and nothing that allocates a ctypes object."""

    def __init__(self) -> None:
        self._instructions = (_SockFilter * 1)(_SockFilter(_BPF_RET_K, 0, 0, SECCOMP_RET_USER_NOTIF))
        self._program = _SockFprog(1, self._instructions)
        self._program_ref = ctypes.byref(self._program)
        self._seccomp = native_number("seccomp")

    def install(self, *, no_new_privs: bool) -> int:
        """Load the filter into the calling thread; returns the listener fd. `no_new_privs` is needed without
        CAP_SYS_ADMIN (the kernel refuses the filter otherwise)."""
        if no_new_privs:
            _check(_prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
        result = _syscall(
            ctypes.c_long(self._seccomp),
            ctypes.c_long(SECCOMP_SET_MODE_FILTER),
            ctypes.c_long(SECCOMP_FILTER_FLAG_NEW_LISTENER),
            self._program_ref,
        )
        return _check(int(result), "seccomp(SECCOMP_SET_MODE_FILTER, NEW_LISTENER)")


def notif_sizes() -> tuple[int, int, int]:
    """(seccomp_notif, seccomp_notif_resp, seccomp_data) as the running kernel sizes them."""
    buf = ctypes.create_string_buffer(_SIZES.size)
    call = (native_number("seccomp"), SECCOMP_GET_NOTIF_SIZES, 0)
    result = _syscall(*(ctypes.c_long(value) for value in call), buf)
    _check(int(result), "seccomp(SECCOMP_GET_NOTIF_SIZES)")
    sizes: tuple[int, int, int] = _SIZES.unpack(buf.raw)
    return sizes


def check_kernel() -> None:
    """Raise OSError with a clear reason when this kernel cannot record: no user notification, or structures of
    another size than the ones this module was written for."""
    sizes = notif_sizes()
    if sizes[0] < _NOTIF.size or sizes[1] < _RESP.size:
        raise OSError(errno.ENOTSUP, f"unexpected seccomp notification sizes {sizes}")


def pidfd_getfd(pidfd: int, target_fd: int) -> int:
    """A duplicate of `target_fd` of the process behind `pidfd` (Linux 5.6; needs ptrace access to it)."""
    result = _syscall(
        ctypes.c_long(native_number("pidfd_getfd")), ctypes.c_long(pidfd), ctypes.c_long(target_fd), ctypes.c_long(0)
    )
    return _check(int(result), "pidfd_getfd")


def set_child_subreaper() -> None:
    """Orphaned descendants are re-parented to this process instead of init, so it can reap and stop them all."""
    _check(_prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), "prctl(PR_SET_CHILD_SUBREAPER)")


def is_notify_fd(fd: int) -> bool:
    try:
        return os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:seccomp notify"
    except OSError:
        return False


class Listener:
    """The supervisor's end of a notify filter. Owns the fd."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._recv_buf = ctypes.create_string_buffer(max(_NOTIF.size, notif_sizes()[0]))
        self._resp_buf = ctypes.create_string_buffer(max(_RESP.size, notif_sizes()[1]))

    def receive(self) -> Notification | None:
        """The next pending notification, or None when the one that woke us is gone (its task was killed or
        interrupted by a signal; an interrupted call is notified again when the kernel restarts it)."""
        ctypes.memset(self._recv_buf, 0, len(self._recv_buf))
        if not self._ioctl(NOTIF_RECV, self._recv_buf, "SECCOMP_IOCTL_NOTIF_RECV"):
            return None
        notif_id, pid, _flags, nr, arch, *_rest = _NOTIF.unpack_from(self._recv_buf.raw)
        return Notification(notif_id, pid, arch, nr)

    def allow(self, notification_id: int) -> bool:
        """Let the call proceed as if no filter had seen it. False when the task is no longer waiting for it."""
        _RESP.pack_into(self._resp_buf, 0, notification_id, 0, 0, SECCOMP_USER_NOTIF_FLAG_CONTINUE)
        return self._ioctl(NOTIF_SEND, self._resp_buf, "SECCOMP_IOCTL_NOTIF_SEND")

    def _ioctl(self, request: int, buffer: Any, name: str) -> bool:
        """True when done, False on ENOENT (the notification's task is gone); EINTR is retried."""
        while _ioctl(self.fd, request, buffer) < 0:
            code = ctypes.get_errno()
            if code == errno.ENOENT:
                return False
            if code != errno.EINTR:
                raise OSError(code, f"{name}: {os.strerror(code)}")
        return True

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
