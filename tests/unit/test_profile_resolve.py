"""`resolve_profile`: a profile with its chain of base profiles, validated as the nodes will get it, with every finding
pointing into the profile's own manifest."""

from __future__ import annotations

from typing import Any

import pytest

import seccomp_operator.profile.validate as validate_module
from seccomp_operator.profile import MAX_BASE_DEPTH, build_manifest, render, resolve_profile, validate_resource
from seccomp_operator.profile.validate import MAX_ARG_COMPARISONS

X86_64 = "SCMP_ARCH_X86_64"


def manifest(name: str, spec: dict[str, Any], namespace: str | None = "ns") -> dict[str, Any]:
    return build_manifest(name=name, namespace=namespace, spec=spec)


def rule(*names: str, action: str = "SCMP_ACT_ALLOW", **fields: Any) -> dict[str, Any]:
    return {"names": list(names), "action": action, **fields}


BASE = {"defaultAction": "SCMP_ACT_ERRNO", "architectures": [X86_64], "syscalls": [rule("read", "write")]}


def child(base: str, *rules: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"baseProfileName": base, "syscalls": list(rules), **fields}


def by_name(*manifests: dict[str, Any]) -> dict[str, Any]:
    return {m["metadata"]["name"]: m for m in manifests}


def test_without_a_base_it_is_validate_resource() -> None:
    own = manifest("plain", {**BASE, "syscalls": [rule("read"), rule("read")]})
    resolved = resolve_profile(own, {})
    assert resolved.ok and resolved.bases == ()
    assert resolved.findings == validate_resource(own).findings
    assert resolved.profile == validate_resource(own).profile


def test_a_chain_is_merged_root_first() -> None:
    root = manifest("root", BASE)
    middle = manifest("middle", child("root", rule("getpid")))
    leaf = manifest("leaf", child("middle", rule("mkdir", action="SCMP_ACT_LOG")))
    resolved = resolve_profile(leaf, by_name(root, middle, leaf))
    assert resolved.ok, resolved.findings
    assert resolved.bases == ("middle", "root")
    assert resolved.profile is not None
    assert [r.names for r in resolved.profile.syscalls] == [("read", "write"), ("getpid",), ("mkdir",)]
    assert resolved.profile.default_action == "SCMP_ACT_ERRNO"
    render(resolved.profile)  # complete: it renders


@pytest.mark.parametrize(
    ("chain", "shown"),
    [({"a": "b", "b": "a"}, "a -> b -> a"), ({"a": "b", "b": "c", "c": "b"}, "a -> b -> c -> b")],
)
def test_a_cycle_is_reported_at_the_base_field(chain: dict[str, str], shown: str) -> None:
    profiles = by_name(*(manifest(name, {**BASE, "baseProfileName": base}) for name, base in chain.items()))
    resolved = resolve_profile(profiles["a"], profiles)
    assert resolved.reason == "BaseProfileCycle"
    assert [(f.code, f.pointer) for f in resolved.errors] == [("base-profile-cycle", "/spec/baseProfileName")]
    assert shown in resolved.errors[0].message


def test_a_missing_base_is_reported_with_the_profile_that_names_it() -> None:
    direct = resolve_profile(manifest("a", child("gone", rule("getpid"))), {})
    assert direct.reason == "BaseProfileMissing"
    assert [(f.code, f.pointer) for f in direct.errors] == [("base-profile-missing", "/spec/baseProfileName")]
    assert direct.errors[0].message == "base profile `gone` does not exist in namespace `ns`"
    profiles = by_name(manifest("a", child("b", rule("getpid"))), manifest("b", {**BASE, "baseProfileName": "c"}))
    deeper = resolve_profile(profiles["a"], profiles)
    assert deeper.reason == "BaseProfileMissing" and deeper.bases == ("b",)
    assert (
        deeper.errors[0].message
        == "base profile `b` names `c` as its base, but base profile `c` does not exist in namespace `ns`"
    )


def test_a_chain_deeper_than_the_limit_is_refused() -> None:
    names = [f"p{i}" for i in range(MAX_BASE_DEPTH + 2)]
    profiles = by_name(
        *(manifest(name, child(names[i + 1], rule("getpid"))) for i, name in enumerate(names[:-1])),
        manifest(names[-1], BASE),
    )
    assert resolve_profile(profiles[names[-2]], profiles).ok  # one level
    resolved = resolve_profile(profiles["p0"], profiles)
    assert resolved.reason == "InvalidSpec"
    assert [f.code for f in resolved.errors] == ["base-profile-too-deep"]


def test_an_invalid_base_blocks_the_child() -> None:
    profiles = by_name(manifest("base", {**BASE, "defaultErrnoRet": 5000}), manifest("a", child("base")))
    resolved = resolve_profile(profiles["a"], profiles)
    assert resolved.reason == "BaseProfileInvalid"
    (finding,) = resolved.errors
    assert finding.pointer == "/spec/baseProfileName"
    assert finding.message.startswith("base profile `base` is invalid: /spec/defaultErrnoRet: errno 5000")


def test_the_own_spec_is_checked_before_the_chain() -> None:
    resolved = resolve_profile(manifest("a", child("gone", rule("getpidd"))), {})
    assert resolved.reason == "InvalidSpec"
    assert [(f.code, f.pointer) for f in resolved.errors] == [("unknown-syscall", "/spec/syscalls/0/names/0")]


def test_a_conflict_with_the_base_points_at_the_childs_rule_and_names_the_base() -> None:
    base = manifest("base", {**BASE, "syscalls": [rule("read"), rule("ptrace", action="SCMP_ACT_KILL_PROCESS")]})
    own = manifest("a", child("base", rule("getpid", "ptrace", action="SCMP_ACT_LOG")))
    # each is valid on its own
    assert validate_resource(base).ok and validate_resource(own).ok
    resolved = resolve_profile(own, by_name(base, own))
    assert resolved.reason == "BaseProfileConflict"
    (finding,) = resolved.errors
    assert (finding.code, finding.pointer) == ("conflicting-actions", "/spec/syscalls/0/names/1")
    assert "at /spec/syscalls/1/names/0 of base profile `base`" in finding.message


def test_an_error_inside_the_base_points_at_the_base_field() -> None:
    # The base's 64-bit value is fine on x86_64 alone; the child adds 32-bit x86, where libseccomp would drop the
    # upper half of the value.
    big = {"index": 0, "value": 2**32 + 1, "op": "SCMP_CMP_EQ"}
    base = manifest("base", {**BASE, "syscalls": [rule("personality", args=[big])]})
    own = manifest("a", child("base", architectures=["SCMP_ARCH_X86"]))
    resolved = resolve_profile(own, by_name(base, own))
    assert resolved.reason == "BaseProfileConflict"
    (finding,) = resolved.errors
    assert (finding.code, finding.pointer) == ("value-exceeds-32-bit", "/spec/baseProfileName")
    assert finding.message.startswith("in base profile `base` at /spec/syscalls/0/args/0/value: ")


def test_warnings_that_need_the_base_are_found_and_base_only_warnings_are_left_to_the_base() -> None:
    base = manifest("base", {**BASE, "syscalls": [rule("read", "write"), rule("read")]})  # the base repeats `read`
    own = manifest("a", child("base", rule("reboot", action="SCMP_ACT_ERRNO"), rule("write")))
    resolved = resolve_profile(own, by_name(base, own))
    assert resolved.ok, resolved.errors
    assert [(f.code, f.pointer) for f in resolved.warnings] == [
        ("action-equals-default", "/spec/syscalls/0/action"),  # the default comes from the base
        ("duplicate-rule", "/spec/syscalls/1/names/0"),  # `write` is already in the base
    ]
    assert "/spec/syscalls/0/names/1 of base profile `base`" in resolved.warnings[1].message


def test_the_limits_apply_to_the_merged_result() -> None:
    def conditions(count: int) -> list[dict[str, Any]]:
        return [rule("ioctl", args=[{"index": 1, "value": i, "op": "SCMP_CMP_EQ"}]) for i in range(count)]

    half = MAX_ARG_COMPARISONS // 2 + 1
    base = manifest("base", {**BASE, "syscalls": conditions(half)})
    own = manifest("a", child("base", *conditions(half)[::-1]))
    resolved = resolve_profile(own, by_name(base, own))
    assert [(f.code, f.pointer) for f in resolved.errors] == [("too-complex", "/spec/syscalls")]


def test_the_merged_result_is_compiled_once(monkeypatch: pytest.MonkeyPatch) -> None:
    compiled: list[object] = []
    real = validate_module.compile_profile
    monkeypatch.setattr(validate_module, "compile_profile", lambda p, sink=None: compiled.append(p) or real(p, sink))
    root = manifest("root", BASE)
    middle = manifest("middle", {**BASE, "baseProfileName": "root"})
    leaf = manifest("leaf", child("middle", rule("getpid")))
    assert resolve_profile(leaf, by_name(root, middle, leaf)).ok
    assert len(compiled) == 1


def test_profiles_without_a_namespace_resolve_among_themselves() -> None:
    base = manifest("base", BASE, namespace=None)
    resolved = resolve_profile(manifest("a", child("gone"), namespace=None), by_name(base))
    assert resolved.errors[0].message == "base profile `gone` does not exist in its namespace"
    assert resolve_profile(manifest("a", child("base"), namespace=None), by_name(base)).ok
