"""A seccomp profile file on disk is loaded by containerd and enforced by runc in a real container.

Each profile is written to ``<tmp>/var/lib/kubelet/seccomp/seccomp-operator/<ns>/<name>.json`` and given to
``ctr run --seccomp --seccomp-profile <absolute path>``, which goes through containerd's
``contrib/seccomp.WithProfile``, the same function the CRI plugin uses for ``Localhost`` profiles (see
``seccomp_operator/testing/README.md``). The container image is busybox, so the syscalls below are busybox's
on x86_64 (``mkdir``, ``chmod``); the ``*at`` variants are listed too so the rules mean the same elsewhere.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from seccomp_operator.testing.runtime import ContainerdHarness, ContainerTimeoutError

pytestmark = pytest.mark.runtime

# The ``write_profile`` fixture (conftest.py): (namespace, name, dict or file text) -> absolute path.
WriteProfile = Callable[[str, str, "dict[str, Any] | str"], Path]

EPERM_TEXT = "Operation not permitted"  # errno 1
EACCES_TEXT = "Permission denied"  # errno 13
ENOSYS_TEXT = "Function not implemented"  # errno 38

MKDIR_DENIED: dict[str, Any] = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
}

# What busybox sh + echo/ls/cat/mkdir/stat make, from `strace -f busybox sh -c '...'` on the host.
BUSYBOX_SYSCALLS = [
    "arch_prctl", "brk", "clone", "close", "dup2", "execve", "exit_group", "fcntl", "getcwd", "getdents64",
    "getpid", "getppid", "getrandom", "getuid", "ioctl", "mkdir", "mkdirat", "mmap", "mprotect", "munmap",
    "newfstatat", "openat", "prctl", "prlimit64", "read", "readlink", "rseq", "rt_sigaction",
    "rt_sigprocmask", "rt_sigreturn", "sendfile", "set_robust_list", "set_tid_address", "uname", "wait4",
    "write",
]  # fmt: skip
# runc (a Go program) still runs after it loads the filter. Seen with defaultAction SCMP_ACT_LOG and
# noNewPrivileges (filter loaded just before execve): futex, epoll_ctl, fstatfs. The rest is Go runtime
# housekeeping that may happen on a busy machine; allowing it keeps the test from being flaky.
RUNC_AFTER_FILTER_SYSCALLS = [
    "epoll_ctl", "epoll_pwait", "epoll_wait", "exit", "fstat", "fstatfs", "futex", "gettid", "madvise",
    "nanosleep", "sched_yield", "sigaltstack", "tgkill",
]  # fmt: skip
# Without noNewPrivileges (Kubernetes' default: allowPrivilegeEscalation unset) runc loads the filter
# *before* it switches user and drops capabilities, so these must be allowed too (also seen with LOG).
RUNC_PRIVILEGE_DROP_SYSCALLS = [
    "capget", "capset", "chdir", "faccessat2", "setgid", "setgroups", "setresgid", "setresuid", "setuid",
]  # fmt: skip


def allow_list(names: list[str]) -> dict[str, Any]:
    return {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 38,
        "syscalls": [{"names": sorted(set(names)), "action": "SCMP_ACT_ALLOW"}],
    }


def test_exit_code_and_streams_without_seccomp(runtime_clean: ContainerdHarness) -> None:
    res = runtime_clean.run_shell(
        "grep '^Seccomp:' /proc/self/status; mkdir /tmp/x && echo made; echo oops >&2; exit 7",
        seccomp_profile=None,
    )
    assert res.exit_code == 7, res.describe()
    assert res.stdout == "Seccomp:\t0\nmade\n", res.describe()
    assert res.stderr == "oops\n", res.describe()


def test_deny_list_profile(runtime_clean: ContainerdHarness, write_profile: WriteProfile) -> None:
    path = write_profile("team-a", "deny-mkdir", MKDIR_DENIED)
    res = runtime_clean.run_shell(
        "grep '^Seccomp:' /proc/self/status; echo ok; ls -d /tmp; mkdir /tmp/x; echo mkdir=$?; ls /tmp",
        seccomp_profile=path,
    )
    assert res.exit_code == 0, res.describe()
    # Seccomp: 2 is SECCOMP_MODE_FILTER: runc installed a filter.
    assert res.stdout == "Seccomp:\t2\nok\n/tmp\nmkdir=1\n", res.describe()
    assert res.stderr == f"mkdir: can't create directory '/tmp/x': {EPERM_TEXT}\n", res.describe()


@pytest.mark.parametrize(
    "no_new_privileges",
    [pytest.param(True, id="noNewPrivileges"), pytest.param(False, id="kubernetes-default")],
)
def test_allow_list_profile(
    runtime_clean: ContainerdHarness, write_profile: WriteProfile, no_new_privileges: bool
) -> None:
    names = BUSYBOX_SYSCALLS + RUNC_AFTER_FILTER_SYSCALLS + RUNC_PRIVILEGE_DROP_SYSCALLS
    assert "chmod" not in names and "fchmodat" not in names
    path = write_profile("team-a", "allow-list", allow_list(names))
    res = runtime_clean.run_shell(
        "echo ok; mkdir /tmp/x && ls -d /tmp/x; cat /etc/group; chmod 700 /tmp/x; echo chmod=$?",
        seccomp_profile=path,
        no_new_privileges=no_new_privileges,
    )
    assert res.exit_code == 0, res.describe()
    assert res.stdout == "ok\n/tmp/x\nroot:x:0:\nchmod=1\n", res.describe()
    # The unlisted chmod gets the profile's defaultErrnoRet (38), a value chmod never returns by itself.
    assert res.stderr == f"chmod: /tmp/x: {ENOSYS_TEXT}\n", res.describe()


def test_allow_list_must_cover_runc_when_privileges_are_not_dropped_first(
    runtime_clean: ContainerdHarness, write_profile: WriteProfile
) -> None:
    """The same allow-list file behaves differently under ctr's default spec and under Kubernetes'."""
    path = write_profile("team-a", "allow-list-short", allow_list(BUSYBOX_SYSCALLS + RUNC_AFTER_FILTER_SYSCALLS))
    ok = runtime_clean.run_shell("echo ok", seccomp_profile=path, no_new_privileges=True)
    assert (ok.exit_code, ok.stdout) == (0, "ok\n"), ok.describe()
    broken = runtime_clean.run_shell("echo ok", seccomp_profile=path, no_new_privileges=False)
    assert broken.exit_code != 0, broken.describe()
    assert broken.stdout == "", broken.describe()
    # runc's init hits the filter in its own setup (chdir to the cwd is the first casualty); the error
    # surfaces from task creation, i.e. StartContainer -> RunContainerError in Kubernetes.
    assert "runc create failed" in broken.stderr, broken.describe()
    assert ENOSYS_TEXT.lower() in broken.stderr, broken.describe()


def test_argument_conditions(runtime_clean: ContainerdHarness, write_profile: WriteProfile) -> None:
    """``SCMP_CMP_MASKED_EQ`` (``(arg & value) == valueTwo``) and ``SCMP_CMP_EQ`` on chmod's mode."""

    def mode_rules(op: str, value: int, value_two: int, errno: int) -> list[dict[str, Any]]:
        # chmod(path, mode): mode is arg 1; fchmod(fd, mode): arg 1; fchmodat(dirfd, path, mode): arg 2.
        return [
            {
                "names": [name],
                "action": "SCMP_ACT_ERRNO",
                "errnoRet": errno,
                "args": [{"index": index, "value": value, "valueTwo": value_two, "op": op}],
            }
            for name, index in (("chmod", 1), ("fchmod", 1), ("fchmodat", 2))
        ]

    profile = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            # Nothing may become world-writable: deny when the S_IWOTH bit (0o002) is set.
            *mode_rules("SCMP_CMP_MASKED_EQ", 0o002, 0o002, 1),
            # And exactly 0700 is refused with a different errno.
            *mode_rules("SCMP_CMP_EQ", 0o700, 0, 13),
        ],
    }
    path = write_profile("team-b", "no-world-writable", profile)
    res = runtime_clean.run_shell(
        "mkdir /tmp/d; for m in 755 777 750 702 700 711; do chmod $m /tmp/d; "
        'echo "$m rc=$? now=$(stat -c %a /tmp/d)"; done',
        seccomp_profile=path,
    )
    assert res.exit_code == 0, res.describe()
    assert res.stdout.splitlines() == [
        "755 rc=0 now=755",
        "777 rc=1 now=755",  # 0o777 & 0o002 == 0o002: denied
        "750 rc=0 now=750",
        "702 rc=1 now=750",  # denied: only the masked bit matters
        "700 rc=1 now=750",  # EQ 0o700: denied
        "711 rc=0 now=711",  # neither condition holds
    ], res.describe()
    assert res.stderr.splitlines() == [
        f"chmod: /tmp/d: {EPERM_TEXT}",
        f"chmod: /tmp/d: {EPERM_TEXT}",
        f"chmod: /tmp/d: {EACCES_TEXT}",
    ], res.describe()


def _read_line_with_deadline(fd: int, deadline: float) -> str:
    """Read one line from a FIFO opened O_RDONLY|O_NONBLOCK, waiting on the fd until ``deadline``."""
    data = b""
    while not data.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no line from the container in time (got {data!r})")
        readable, _, _ = select.select([fd], [], [], remaining)
        if readable:
            chunk = os.read(fd, 4096)
            if not chunk:
                raise EOFError(f"the container closed the FIFO early (got {data!r})")
            data += chunk
    return data.decode()


def test_profile_file_is_read_at_container_creation(
    runtime_clean: ContainerdHarness, write_profile: WriteProfile, tmp_path: Path
) -> None:
    """Replacing the file changes the next container; a container created before keeps its filter."""
    chmod_denied = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["chmod", "fchmodat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}],
    }
    path = write_profile("team-c", "app", MKDIR_DENIED)

    sync = tmp_path / "sync"
    sync.mkdir()
    os.mkfifo(sync / "ready")
    os.mkfifo(sync / "go")
    # Our read end exists before the container opens "ready" for writing, and our O_RDWR end of "go" lets
    # the container open it at once and block in read until we write (or close it on failure).
    ready_fd = os.open(sync / "ready", os.O_RDONLY | os.O_NONBLOCK)
    go_fd = os.open(sync / "go", os.O_RDWR)
    mount = ["--mount", f"type=bind,src={sync},dst=/sync,options=rbind:rw"]
    early_script = (
        "mkdir /tmp/a; echo a1=$?; echo ready > /sync/ready; read go < /sync/go; "
        "mkdir /tmp/b; echo a2=$?; chmod 700 /tmp; echo a3=$?"
    )
    with ThreadPoolExecutor(max_workers=1) as pool:
        try:
            early = pool.submit(
                runtime_clean.run,
                ["/bin/sh", "-c", early_script],
                seccomp_profile=path,
                timeout=30,
                extra_args=mount,
            )
            assert _read_line_with_deadline(ready_fd, time.monotonic() + 20) == "ready\n"

            # The old container is running under version 1. Publish version 2 the way the agent does.
            assert write_profile("team-c", "app", chmod_denied) == path
            late = runtime_clean.run_shell("mkdir /tmp/b; echo b1=$?; chmod 700 /tmp; echo b2=$?", seccomp_profile=path)
            assert late.exit_code == 0, late.describe()
            assert late.stdout == "b1=0\nb2=1\n", late.describe()
            assert late.stderr == f"chmod: /tmp: {EACCES_TEXT}\n", late.describe()

            os.write(go_fd, b"go\n")
            res = early.result(timeout=30)
        finally:
            os.close(go_fd)  # unblocks the container if we failed before writing
            os.close(ready_fd)
    assert res.exit_code == 0, res.describe()
    # Still version 1 in the container created before the replacement.
    assert res.stdout == "a1=1\na2=1\na3=0\n", res.describe()
    assert res.stderr.count(EPERM_TEXT) == 2, res.describe()


def _mkdir_rule_profile(**rule: Any) -> str:
    return json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], **rule}]})


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(None, "no such file or directory", id="missing-file"),
        pytest.param('{"defaultAction": "SCMP_ACT_ALLOW",', "decoding seccomp profile failed", id="bad-json"),
        pytest.param(
            _mkdir_rule_profile(action="SCMP_ACT_FOO"),
            "string SCMP_ACT_FOO is not a valid action for seccomp",
            id="unknown-action",
        ),
        pytest.param(
            _mkdir_rule_profile(action="SCMP_ACT_ERRNO", errnoRet=4095),
            "error adding seccomp filter rule for syscall mkdir",
            id="errno-4095",
        ),
    ],
)
def test_unusable_profile_fails_the_container(
    runtime_clean: ContainerdHarness, write_profile: WriteProfile, content: str | None, message: str
) -> None:
    path = write_profile("team-d", "broken", content if content is not None else "{}")
    if content is None:
        path.unlink()
    res = runtime_clean.run_shell("echo should-not-run", seccomp_profile=path)
    assert res.exit_code != 0, res.describe()
    assert res.stdout == "", res.describe()
    assert res.stderr.startswith("ctr: "), res.describe()
    assert message in res.stderr, res.describe()
    if content is None or content.endswith(","):
        # File errors come from containerd's WithProfile, with the path in the message.
        assert str(path) in res.stderr, res.describe()


@pytest.mark.parametrize(
    ("profile", "stdout", "stderr"),
    [
        pytest.param(
            '{"DEFAULTACTION": "SCMP_ACT_ALLOW", '
            '"Syscalls": [{"Names": ["mkdir"], "Action": "SCMP_ACT_ERRNO", "ErrnoRet": 1}]}',
            "Seccomp:\t2\nmkdir=1\n",
            f"mkdir: can't create directory '/tmp/x': {EPERM_TEXT}\n",
            id="keys-are-case-insensitive",
        ),
        pytest.param(
            '{"defaultAction": "SCMP_ACT_ALLOW", '
            '"syscalls": [{"name": "mkdir", "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}',
            "Seccomp:\t2\nmkdir=0\nx\n",
            "",
            id="docker-singular-name-is-dropped",
        ),
        pytest.param(
            _mkdir_rule_profile(action="SCMP_ACT_ERRNO", errnoRet=65536),
            "Seccomp:\t2\nmkdir=0\n",  # mkdir "succeeded" but there is no /tmp/x
            "",
            id="errno-65536-becomes-0-fake-success",
        ),
        pytest.param("{}", "Seccomp:\t0\nmkdir=0\nx\n", "", id="empty-object-is-unconfined"),
    ],
)
def test_silently_mishandled_profiles(
    runtime_clean: ContainerdHarness,
    write_profile: WriteProfile,
    profile: str,
    stdout: str,
    stderr: str,
) -> None:
    """What ``docs/seccomp-runtime-behaviour.md`` says the validator must catch, seen in a real container."""
    path = write_profile("team-e", "quirk", profile)
    res = runtime_clean.run_shell(
        "grep '^Seccomp:' /proc/self/status; mkdir /tmp/x; echo mkdir=$?; ls /tmp", seccomp_profile=path
    )
    assert res.exit_code == 0, res.describe()
    assert (res.stdout, res.stderr) == (stdout, stderr), res.describe()


def test_timeout_kills_and_removes_the_container(runtime_clean: ContainerdHarness) -> None:
    started = time.monotonic()
    with pytest.raises(ContainerTimeoutError, match="did not finish within"):
        runtime_clean.run_shell("echo started; exec sleep 60", seccomp_profile=None, timeout=1.0)
    assert time.monotonic() - started < 20
    assert runtime_clean.list_tasks() == []
    assert runtime_clean.list_containers() == []
    with contextlib.suppress(FileNotFoundError):
        assert not any((runtime_clean.runc_root / runtime_clean.namespace).iterdir())


def test_runc_1_1_refuses_any_seccomp_flag(runtime_clean: ContainerdHarness, write_profile: WriteProfile) -> None:
    """Why lint warns `flags-need-newer-runc`: runc 1.1 fails the container for any flag; newer runc accepts them."""
    import subprocess

    version = subprocess.run(["runc", "--version"], capture_output=True, text=True, check=True).stdout.split()[2]
    path = write_profile("flags", "log", {**MKDIR_DENIED, "flags": ["SECCOMP_FILTER_FLAG_LOG"]})
    result = runtime_clean.run_shell("echo ran", seccomp_profile=path)
    if version.startswith("1.1."):
        assert not result.ok
        assert "seccomp flags are not yet supported by runc" in result.stderr
    else:
        assert result.ok, result.describe()
