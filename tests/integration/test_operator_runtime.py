"""End to end: a SeccompProfile applied to the API server is validated by the controller, written by the node
agent, loaded by containerd the way its CRI plugin loads a Localhost profile, and enforced by runc."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from seccomp_operator.testing.controlplane import ControlPlane
from seccomp_operator.testing.runtime import ContainerdHarness
from seccomp_operator.testing.simulation import Simulation, apply_profile, wait_until

NODE = "runtime-node"
ARCHES = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_AARCH64"]
# busybox sh + the applets used below, plus what runc itself needs once the filter is loaded (found with
# tests/runtime: SCMP_ACT_LOG runs), plus the privilege-drop calls runc makes when noNewPrivileges is off.
ALLOWED = sorted({
    "arch_prctl", "brk", "clone", "close", "dup2", "execve", "exit_group", "fcntl", "getcwd", "getdents64",
    "getpid", "getppid", "getrandom", "getuid", "ioctl", "mmap", "mprotect", "munmap", "newfstatat", "openat",
    "prctl", "prlimit64", "read", "readlink", "rseq", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn",
    "set_robust_list", "set_tid_address", "uname", "wait4", "write", "epoll_ctl", "epoll_pwait", "exit", "fstat",
    "fstatfs", "futex", "gettid", "madvise", "nanosleep", "sched_yield", "sigaltstack", "tgkill", "capget",
    "capset", "chdir", "faccessat2", "setgid", "setgroups", "setresgid", "setresuid", "setuid",
})  # fmt: skip


@pytest.fixture(scope="module")
def node_sim(
    control_plane: ControlPlane, crds: tuple[str, ...], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Simulation]:
    control_plane.kubectl("create", "namespace", "seccomp-operator", check=False)
    with Simulation(control_plane.kubeconfig_path, tmp_path_factory.mktemp("e2e")) as sim:
        sim.add_nodes([NODE])
        sim.start_controller()
        yield sim


def install(cp: ControlPlane, sim: Simulation, namespace: str, name: str, spec: dict[str, Any]) -> Path:
    """Apply a SeccompProfile and return the path of the file the agent wrote once status says Ready."""
    apply_profile(cp, namespace, name, spec)
    cp.kubectl("wait", "--for=condition=Ready", f"seccompprofile/{name}", "-n", namespace, "--timeout=60s")
    localhost = cp.kubectl("get", "scp", name, "-n", namespace, "-o", "jsonpath={.status.localhostProfile}").stdout
    # What the kubelet does: join the kubelet seccomp root and the localhostProfile string.
    path = sim.root_of(NODE) / localhost
    wait_until(path.exists, timeout=10, what=f"{path} on the node")
    return path.resolve()


def test_deny_list_written_by_the_agent_denies_mkdir(
    runtime: ContainerdHarness, node_sim: Simulation, control_plane: ControlPlane, namespace: str
) -> None:
    path = install(
        control_plane,
        node_sim,
        namespace,
        "deny-mkdir",
        {
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ARCHES,
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
        },
    )
    result = runtime.run_shell("echo allowed; mkdir /tmp/x; echo mkdir=$?", seccomp_profile=path)
    assert result.exit_code == 0, result.describe()
    assert "allowed" in result.stdout
    assert "Operation not permitted" in result.stderr
    assert "mkdir=1" in result.stdout


def test_allow_list_written_by_the_agent_refuses_what_it_does_not_list(
    runtime: ContainerdHarness, node_sim: Simulation, control_plane: ControlPlane, namespace: str
) -> None:
    path = install(
        control_plane,
        node_sim,
        namespace,
        "allow-list",
        {
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 38,
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ALLOWED, "action": "SCMP_ACT_ALLOW"}],
        },
    )
    # Kubernetes' default (allowPrivilegeEscalation unset): runc loads the filter before dropping privileges.
    result = runtime.run_shell(
        "echo listed; mkdir /tmp/x; echo mkdir=$?", seccomp_profile=path, no_new_privileges=False
    )
    assert result.exit_code == 0, result.describe()
    assert "listed" in result.stdout
    assert "Function not implemented" in result.stderr  # errno 38 from the default action
    assert "mkdir=1" in result.stdout


def test_argument_condition_written_by_the_agent_is_enforced(
    runtime: ContainerdHarness, node_sim: Simulation, control_plane: ControlPlane, namespace: str
) -> None:
    # chmod/fchmodat with the world-writable bit (S_IWOTH, 0o002) in the mode fail with EPERM; other modes work.
    rules = [
        {
            "names": ["chmod"],
            "action": "SCMP_ACT_ERRNO",
            "errnoRet": 1,
            "args": [{"index": 1, "value": 0o002, "valueTwo": 0o002, "op": "SCMP_CMP_MASKED_EQ"}],
        },
        {
            "names": ["fchmodat"],
            "action": "SCMP_ACT_ERRNO",
            "errnoRet": 1,
            "args": [{"index": 2, "value": 0o002, "valueTwo": 0o002, "op": "SCMP_CMP_MASKED_EQ"}],
        },
    ]
    path = install(
        control_plane,
        node_sim,
        namespace,
        "no-world-write",
        {
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": rules,
        },
    )
    result = runtime.run_shell(
        "mkdir /tmp/d; chmod 755 /tmp/d; echo a=$?; chmod 777 /tmp/d; echo b=$?", seccomp_profile=path
    )
    assert result.exit_code == 0, result.describe()
    assert "a=0" in result.stdout
    assert "b=1" in result.stdout
    assert "Operation not permitted" in result.stderr
