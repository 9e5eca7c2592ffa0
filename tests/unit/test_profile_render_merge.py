"""Rendering (the bytes nodes get), merging with base profiles, manifests and the on-node path."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from seccomp_operator.bpf_sink import MemfdSink
from seccomp_operator.profile import (
    Arg,
    Profile,
    Rule,
    build_manifest,
    compile_profile,
    localhost_profile,
    merge,
    render,
    rule_origin,
    split_spec,
    to_oci,
    validate_profile,
    validate_resource,
)

PROFILE = {
    "syscalls": [
        {
            "args": [{"op": "SCMP_CMP_MASKED_EQ", "valueTwo": 0, "value": 255, "index": 1}],
            "action": "SCMP_ACT_ALLOW",
            "names": ["ioctl"],
        },
        {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
        {"errnoRet": 38, "names": ["clone3"], "action": "SCMP_ACT_ERRNO"},
    ],
    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"],
    "defaultErrnoRet": 1,
    "defaultAction": "SCMP_ACT_ERRNO",
}


def test_render_is_canonical() -> None:
    validation = validate_profile(PROFILE)
    assert validation.profile is not None
    rendered = render(validation.profile)
    assert rendered.content.endswith("}\n") and not rendered.content.endswith("\n\n")
    assert rendered.sha256 == hashlib.sha256(rendered.content.encode()).hexdigest()
    data = json.loads(rendered.content)
    assert list(data) == ["defaultAction", "defaultErrnoRet", "architectures", "syscalls"]
    assert list(data["syscalls"][0]) == ["names", "action", "args"]
    assert list(data["syscalls"][2]) == ["names", "action", "errnoRet"]
    assert data["syscalls"][0]["args"] == [{"index": 1, "value": 255, "op": "SCMP_CMP_MASKED_EQ"}]  # valueTwo 0 omitted
    # the same profile written in another key order renders to the same bytes
    shuffled = json.loads(json.dumps(PROFILE, sort_keys=True))
    again = validate_profile(shuffled)
    assert again.profile is not None and render(again.profile) == rendered


def test_render_keeps_errno_zero_and_drops_empty_optional_fields() -> None:
    profile = Profile("SCMP_ACT_ALLOW", None, (), (), None, None, (Rule(("ptrace",), "SCMP_ACT_ERRNO", 0),))
    assert json.loads(render(profile).content) == {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["ptrace"], "action": "SCMP_ACT_ERRNO", "errnoRet": 0}],
    }


def test_null_and_empty_lists_normalise_to_the_same_profile() -> None:
    a = validate_profile({"defaultAction": "SCMP_ACT_ALLOW", "flags": [], "architectures": None, "syscalls": None})
    b = validate_profile({"defaultAction": "SCMP_ACT_ALLOW"})
    assert a.profile == b.profile


def test_partial_profiles_refuse_to_render_or_compile() -> None:
    partial = Profile(None)
    with pytest.raises(ValueError, match="defaultAction"):
        render(partial)
    with pytest.raises(ValueError, match="defaultAction"):
        compile_profile(partial)
    assert to_oci(partial, allow_partial=True) == {}


def test_merge_orders_base_first_and_child_defaults_win() -> None:
    base = Profile(
        "SCMP_ACT_ERRNO",
        38,
        ("SCMP_ARCH_X86_64",),
        ("SECCOMP_FILTER_FLAG_LOG",),
        "/run/base.sock",
        "base",
        (Rule(("read",), "SCMP_ACT_ALLOW"),),
    )
    child = Profile(
        "SCMP_ACT_KILL_PROCESS",
        None,
        ("SCMP_ARCH_AARCH64", "SCMP_ARCH_X86_64"),
        (),
        None,
        None,
        (Rule(("write",), "SCMP_ACT_ALLOW", None, (Arg(0, 1, "SCMP_CMP_EQ"),)),),
    )
    merged = merge(base, child)
    assert merged.default_action == "SCMP_ACT_KILL_PROCESS"
    assert merged.default_errno_ret is None  # the errno went with the base's action
    assert merged.architectures == ("SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64")
    assert merged.flags == ("SECCOMP_FILTER_FLAG_LOG",)
    assert (merged.listener_path, merged.listener_metadata) == ("/run/base.sock", "base")
    assert [r.names for r in merged.syscalls] == [("read",), ("write",)]
    assert rule_origin(0, base) == ("base", 0) and rule_origin(1, base) == ("child", 0)


def test_merge_child_without_default_inherits_it() -> None:
    base = Profile("SCMP_ACT_ERRNO", 1)
    child = Profile(None, 38, listener_metadata="child")
    merged = merge(base, child)
    assert (merged.default_action, merged.default_errno_ret) == ("SCMP_ACT_ERRNO", 38)
    assert merged.listener_metadata == "child"


def manifest(spec: dict[str, object], name: str = "web", namespace: str | None = "team-a") -> dict[str, object]:
    return build_manifest(name=name, namespace=namespace, spec=spec)


def test_validate_resource_splits_operator_fields() -> None:
    spec = {**PROFILE, "nodeSelector": {"kubernetes.io/arch": "amd64"}}
    result = validate_resource(manifest(spec))
    assert result.ok, result.findings
    assert result.node_selector == {"kubernetes.io/arch": "amd64"}
    assert result.base_profile_name is None
    assert result.localhost_profile == "seccomp-operator/team-a/web.json"
    assert result.profile == validate_profile(PROFILE).profile
    profile_fields, operator_fields = split_spec(spec)
    assert set(operator_fields) == {"nodeSelector"} and "nodeSelector" not in profile_fields


def test_child_with_base_may_leave_the_default_to_it() -> None:
    result = validate_resource(
        manifest({"baseProfileName": "runc-base", "syscalls": [{"names": ["mount"], "action": "SCMP_ACT_ALLOW"}]})
    )
    assert result.ok, result.findings
    assert result.base_profile_name == "runc-base"
    assert result.profile is not None and result.profile.default_action is None
    without_base = validate_resource(manifest({"syscalls": [{"names": ["mount"], "action": "SCMP_ACT_ALLOW"}]}))
    assert "missing-default-action" in {f.code for f in without_base.findings}


@pytest.mark.parametrize(
    ("change", "code", "pointer"),
    [
        ({"apiVersion": "security-profiles-operator.x-k8s.io/v1beta1"}, "spo-resource", "/apiVersion"),
        ({"apiVersion": "v1"}, "wrong-api-version", "/apiVersion"),
        ({"kind": "ConfigMap"}, "wrong-kind", "/kind"),
        ({"metadata": {"name": "Web_1"}}, "invalid-name", "/metadata/name"),
        ({"metadata": {"name": "a" * 233}}, "name-too-long", "/metadata/name"),
        ({"metadata": {"name": "web", "namespace": "Team A"}}, "invalid-namespace", "/metadata/namespace"),
        ({"spec": None}, "missing-field", "/spec"),
        ({"spec": {**PROFILE, "baseProfileName": "Base!"}}, "invalid-base-profile-name", "/spec/baseProfileName"),
        ({"spec": {**PROFILE, "nodeSelector": ["a"]}}, "invalid-node-selector", "/spec/nodeSelector"),
        (
            {"spec": {**PROFILE, "nodeSelector": {"bad key!": "x"}}},
            "invalid-node-selector",
            "/spec/nodeSelector/bad key!",
        ),
        ({"spec": {**PROFILE, "nodeSelector": {"zone": "-x"}}}, "invalid-node-selector", "/spec/nodeSelector/zone"),
        ({"spec": {**PROFILE, "nodeselector": {}}}, "case-variant-key", "/spec/nodeselector"),
        ({"extra": 1}, "unknown-key", "/extra"),
    ],
)
def test_resource_errors(change: dict[str, object], code: str, pointer: str) -> None:
    data = {**manifest(dict(PROFILE)), **change}
    result = validate_resource(data)
    assert (code, pointer) in {(f.code, f.pointer) for f in result.findings if f.is_error}, result.findings
    assert result.profile is None and not result.ok


def test_localhost_profile() -> None:
    assert localhost_profile("team-a", "web.v2") == "seccomp-operator/team-a/web.v2.json"
    for namespace, name in [("..", "x"), ("a", "../etc/passwd"), ("a", ""), ("A", "x"), ("a", "x/y"), ("a", "a" * 251)]:
        with pytest.raises(ValueError):
            localhost_profile(namespace, name)


class CountingSink(MemfdSink):
    """A sink that reports a program of a chosen size, to drive the BPF size checks without a huge profile."""

    def __init__(self, instructions: int) -> None:
        super().__init__()
        self.instructions = instructions

    def getvalue(self) -> bytes:
        real = super().getvalue()
        return real + b"\0" * 8 * max(0, self.instructions - len(real) // 8)


@pytest.mark.parametrize(
    ("sizes", "code", "calls"),
    [
        ([2000, 2000, 4500], "bpf-too-large", 3),  # per-architecture sum near the limit: the combined build decides
        ([1900, 1900, 3700], "bpf-near-limit", 3),
        ([1000, 1000], None, 2),  # far from the limit: no combined build
        ([5000, 100], "bpf-too-large", 2),  # one section alone is over: no combined build needed
    ],
)
def test_bpf_size_limits(sizes: list[int], code: str | None, calls: int) -> None:
    remaining = list(sizes)

    def factory() -> CountingSink:
        return CountingSink(remaining.pop(0))

    validation = validate_profile(PROFILE, bpf_sink=factory)
    size_codes = {f.code for f in validation.findings} & {"bpf-too-large", "bpf-near-limit"}
    assert size_codes == ({code} if code else set())
    assert len(sizes) - len(remaining) == calls
    assert validation.ok is (code != "bpf-too-large")


def test_injected_sink_receives_real_bpf() -> None:
    programs: list[bytes] = []

    class Recording(MemfdSink):
        def getvalue(self) -> bytes:
            programs.append(super().getvalue())
            return programs[-1]

    validation = validate_profile(PROFILE, bpf_sink=Recording)
    assert validation.ok
    assert len(programs) == 2 and all(p and len(p) % 8 == 0 for p in programs)


def test_export_failure_is_a_finding() -> None:
    class Closed(MemfdSink):
        def fileno(self) -> int:
            os.close(super().fileno())
            self._fd = -1
            return 1_000_000  # not an open descriptor

    validation = validate_profile(PROFILE, bpf_sink=Closed)
    assert {f.code for f in validation.errors} == {"libseccomp-refused"}
