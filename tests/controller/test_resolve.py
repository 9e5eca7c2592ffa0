"""Base-profile resolution: union of rules, cycles and missing bases reported, never guessed."""

from __future__ import annotations

import json
from typing import Any

from seccomp_operator.controller.resolve import resolve


def profile(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "ns"},
        "apiVersion": "seccomp-operator.io/v1alpha1",
        "kind": "SeccompProfile",
        "spec": spec,
    }


BASE = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "architectures": ["SCMP_ARCH_X86_64"],
    "syscalls": [{"names": ["ptrace"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
}


def test_child_gets_the_union_of_rules() -> None:
    profiles = {
        "ns/base": profile("base", BASE),
        "ns/child": profile(
            "child",
            {"baseProfileName": "base", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]},
        ),
    }
    result = resolve("ns/child", profiles)
    assert result.ok, result.message
    assert result.rendered is not None
    names = {n for rule in json.loads(result.rendered.content)["syscalls"] for n in rule["names"]}
    assert {"ptrace", "mkdir"} <= names
    assert result.bases == ["base"]


def test_missing_base_is_reported() -> None:
    result = resolve("ns/child", {"ns/child": profile("child", {**BASE, "baseProfileName": "gone"})})
    assert not result.ok
    assert result.reason == "BaseProfileMissing"
    assert "`gone`" in result.message


def test_cycle_is_reported() -> None:
    profiles = {
        "ns/a": profile("a", {**BASE, "baseProfileName": "b"}),
        "ns/b": profile("b", {**BASE, "baseProfileName": "a"}),
    }
    result = resolve("ns/a", profiles)
    assert not result.ok
    assert result.reason == "BaseProfileCycle"
    assert "a -> b -> a" in result.message


def test_invalid_base_blocks_the_child() -> None:
    profiles = {
        "ns/base": profile("base", {**BASE, "defaultErrnoRet": 5}),
        "ns/child": profile("child", {**BASE, "baseProfileName": "base"}),
    }
    result = resolve("ns/child", profiles)
    assert not result.ok
    assert result.reason == "BaseProfileInvalid"
