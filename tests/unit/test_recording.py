"""Recorded (audit arch, syscall number) pairs -> a SeccompProfile (seccomp_operator.profile.recording)."""

from __future__ import annotations

from typing import Any

import pytest

from seccomp_operator.commands.record import default_name
from seccomp_operator.profile import validate_profile, validate_resource
from seccomp_operator.profile.arches import ARCHES
from seccomp_operator.profile.recording import (
    GO_RUNTIME,
    RUNC_AFTER_FILTER,
    RUNC_PRIVILEGE_DROP,
    RUNTIME_CALLS,
    VDSO_CALLS,
    X32_SYSCALL_BIT,
    NamedCalls,
    build_recorded_manifest,
    name_calls,
    recording_spec,
)
from seccomp_operator.profile.syscalls import is_known, resolve

X86_64 = ARCHES["SCMP_ARCH_X86_64"].token
X86 = ARCHES["SCMP_ARCH_X86"].token
AARCH64 = ARCHES["SCMP_ARCH_AARCH64"].token


def nr(name: str, arch: str = "SCMP_ARCH_X86_64") -> int:
    number = resolve(name, arch)
    assert number >= 0, (name, arch)
    return number


def spec_of(manifest: dict[str, Any] | None) -> dict[str, Any]:
    assert manifest is not None
    spec: dict[str, Any] = manifest["spec"]
    return spec


def test_calls_are_named_on_the_architecture_that_made_them() -> None:
    named = name_calls(
        [(X86_64, nr("read")), (X86_64, nr("getuid")), (X86, 199), (X86, nr("read", "SCMP_ARCH_X86")), (X86_64, 0)]
    )
    assert named.names == {
        "SCMP_ARCH_X86_64": frozenset({"read", "getuid"}),
        "SCMP_ARCH_X86": frozenset({"getuid32", "read"}),
    }
    assert named.unnamed == ()
    assert named.unknown_arches == ()


def test_x32_calls_are_told_apart_from_x86_64_by_the_syscall_bit() -> None:
    named = name_calls([(X86_64, X32_SYSCALL_BIT | 0), (X86_64, 0)])
    assert named.names == {"SCMP_ARCH_X32": frozenset({"read"}), "SCMP_ARCH_X86_64": frozenset({"read"})}


def test_numbers_libseccomp_cannot_name_and_unknown_architectures_are_kept_apart() -> None:
    named = name_calls([(X86_64, 462), (X86_64, 100000), (0x12345678, 1), (X86_64, 0)])
    assert named.unnamed == (("SCMP_ARCH_X86_64", 462), ("SCMP_ARCH_X86_64", 100000))
    assert named.unknown_arches == (0x12345678,)
    assert named.names == {"SCMP_ARCH_X86_64": frozenset({"read"})}


def test_manifest_allows_the_recorded_calls_and_nothing_else_with_runtime_none() -> None:
    named = NamedCalls({"SCMP_ARCH_X86_64": frozenset({"read", "execve", "exit_group"})})
    result = build_recorded_manifest(named, name="app", namespace="team-a", runtime="none", errno=38)
    assert result.manifest == {
        "apiVersion": "seccomp-operator.io/v1alpha1",
        "kind": "SeccompProfile",
        "metadata": {"name": "app", "namespace": "team-a"},
        "spec": {
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 38,
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": sorted({"read", "execve", "exit_group"} | VDSO_CALLS), "action": "SCMP_ACT_ALLOW"}],
        },
    }
    assert result.recorded == {"read", "execve", "exit_group"}
    assert result.added == VDSO_CALLS
    assert validate_resource(result.manifest).ok
    assert result.findings == ()


@pytest.mark.parametrize(
    ("runtime", "included", "excluded"),
    [
        ("runc", RUNC_AFTER_FILTER | RUNC_PRIVILEGE_DROP | GO_RUNTIME, frozenset()),
        (
            "runc-no-new-privileges",
            RUNC_AFTER_FILTER | GO_RUNTIME,
            RUNC_PRIVILEGE_DROP - RUNC_AFTER_FILTER - GO_RUNTIME,
        ),
    ],
)
def test_runtime_calls_are_added(runtime: str, included: frozenset[str], excluded: frozenset[str]) -> None:
    named = NamedCalls({"SCMP_ARCH_X86_64": frozenset({"exit_group"})})
    result = build_recorded_manifest(named, name="app", namespace=None, runtime=runtime)
    names = set(spec_of(result.manifest)["syscalls"][0]["names"])
    assert included <= names
    assert not excluded & names
    assert "capset" in excluded or runtime == "runc"


def test_runtime_tables_name_real_syscalls() -> None:
    for names in RUNTIME_CALLS.values():
        assert all(is_known(name) for name in names), sorted(name for name in names if not is_known(name))


def test_observed_architectures_in_table_order_and_the_profile_lints() -> None:
    named = name_calls([(X86_64, nr("read")), (X86, 199)])
    result = build_recorded_manifest(named, name="app", namespace=None)
    spec = spec_of(result.manifest)
    assert spec["architectures"] == ["SCMP_ARCH_X86", "SCMP_ARCH_X86_64"]
    assert {"getuid32", "read"} <= set(spec["syscalls"][0]["names"])
    assert not [f for f in result.findings if f.is_error]
    # names that exist on one of the two only are warnings (a rule applies to every architecture of the filter)
    assert {f.code for f in result.findings} <= {"syscall-missing-on-arch"}


def test_leaving_out_a_used_architecture_is_an_error() -> None:
    named = name_calls([(X86_64, nr("read")), (X86, 199)])
    result = build_recorded_manifest(named, name="app", namespace=None, architectures=["SCMP_ARCH_X86_64"])
    assert result.manifest is None
    (finding,) = [f for f in result.findings if f.is_error]
    assert finding.code == "recorded-architecture-left-out"
    assert "SCMP_ARCH_X86" in finding.message


def test_declaring_more_architectures_than_were_used() -> None:
    named = name_calls([(X86_64, nr("read"))])
    result = build_recorded_manifest(
        named, name="app", namespace=None, architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]
    )
    assert spec_of(result.manifest)["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]


def test_unnamed_calls_are_warnings_that_say_the_profile_cannot_allow_them() -> None:
    named = name_calls([(X86_64, 462), (X86_64, nr("read"))])
    result = build_recorded_manifest(named, name="app", namespace=None)
    assert result.manifest is not None
    (finding,) = [f for f in result.findings if f.code == "recorded-syscall-unnamed"]
    assert finding.severity == "warning"
    assert "462" in finding.message
    assert "no profile can allow it" in finding.message


def test_unknown_audit_architecture_is_an_error() -> None:
    result = build_recorded_manifest(name_calls([(0x1234, 1)]), name="app", namespace=None)
    assert result.manifest is None
    assert [f.code for f in result.findings] == ["recorded-unknown-architecture"]


def test_an_invalid_name_is_reported_by_the_manifest_validation() -> None:
    named = NamedCalls({"SCMP_ARCH_X86_64": frozenset({"read"})})
    result = build_recorded_manifest(named, name="Not_Valid", namespace=None)
    assert result.manifest is None
    assert "invalid-name" in {f.code for f in result.findings}


def test_recording_spec_notifies_everything_but_write() -> None:
    arches = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    spec = recording_spec("/run/seccomp-operator/recorder.sock", arches, metadata="rec-1")
    validation = validate_profile(spec)
    assert validation.ok, [f for f in validation.findings if f.is_error]
    notify, allow = spec["syscalls"]  # type: ignore[misc]
    assert notify["action"] == "SCMP_ACT_NOTIFY"
    assert allow == {"names": ["write"], "action": "SCMP_ACT_ALLOW"}
    assert "write" not in notify["names"]
    assert {"read", "execve", "getuid32", "socketcall", "openat"} <= set(notify["names"])
    assert spec["listenerMetadata"] == "rec-1"
    assert spec["defaultAction"] == "SCMP_ACT_ERRNO"


@pytest.mark.parametrize(
    ("command", "expected"),
    [("/usr/bin/python3.11", "python3.11"), ("My_App", "my-app"), ("./--", "recorded"), ("x" * 80, "x" * 63)],
)
def test_default_name(command: str, expected: str) -> None:
    assert default_name(command) == expected
