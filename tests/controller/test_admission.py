"""Admission decisions: refuse invalid profiles with lint messages; warn about pods using missing profiles."""

from __future__ import annotations

from typing import Any

from seccomp_operator.controller.admission import review_pod, review_profile


def manifest(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "seccomp-operator.io/v1alpha1",
        "kind": "SeccompProfile",
        "metadata": {"name": "p", "namespace": "ns"},
        "spec": spec,
    }


GOOD = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"]}


def test_valid_profile_is_admitted() -> None:
    assert review_profile(manifest(GOOD), None, {}) == (None, [])


def test_invalid_profile_is_refused_naming_the_field() -> None:
    refusal, _ = review_profile(manifest({**GOOD, "defaultErrnoRet": 1}), None, {})
    assert refusal is not None
    assert "/spec/defaultErrnoRet" in refusal


def test_metadata_only_update_of_an_invalid_object_passes() -> None:
    # A finalizer removal must never be blocked by the spec's validity.
    bad = manifest({**GOOD, "defaultErrnoRet": 1})
    assert review_profile(bad, bad, {}) == (None, [])


def test_missing_base_is_a_warning_not_a_refusal() -> None:
    refusal, warnings = review_profile(manifest({**GOOD, "baseProfileName": "base"}), None, {})
    assert refusal is None
    assert any("base profile 'base' does not exist" in w for w in warnings)


def pod(profile: str) -> dict[str, Any]:
    return {
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "securityContext": {"seccompProfile": {"type": "Localhost", "localhostProfile": profile}},
                }
            ]
        }
    }


def test_pod_warnings() -> None:
    profiles = {
        "ns/ready": {"status": {"phase": "Ready"}},
        "ns/slow": {"status": {"phase": "Installing", "summary": {"installed": 1, "targeted": 3}}},
    }
    assert review_pod(pod("seccomp-operator/ns/ready.json"), profiles) == []
    assert review_pod(pod("other/thing.json"), profiles) == []
    [missing] = review_pod(pod("seccomp-operator/ns/nope.json"), profiles)
    assert "does not exist" in missing and "CreateContainerError" in missing
    [slow] = review_pod(pod("seccomp-operator/ns/slow.json"), profiles)
    assert "not Ready" in slow and "1/3" in slow
