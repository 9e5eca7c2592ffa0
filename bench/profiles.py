"""The profile set every benchmark applies, to seccomp-operator and to the peer alike.

Only fields both systems' SeccompProfile schemas accept (no `defaultErrnoRet`, which SPO's v1 schema lacks). Each
profile carries a revision marker that survives either system's rendering: the rule for `mkdirat` returns errno
`MARKER_ERRNO_BASE + revision`. The on-disk observer reads it back from the file a node holds, so "the new revision
is on this node" means the same thing for both systems without knowing how either renders.
"""

from __future__ import annotations

import json
from typing import Any

# Names known to libseccomp on both x86_64 and aarch64 (no legacy x86-only calls such as open/stat).
SYSCALLS = (  # noqa: SIM905
    "read write close fstat lseek mmap mprotect munmap brk rt_sigaction rt_sigprocmask rt_sigreturn ioctl "
    "pread64 pwrite64 readv writev sched_yield mremap msync mincore madvise dup dup3 nanosleep getpid "
    "socket connect accept sendto recvfrom sendmsg recvmsg shutdown bind listen getsockname getpeername "
    "socketpair setsockopt getsockopt clone execve exit wait4 kill uname fcntl flock fsync fdatasync "
    "truncate ftruncate getcwd chdir fchdir fchmod fchown umask gettimeofday getrlimit getrusage sysinfo "
    "times getuid getgid setuid setgid geteuid getegid setpgid getppid setsid futex epoll_ctl epoll_pwait "
    "openat newfstatat unlinkat exit_group set_tid_address clock_gettime clock_nanosleep tgkill prlimit64 "
    "getrandom eventfd2 pipe2 statx"
).split()
MARKER_SYSCALL = "mkdirat"
# Far from the default action's errno (EPERM = 1), so no renderer folds the marker rule into the default.
MARKER_ERRNO_BASE = 40


def profile_spec(index: int, revision: int) -> dict[str, Any]:
    """Profile `index` at `revision`: sizes vary a little by index; every revision changes the content."""
    allowed = SYSCALLS[: len(SYSCALLS) - (index % 7) - revision]
    return {
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"],
        "syscalls": [
            {"names": allowed, "action": "SCMP_ACT_ALLOW"},
            {"names": [MARKER_SYSCALL], "action": "SCMP_ACT_ERRNO", "errnoRet": MARKER_ERRNO_BASE + revision},
        ],
    }


def profile_name(index: int) -> str:
    return f"profile-{index:03d}"


def revision_of(content: bytes) -> int | None:
    """The revision marker in a seccomp JSON file as a node holds it; None when absent or not JSON (yet)."""
    try:
        document = json.loads(content)
    except ValueError:
        return None
    if not isinstance(document, dict):
        return None
    for rule in document.get("syscalls") or []:
        if not isinstance(rule, dict):
            continue
        names = rule.get("names") or ([rule["name"]] if "name" in rule else [])
        errno = rule.get("errnoRet")
        if MARKER_SYSCALL in names and isinstance(errno, int) and errno >= MARKER_ERRNO_BASE:
            return errno - MARKER_ERRNO_BASE
    return None
