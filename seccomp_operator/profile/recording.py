"""Recorded system calls -> a SeccompProfile: the pure half of `seccomp-operator record` and of cluster recordings.

A recorder (local: `seccomp_operator.record`; in a cluster: the node-side collector) hands over the set of
(AUDIT_ARCH token, syscall number) pairs it saw. This module names them with libseccomp, per architecture, and builds
an allow-list profile: default `SCMP_ACT_ERRNO`, one `SCMP_ACT_ALLOW` rule with every recorded name, `architectures`
listing each architecture the workload used (a 32-bit `int 0x80` call from a 64-bit process arrives as X86 and adds
SCMP_ARCH_X86), plus two documented additions a recording cannot see:

- the container runtime's own calls between loading the filter and exec'ing the workload (`RUNTIME_CALLS`), needed
  when a profile recorded outside a container is used in one;
- the calls the vDSO usually answers without entering the kernel (`VDSO_CALLS`), which a recording cannot observe
  but which reach the filter on nodes whose clock source has no vDSO support.

Names are resolved on the architecture that made the call, so the profile says `getuid32` for a 32-bit x86 call and
`getuid` for the x86_64 one. A rule applies to every architecture of the filter, so the allow-list is the union of
the per-architecture name sets; a name absent on one of them does nothing there (lint warns about it).
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from seccomp_operator.profile import libseccomp, syscalls
from seccomp_operator.profile.arches import ARCHES
from seccomp_operator.profile.findings import Finding, error, has_errors, warning
from seccomp_operator.profile.resource import build_manifest, validate_resource

X32_SYSCALL_BIT = 0x40000000  # x32 calls arrive with AUDIT_ARCH_X86_64 and this bit set in the number

# runc 1.1 (Debian 12's 1.1.5, libseccomp 2.5.4) after it has loaded the container's filter, before execve: measured
# by recording runc itself with a NOTIFY profile (listenerPath) around a static program whose only call is exit_group
# (tests/runtime/test_record_runtime.py re-measures it and checks it against this table). `write` cannot be
# observed that way (runc refuses NOTIFY on `write`: it writes to its sync pipe after loading the filter) and is
# listed from runc's source.
RUNC_AFTER_FILTER = frozenset(
    {
        "close", "epoll_ctl", "execve", "fstatfs", "futex", "getdents64", "getpid", "openat", "read",
        "rt_sigreturn", "write",
    }
)  # fmt: skip
# Without noNewPrivileges (a Kubernetes container whose allowPrivilegeEscalation is not false) runc loads the filter
# before it changes user, group and capabilities and enters the working directory; measured the same way.
RUNC_PRIVILEGE_DROP = frozenset(
    {
        "capget", "capset", "chdir", "faccessat2", "fcntl", "fstat", "getcwd", "getppid", "newfstatat", "prctl",
        "setgid", "setgroups", "setuid",
    }
)  # fmt: skip
# runc is a Go program: while it waits between loading the filter and exec, its runtime may preempt a goroutine
# (tgkill + a signal frame: rt_sigreturn, sigaltstack), park or wake a thread (futex, nanosleep, sched_yield,
# epoll_pwait), or return memory (madvise, munmap, mmap). Rare, timing-dependent, so allowed rather than measured.
GO_RUNTIME = frozenset(
    {
        "epoll_pwait", "exit", "futex", "getpid", "gettid", "madvise", "mmap", "munmap", "nanosleep", "rt_sigreturn",
        "sched_yield", "sigaltstack", "tgkill",
    }
)  # fmt: skip
RUNTIME_CALLS: Mapping[str, frozenset[str]] = {
    "runc": RUNC_AFTER_FILTER | RUNC_PRIVILEGE_DROP | GO_RUNTIME,
    "runc-no-new-privileges": RUNC_AFTER_FILTER | GO_RUNTIME,
    "none": frozenset(),
}
# Calls the Linux vDSO serves in user space (x86_64: clock_gettime, gettimeofday, time, getcpu; aarch64 and others:
# clock_gettime, gettimeofday, clock_getres). Where the clock source does not allow that (some hypervisors), libc
# falls back to the real syscall, which the filter then sees.
VDSO_CALLS = frozenset({"clock_getres", "clock_gettime", "getcpu", "gettimeofday", "time"})

_TOKEN_TO_ARCH = {info.token: spec for spec, info in ARCHES.items()}


@dataclass(frozen=True, slots=True)
class NamedCalls:
    """Recorded calls by architecture (OCI name, e.g. SCMP_ARCH_X86_64) and syscall name."""

    names: Mapping[str, frozenset[str]]
    unnamed: tuple[tuple[str, int], ...] = ()  # (architecture, number) libseccomp cannot name: no rule can allow it
    unknown_arches: tuple[int, ...] = ()  # AUDIT_ARCH tokens that are no seccomp architecture runc knows


def arch_of(token: int, number: int) -> tuple[str | None, int]:
    """(OCI architecture, number in libseccomp's numbering for it) of a recorded (AUDIT_ARCH, nr)."""
    spec = _TOKEN_TO_ARCH.get(token)
    if spec == "SCMP_ARCH_X86_64" and number & X32_SYSCALL_BIT:
        return "SCMP_ARCH_X32", number  # libseccomp's x32 numbers carry the bit too
    return spec, number


def syscall_name(spec_arch: str, number: int) -> str | None:
    """libseccomp's name of syscall `number` on the architecture, or None when it has none."""
    if not syscalls.supported(spec_arch):
        return None
    pointer = libseccomp.resolve_num_arch(ARCHES[spec_arch].token, number)
    if not pointer:
        return None
    try:
        return ctypes.string_at(pointer).decode()
    finally:
        libseccomp.free(pointer)


def name_calls(calls: Iterable[tuple[int, int]]) -> NamedCalls:
    names: dict[str, set[str]] = {}
    unnamed: set[tuple[str, int]] = set()
    unknown: set[int] = set()
    for token, number in calls:
        spec, lib_number = arch_of(token, number)
        if spec is None or not ARCHES[spec].runc:
            unknown.add(token)
            continue
        name = syscall_name(spec, lib_number)
        if name is None:
            unnamed.add((spec, number))
        else:
            names.setdefault(spec, set()).add(name)
    return NamedCalls(
        {arch: frozenset(found) for arch, found in names.items()}, tuple(sorted(unnamed)), tuple(sorted(unknown))
    )


@dataclass(frozen=True, slots=True)
class RecordedProfile:
    manifest: dict[str, object] | None  # None when there is any error
    findings: tuple[Finding, ...]
    recorded: frozenset[str]  # names the workload called
    added: frozenset[str]  # names added for the runtime and the vDSO that the workload did not call
    architectures: tuple[str, ...]


def build_recorded_manifest(
    named: NamedCalls,
    *,
    name: str,
    namespace: str | None,
    architectures: Sequence[str] | None = None,
    runtime: str = "runc",
    errno: int = 1,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> RecordedProfile:
    """The SeccompProfile manifest allowing what was recorded. `architectures` (OCI names) replaces the observed
    ones; leaving out an architecture the workload used is an error, since its calls would then be refused."""
    findings: list[Finding] = []
    observed = tuple(arch for arch in ARCHES if arch in named.names)
    declared = tuple(dict.fromkeys(architectures)) if architectures else observed
    for token in named.unknown_arches:
        findings.append(
            error(
                "/spec/architectures",
                "recorded-unknown-architecture",
                f"the workload made calls with audit architecture {token:#x}, which no runtime can put in a filter",
            )
        )
    missing = [arch for arch in observed if arch not in declared]
    if missing:
        findings.append(
            error(
                "/spec/architectures",
                "recorded-architecture-left-out",
                f"the workload made calls on {', '.join(missing)}, which the chosen architectures leave out: those "
                "calls would be refused",
            )
        )
    for arch, number in named.unnamed:
        findings.append(
            warning(
                "/spec/syscalls/0/names",
                "recorded-syscall-unnamed",
                f"the workload made syscall {number} on {arch}, which libseccomp {syscalls.libseccomp_version()} "
                "cannot name, so no profile can allow it: under this profile it fails (runc answers ENOSYS for "
                "syscalls newer than every one its libseccomp knows, the profile's errno for the others)",
            )
        )
    if runtime not in RUNTIME_CALLS:
        raise ValueError(f"unknown runtime {runtime!r}; known: {', '.join(RUNTIME_CALLS)}")
    recorded = frozenset().union(*named.names.values()) if named.names else frozenset()
    extra = {
        call for call in RUNTIME_CALLS[runtime] | VDSO_CALLS if any(syscalls.exists_on(call, arch) for arch in declared)
    }
    allowed = sorted(recorded | extra)
    spec: dict[str, object] = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": errno,
        "architectures": list(declared),
        "syscalls": [{"names": allowed, "action": "SCMP_ACT_ALLOW"}],
    }
    manifest = build_manifest(name=name, namespace=namespace, spec=spec, labels=labels, annotations=annotations)
    if not has_errors(findings):
        findings.extend(validate_resource(manifest).findings)
    return RecordedProfile(
        None if has_errors(findings) else manifest,
        tuple(findings),
        recorded,
        frozenset(extra - recorded),
        declared,
    )


# The architectures a node's kernel runs, by native architecture: a recording profile covers them all, so a 32-bit
# call from a 64-bit workload is recorded (and named) rather than refused by the filter's bad-architecture action.
NODE_ARCHITECTURES: Mapping[str, tuple[str, ...]] = {
    "SCMP_ARCH_X86_64": ("SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"),
    "SCMP_ARCH_AARCH64": ("SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"),
    "SCMP_ARCH_PPC64LE": ("SCMP_ARCH_PPC64LE",),
    "SCMP_ARCH_S390X": ("SCMP_ARCH_S390X", "SCMP_ARCH_S390"),
    "SCMP_ARCH_RISCV64": ("SCMP_ARCH_RISCV64",),
}
ENOSYS = 38


def recording_spec(
    listener_path: str, architectures: Sequence[str], *, metadata: str | None = None
) -> dict[str, object]:
    """The profile a recorded container runs under: SCMP_ACT_NOTIFY for every syscall libseccomp can name on one of
    the architectures, so each call goes to the collector at `listener_path`, except `write`, which runc refuses to
    notify (it writes to its sync pipe after loading the filter) and which is therefore allowed, and always added
    to the result. Calls libseccomp cannot name fail with ENOSYS, as they will under any profile made from the
    recording (no rule can allow them)."""
    names = sorted(
        name
        for name in syscalls.known_names()
        if name != "write" and any(syscalls.exists_on(name, arch) for arch in architectures)
    )
    spec: dict[str, object] = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": ENOSYS,
        "architectures": list(architectures),
        "listenerPath": listener_path,
    }
    if metadata:
        spec["listenerMetadata"] = metadata
    spec["syscalls"] = [
        {"names": names, "action": "SCMP_ACT_NOTIFY"},
        {"names": ["write"], "action": "SCMP_ACT_ALLOW"},
    ]
    return spec
