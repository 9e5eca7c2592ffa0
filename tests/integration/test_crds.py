"""The CRDs in crds/ against the real API server: installation, examples, schema + CEL rules, status, printing."""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from seccomp_operator.profile.resource import MAX_NAME
from seccomp_operator.testing.controlplane import ControlPlane

from .conftest import CRD_NAMES, EXAMPLES_DIR, GROUP, VERSION

SCP = "seccompprofiles"
PSCP = "publishedseccompprofiles"
NPR = "nodeprofilereports"
HASH = "a" * 64


def profile(name: str, spec: dict[str, Any] | None) -> dict[str, Any]:
    body: dict[str, Any] = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "SeccompProfile", "metadata": {"name": name}}
    if spec is not None:
        body["spec"] = spec
    return body


def error_message(exc: client.ApiException) -> str:
    try:
        return str(json.loads(exc.body)["message"])
    except (TypeError, ValueError, KeyError):
        return str(exc.body)


def rule(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"names": ["read"], "action": "SCMP_ACT_ERRNO"}
    base.update(fields)
    return base


def arg(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}
    base.update(fields)
    return base


ALLOW: dict[str, Any] = {"defaultAction": "SCMP_ACT_ALLOW"}

# (id, spec, substrings every one of which the API server's message must contain)
INVALID: list[tuple[str, dict[str, Any] | None, list[str]]] = [
    ("no-spec", None, ["spec: Required value"]),
    ("no-defaultAction", {"syscalls": [rule()]}, ["spec.defaultAction", "spec.defaultAction is required"]),
    ("unknown-action", {"defaultAction": "SCMP_ACT_FOO"}, ['spec.defaultAction: Unsupported value: "SCMP_ACT_FOO"']),
    (
        "notify-default",
        {"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/run/l.sock"},
        ["spec.defaultAction", "SCMP_ACT_NOTIFY cannot be the default action"],
    ),
    (
        "unknown-rule-action",
        {**ALLOW, "syscalls": [rule(action="SCMP_ACT_DENY")]},
        ['spec.syscalls[0].action: Unsupported value: "SCMP_ACT_DENY"'],
    ),
    (
        "arch-not-in-runc",
        {**ALLOW, "architectures": ["SCMP_ARCH_PARISC"]},
        ['spec.architectures[0]: Unsupported value: "SCMP_ARCH_PARISC"'],
    ),
    (
        "arch-docker-spelling",
        {**ALLOW, "architectures": ["amd64"]},
        ['spec.architectures[0]: Unsupported value: "amd64"'],
    ),
    (
        "duplicate-arch",
        {**ALLOW, "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86_64"]},
        ["spec.architectures[1]: Duplicate value"],
    ),
    ("unknown-flag", {**ALLOW, "flags": ["SECCOMP_FILTER_FLAG_NEW_LISTENER"]}, ["spec.flags[0]: Unsupported value"]),
    (
        "unknown-operator",
        {**ALLOW, "syscalls": [rule(args=[arg(op="SCMP_CMP_AND")])]},
        ['spec.syscalls[0].args[0].op: Unsupported value: "SCMP_CMP_AND"'],
    ),
    (
        "errno-4095",
        {**ALLOW, "syscalls": [rule(errnoRet=4095)]},
        ["spec.syscalls[0].errnoRet", "less than or equal to 4094"],
    ),
    (
        "errno-65536",
        {**ALLOW, "syscalls": [rule(errnoRet=65536)]},
        ["spec.syscalls[0].errnoRet", "less than or equal to 4094"],
    ),
    ("errno-negative", {**ALLOW, "syscalls": [rule(errnoRet=-1)]}, ["greater than or equal to 0"]),
    (
        "errno-string",
        {**ALLOW, "syscalls": [rule(errnoRet="EPERM")]},
        ["spec.syscalls[0].errnoRet", "must be of type integer"],
    ),
    (
        "default-errno-too-big",
        {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 5000},
        ["spec.defaultErrnoRet", "less than or equal to 4094"],
    ),
    (
        "default-errno-with-allow",
        {"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 1},
        ["spec.defaultErrnoRet", "only allowed when spec.defaultAction is SCMP_ACT_ERRNO or SCMP_ACT_TRACE"],
    ),
    (
        "errno-with-kill",
        {**ALLOW, "syscalls": [rule(action="SCMP_ACT_KILL_PROCESS", errnoRet=1)]},
        ["spec.syscalls[0].errnoRet", "only allowed when the rule's action is SCMP_ACT_ERRNO or SCMP_ACT_TRACE"],
    ),
    ("names-empty", {**ALLOW, "syscalls": [rule(names=[])]}, ["spec.syscalls[0].names", "at least 1 items"]),
    ("name-empty", {**ALLOW, "syscalls": [rule(names=[""])]}, ["spec.syscalls[0].names[0]", "at least 1 chars"]),
    ("name-upper-case", {**ALLOW, "syscalls": [rule(names=["Write"])]}, ["spec.syscalls[0].names[0]", "should match"]),
    ("rule-without-names", {**ALLOW, "syscalls": [{"action": "SCMP_ACT_ERRNO"}]}, ["names: Required value"]),
    (
        "index-6",
        {**ALLOW, "syscalls": [rule(args=[arg(index=6)])]},
        ["spec.syscalls[0].args[0].index", "less than or equal to 5"],
    ),
    (
        "seven-args",
        {**ALLOW, "syscalls": [rule(args=[arg(index=i % 6) for i in range(7)])]},
        ["spec.syscalls[0].args", "must have at most 6 items"],
    ),
    (
        "arg-without-value",
        {**ALLOW, "syscalls": [rule(args=[{"index": 0, "op": "SCMP_CMP_EQ"}])]},
        ["spec.syscalls[0].args[0].value: Required value"],
    ),
    (
        "negative-value",
        {**ALLOW, "syscalls": [rule(args=[arg(value=-1)])]},
        ["spec.syscalls[0].args[0].value", "greater than or equal to 0"],
    ),
    (
        "repeated-arg-index",
        {**ALLOW, "syscalls": [rule(args=[arg(index=1, value=1), arg(index=1, value=2)])]},
        ["spec.syscalls[0].args", "an argument index may appear only once per rule"],
    ),
    (
        "masked-eq-datum-outside-mask",
        {**ALLOW, "syscalls": [rule(args=[arg(op="SCMP_CMP_MASKED_EQ", value=0xFF, valueTwo=0x100)])]},
        ["spec.syscalls[0].args[0].valueTwo", "valueTwo has bits outside value"],
    ),
    (
        "masked-eq-high-bit-outside-mask",
        {**ALLOW, "syscalls": [rule(args=[arg(op="SCMP_CMP_MASKED_EQ", value=1, valueTwo=1 << 62)])]},
        ["valueTwo has bits outside value"],
    ),
    (
        "notify-on-write",
        {**ALLOW, "listenerPath": "/run/l.sock", "syscalls": [rule(names=["read", "write"], action="SCMP_ACT_NOTIFY")]},
        ["spec.syscalls[0].action", "SCMP_ACT_NOTIFY cannot be used for the write syscall"],
    ),
    (
        "notify-without-listener",
        {**ALLOW, "syscalls": [rule(names=["openat"], action="SCMP_ACT_NOTIFY")]},
        ["spec.listenerPath", "required when a rule in spec.syscalls uses SCMP_ACT_NOTIFY"],
    ),
    (
        "metadata-without-listener",
        {**ALLOW, "listenerMetadata": "x"},
        ["spec.listenerMetadata", "requires spec.listenerPath"],
    ),
    ("relative-listener", {**ALLOW, "listenerPath": "run/l.sock"}, ["spec.listenerPath", "should match"]),
    (
        "listener-too-long",
        {**ALLOW, "listenerPath": "/" + "x" * 107},
        ["spec.listenerPath", "may not be more than 107 bytes"],
    ),
    (
        "64-bit-value-with-x86",
        {
            **ALLOW,
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
            "syscalls": [rule(args=[arg(value=1 << 32)])],
        },
        ["spec.syscalls", "must be at most 4294967295", "32-bit architecture"],
    ),
    (
        "64-bit-valueTwo-with-arm",
        {
            **ALLOW,
            "architectures": ["SCMP_ARCH_ARM"],
            "syscalls": [rule(args=[arg(op="SCMP_CMP_MASKED_EQ", value=(1 << 33) - 1, valueTwo=1 << 32)])],
        },
        ["must be at most 4294967295"],
    ),
    (
        "base-is-self",
        {**ALLOW, "baseProfileName": "bad"},
        ["spec.baseProfileName", "must name another SeccompProfile"],
    ),
    ("base-not-a-name", {**ALLOW, "baseProfileName": "Not_A_Name"}, ["spec.baseProfileName", "should match"]),
    (
        "node-selector-bad-value",
        {**ALLOW, "nodeSelector": {"kubernetes.io/arch": "amd64 arm64"}},
        ["spec.nodeSelector.kubernetes.io/arch", "should match"],
    ),
    # The size limits the core enforces too (seccomp_operator.profile.validate), so validation stays fast.
    (
        "too-many-names",
        {**ALLOW, "syscalls": [rule(names=["read"] * 1024)] * 4 + [rule(names=["write"])]},
        ["spec.syscalls", "at most 4096 syscall names in all rules together"],
    ),
    (
        "too-many-conditions",
        {**ALLOW, "syscalls": [rule(names=["ioctl"], args=[arg(index=1, value=i)]) for i in range(65)]},
        ["spec.syscalls", "at most 64 argument conditions in all rules together"],
    ),
    (
        "too-many-conditions-counted-per-name",
        {**ALLOW, "syscalls": [rule(names=["ioctl", "fcntl"], args=[arg(index=i) for i in range(6)])] * 6},
        ["at most 64 argument conditions"],
    ),
]

# Just inside every bound above: the rules must not refuse these.
VALID_EDGES: list[tuple[str, dict[str, Any]]] = [
    ("errno-4094", {**ALLOW, "syscalls": [rule(errnoRet=4094)]}),
    ("errno-0", {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 0}),
    ("trace-errno", {"defaultAction": "SCMP_ACT_TRACE", "defaultErrnoRet": 7}),
    ("index-5", {**ALLOW, "syscalls": [rule(args=[arg(index=i) for i in range(6)])]}),
    (
        "masked-eq-datum-inside-mask",
        {**ALLOW, "syscalls": [rule(args=[arg(op="SCMP_CMP_MASKED_EQ", value=0xF0F0, valueTwo=0x9050)])]},
    ),
    (
        "masked-eq-top-bits",
        {**ALLOW, "syscalls": [rule(args=[arg(op="SCMP_CMP_MASKED_EQ", value=(1 << 63) - 1, valueTwo=1 << 62)])]},
    ),
    ("masked-eq-no-datum", {**ALLOW, "syscalls": [rule(args=[arg(op="SCMP_CMP_MASKED_EQ", value=0)])]}),
    (
        "int64-max-on-64-bit",
        {**ALLOW, "architectures": ["SCMP_ARCH_X86_64"], "syscalls": [rule(args=[arg(value=(1 << 63) - 1)])]},
    ),
    (
        "uint32-max-on-32-bit",
        {**ALLOW, "architectures": ["SCMP_ARCH_X86"], "syscalls": [rule(args=[arg(value=0xFFFFFFFF)])]},
    ),
    (
        "notify-with-listener",
        {
            **ALLOW,
            "listenerPath": "/run/seccomp-agent.sock",
            "listenerMetadata": "x",
            "syscalls": [rule(names=["read", "mount"], action="SCMP_ACT_NOTIFY")],
        },
    ),
    (
        "all-flags",
        {
            **ALLOW,
            "flags": [
                "SECCOMP_FILTER_FLAG_TSYNC",
                "SECCOMP_FILTER_FLAG_LOG",
                "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
            ],
        },
    ),
    ("base-other", {**ALLOW, "baseProfileName": "other", "nodeSelector": {"kubernetes.io/arch": "amd64", "empty": ""}}),
    ("no-syscalls-error-default", {"defaultAction": "SCMP_ACT_ERRNO"}),
    ("names-at-limit", {**ALLOW, "syscalls": [rule(names=["read"] * 1024)] * 4}),
    (
        "conditions-at-limit",
        {**ALLOW, "syscalls": [rule(names=["ioctl"], args=[arg(index=1, value=i)]) for i in range(64)]},
    ),
    # A child may leave the default action, its errno and the listener to its base (profile.merge semantics).
    (
        "child-inherits-from-base",
        {
            "baseProfileName": "base",
            "defaultErrnoRet": 38,
            "listenerMetadata": "x",
            "syscalls": [rule(names=["mount"], action="SCMP_ACT_NOTIFY")],
        },
    ),
]


@pytest.fixture
def report_names(custom_api: Any) -> Iterator[list[str]]:
    """Names of NodeProfileReports a test creates; deleted afterwards, since cluster-scoped objects outlive the
    test's namespace and the operator tests share this cluster."""
    names: list[str] = []
    yield names
    for name in names:
        with contextlib.suppress(client.ApiException):
            custom_api.delete_cluster_custom_object(GROUP, VERSION, NPR, name)


# ---- installation ------------------------------------------------------------------------------------------


def test_crds_are_established_with_the_contracted_names(crds: tuple[str, ...], api_client: Any) -> None:
    ext = client.ApiextensionsV1Api(api_client)
    by_name = {name: ext.read_custom_resource_definition(name) for name in CRD_NAMES}
    scp = by_name[f"seccompprofiles.{GROUP}"].spec
    assert (scp.scope, scp.names.kind, scp.names.short_names, scp.names.categories) == (
        "Namespaced",
        "SeccompProfile",
        ["scp"],
        ["seccomp"],
    )
    assert scp.versions[0].subresources.status is not None
    pscp = by_name[f"publishedseccompprofiles.{GROUP}"].spec
    assert (pscp.scope, pscp.names.kind) == ("Namespaced", "PublishedSeccompProfile")
    npr = by_name[f"nodeprofilereports.{GROUP}"].spec
    assert (npr.scope, npr.names.kind) == ("Cluster", "NodeProfileReport")
    assert npr.versions[0].subresources is None  # the whole object is the report
    for crd in by_name.values():
        assert [v.name for v in crd.spec.versions] == [VERSION]
        established = [c for c in crd.status.conditions if c.type == "Established"]
        assert established and established[0].status == "True"


# ---- examples ----------------------------------------------------------------------------------------------


def example_files() -> list[Path]:
    return sorted(EXAMPLES_DIR.glob("*.yaml"))


def test_examples_directory_has_profiles_and_a_pod() -> None:
    kinds = [doc["kind"] for path in example_files() for doc in yaml.safe_load_all(path.read_text()) if doc]
    assert kinds.count("SeccompProfile") >= 3
    assert "Pod" in kinds


def test_every_example_is_created_with_strict_field_validation(control_plane: ControlPlane, custom_api: Any) -> None:
    core = client.CoreV1Api(control_plane.api_client())
    # The ServiceAccount admission plugin refuses pods without their ServiceAccount, which
    # kube-controller-manager would normally create (it does not run here).
    try:
        core.create_namespaced_service_account("default", {"metadata": {"name": "default"}})
    except client.ApiException as exc:
        assert exc.status == 409, exc
    for path in example_files():
        control_plane.kubectl(
            "apply", "--server-side", "--validate=strict", "--field-manager=examples", "-f", str(path)
        )
    for path in example_files():
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc:
                continue
            out = control_plane.kubectl(
                "get", doc["kind"].lower(), doc["metadata"]["name"], "-n", doc["metadata"]["namespace"], "-o", "json"
            )
            assert json.loads(out.stdout)["metadata"]["uid"]
    pod = core.read_namespaced_pod("web-server", "default")
    assert pod.spec.security_context.seccomp_profile.localhost_profile == "seccomp-operator/default/web-server.json"
    # The session's cluster is shared with the operator tests: leave nothing for their controller to reconcile.
    for path in example_files():
        control_plane.kubectl("delete", "--wait=false", "--ignore-not-found", "-f", str(path))


# ---- schema and CEL rules ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("case", "spec", "expected"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_profile_is_refused_with_a_message_naming_the_field(
    custom_api: Any, namespace: str, case: str, spec: dict[str, Any] | None, expected: list[str]
) -> None:
    body = profile("bad", copy.deepcopy(spec))
    with pytest.raises(client.ApiException) as info:
        custom_api.create_namespaced_custom_object(GROUP, VERSION, namespace, SCP, body, field_validation="Strict")
    assert info.value.status == 422, error_message(info.value)
    message = error_message(info.value)
    for part in expected:
        assert part in message, f"{case}: {part!r} not in {message!r}"


@pytest.mark.parametrize(("case", "spec"), VALID_EDGES, ids=[c[0] for c in VALID_EDGES])
def test_valid_edge_cases_are_accepted(custom_api: Any, namespace: str, case: str, spec: dict[str, Any]) -> None:
    created = custom_api.create_namespaced_custom_object(
        GROUP, VERSION, namespace, SCP, profile(case, copy.deepcopy(spec)), field_validation="Strict"
    )
    assert created["spec"] == spec  # stored as given: no defaulting, no pruning


def test_names_are_refused_exactly_where_the_agent_could_not_install_them(custom_api: Any, namespace: str) -> None:
    """The agent's temporary file `.<name>.json.<12 hex>.tmp` must fit NAME_MAX (tests/agent/test_name_limit.py)."""
    longest = "a" * MAX_NAME
    created = custom_api.create_namespaced_custom_object(GROUP, VERSION, namespace, SCP, profile(longest, ALLOW))
    assert created["metadata"]["name"] == longest
    for name in ("a" * (MAX_NAME + 1), "a" * 250):  # 250 passed before: <name>.json fits, the temporary name not
        with pytest.raises(client.ApiException) as info:
            custom_api.create_namespaced_custom_object(GROUP, VERSION, namespace, SCP, profile(name, ALLOW))
        assert info.value.status == 422
        assert f"metadata.name must be at most {MAX_NAME} characters" in error_message(info.value)


def test_values_beyond_int64_cannot_be_stored(
    control_plane: ControlPlane, crds: tuple[str, ...], namespace: str
) -> None:
    """The OCI field is uint64, but the API server reads JSON integers as int64 (documented in the CRD)."""
    manifest = json.dumps(profile("huge", {**ALLOW, "syscalls": [rule(args=[arg(value=(1 << 64) - 1)])]}))
    result = control_plane.kubectl("create", "-n", namespace, "-f", "-", input=manifest, check=False)
    assert result.returncode != 0
    assert "spec.syscalls[0].args[0].value in body must be of type int64" in result.stderr, result.stderr


def test_unknown_fields_are_refused_under_strict_validation(custom_api: Any, namespace: str) -> None:
    # Docker-format keys (`name`, `archMap`) that containerd and runc would silently drop.
    docker_style = profile(
        "docker",
        {
            **ALLOW,
            "archMap": [{"architecture": "SCMP_ARCH_X86_64"}],
            "syscalls": [{"name": "read", "action": "SCMP_ACT_ERRNO"}],
        },
    )
    with pytest.raises(client.ApiException) as info:
        custom_api.create_namespaced_custom_object(
            GROUP, VERSION, namespace, SCP, docker_style, field_validation="Strict"
        )
    assert info.value.status == 400
    message = error_message(info.value)
    assert 'unknown field "spec.archMap"' in message
    assert 'unknown field "spec.syscalls[0].name"' in message
    # Differing only by case: Go's encoding/json would accept it; the API server must not.
    with pytest.raises(client.ApiException) as info:
        custom_api.create_namespaced_custom_object(
            GROUP,
            VERSION,
            namespace,
            SCP,
            profile("case", {"defaultaction": "SCMP_ACT_ALLOW"}),
            field_validation="Strict",
        )
    assert 'unknown field "spec.defaultaction"' in error_message(info.value)


def test_unknown_fields_are_refused_by_kubectl_apply_strict(
    control_plane: ControlPlane, crds: tuple[str, ...], namespace: str
) -> None:
    manifest = json.dumps(profile("typo", {**ALLOW, "syscals": []}))
    result = control_plane.kubectl(
        "apply", "--server-side", "--validate=strict", "-n", namespace, "-f", "-", input=manifest, check=False
    )
    assert result.returncode != 0
    # Server-side apply words it differently from a create, but refuses the same way.
    assert ".spec.syscals: field not declared in schema" in result.stderr, result.stderr


# ---- status subresource, generation ------------------------------------------------------------------------


def test_status_subresource_separates_spec_and_status(custom_api: Any, namespace: str) -> None:
    args = (GROUP, VERSION, namespace, SCP, "sub")
    created = custom_api.create_namespaced_custom_object(*args[:4], profile("sub", dict(ALLOW)))
    assert created["metadata"]["generation"] == 1
    assert "status" not in created

    status = {
        "localhostProfile": f"seccomp-operator/{namespace}/sub.json",
        "hash": HASH,
        "observedGeneration": 1,
        "phase": "Installing",
        "conditions": [
            {
                "type": "Ready",
                "status": "False",
                "reason": "Installing",
                "message": "installed on 1/3 nodes",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
                "observedGeneration": 1,
            }
        ],
        "summary": {"targeted": 3, "installed": 1, "pending": 2, "failed": 0},
        "nodes": [
            {"node": "n1", "state": "Outdated", "hash": "b" * 64, "message": "installing the current revision"},
            {"node": "n2", "state": "Installed", "hash": HASH, "lastTransitionTime": "2026-01-01T00:00:00Z"},
        ],
        "nodesTruncated": 1,
    }
    # A status write carrying a spec change: the status lands, the spec change is ignored.
    after_status = custom_api.patch_namespaced_custom_object_status(
        *args, {"spec": {"defaultAction": "SCMP_ACT_KILL"}, "status": status}
    )
    assert after_status["spec"] == ALLOW
    assert after_status["status"] == status
    assert after_status["metadata"]["generation"] == 1

    # A main-resource write carrying a status change: the spec lands, the status change is ignored.
    after_spec = custom_api.patch_namespaced_custom_object(
        *args, {"spec": {"defaultAction": "SCMP_ACT_LOG"}, "status": {"phase": "Invalid"}}
    )
    assert after_spec["spec"] == {"defaultAction": "SCMP_ACT_LOG"}
    assert after_spec["status"]["phase"] == "Installing"
    assert after_spec["metadata"]["generation"] == 2

    # Metadata-only changes do not bump the generation either.
    after_label = custom_api.patch_namespaced_custom_object(*args, {"metadata": {"labels": {"team": "a"}}})
    assert after_label["metadata"]["generation"] == 2


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ({"phase": "Done"}, 'status.phase: Unsupported value: "Done"'),
        ({"nodes": [{"node": f"n{i}", "state": "Installed"} for i in range(101)]}, "must have at most 100 items"),
        ({"nodes": [{"node": "n1", "state": "Gone"}]}, 'status.nodes[0].state: Unsupported value: "Gone"'),
        ({"summary": {"installed": -1}}, "status.summary.installed"),
        ({"conditions": [{"type": "Ready", "status": "Yes"}]}, "status.conditions[0].status"),
    ],
    ids=["phase", "nodes-bound", "node-state", "negative-count", "condition-shape"],
)
def test_status_schema_is_enforced(custom_api: Any, namespace: str, status: dict[str, Any], expected: str) -> None:
    custom_api.create_namespaced_custom_object(GROUP, VERSION, namespace, SCP, profile("st", dict(ALLOW)))
    with pytest.raises(client.ApiException) as info:
        custom_api.patch_namespaced_custom_object_status(GROUP, VERSION, namespace, SCP, "st", {"status": status})
    assert expected in error_message(info.value)


# ---- printing ----------------------------------------------------------------------------------------------


def test_printer_columns(control_plane: ControlPlane, custom_api: Any, namespace: str, report_names: list[str]) -> None:
    custom_api.create_namespaced_custom_object(GROUP, VERSION, namespace, SCP, profile("cols", dict(ALLOW)))
    custom_api.patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        namespace,
        SCP,
        "cols",
        {
            "status": {
                "phase": "Installing",
                "localhostProfile": f"seccomp-operator/{namespace}/cols.json",
                "summary": {"targeted": 5, "installed": 3, "pending": 2, "failed": 0},
            }
        },
    )
    lines = control_plane.kubectl("get", "scp", "-n", namespace).stdout.splitlines()
    assert lines[0].split() == ["NAME", "PHASE", "INSTALLED", "TARGETED", "PROFILE", "AGE"]
    assert lines[1].split()[:5] == ["cols", "Installing", "3", "5", f"seccomp-operator/{namespace}/cols.json"]
    # The category lists every kind of the operator.
    assert "seccompprofile.seccomp-operator.io/cols" in control_plane.kubectl("get", "seccomp", "-n", namespace).stdout

    content = '{"defaultAction":"SCMP_ACT_ALLOW"}\n'
    custom_api.create_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        PSCP,
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "PublishedSeccompProfile",
            "metadata": {"name": "cols"},
            "spec": {
                "localhostProfile": f"seccomp-operator/{namespace}/cols.json",
                "hash": HASH,
                "content": content,
                "sourceGeneration": 1,
            },
        },
        field_validation="Strict",
    )
    lines = control_plane.kubectl("get", "pscp", "-n", namespace).stdout.splitlines()
    assert lines[0].split() == ["NAME", "HASH", "PROFILE", "AGE"]
    assert lines[1].split()[:3] == ["cols", HASH, f"seccomp-operator/{namespace}/cols.json"]

    node = f"node-{namespace}"
    report_names.append(node)
    custom_api.create_cluster_custom_object(
        GROUP, VERSION, NPR, report(node, {"a/x": "Installed", "a/y": "Failed", "b/z": "Installed"})
    )
    lines = control_plane.kubectl("get", "npr", node).stdout.splitlines()
    assert lines[0].split() == ["NAME", "INSTALLED", "FAILED", "AGE"]
    assert lines[1].split()[:3] == [node, "2", "1"]


# ---- PublishedSeccompProfile and NodeProfileReport rules ---------------------------------------------------


def published(name: str, **spec: Any) -> dict[str, Any]:
    body_spec: dict[str, Any] = {
        "localhostProfile": f"seccomp-operator/ns/{name}.json",
        "hash": HASH,
        "content": "{}\n",
        "sourceGeneration": 3,
    }
    body_spec.update(spec)
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "PublishedSeccompProfile",
        "metadata": {"name": name},
        "spec": body_spec,
    }


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            published("p", localhostProfile="seccomp-operator/ns/other.json"),
            "seccomp-operator/<namespace>/<metadata.name>.json",
        ),
        (published("p", localhostProfile="/etc/p.json"), "spec.localhostProfile"),
        (published("p", hash="ABC"), "spec.hash"),
        (published("p", content=""), "spec.content"),
        (published("p", sourceGeneration=0), "spec.sourceGeneration"),
    ],
    ids=["name-mismatch", "absolute-path", "bad-hash", "empty-content", "generation-0"],
)
def test_published_profile_rules(custom_api: Any, namespace: str, body: dict[str, Any], expected: str) -> None:
    with pytest.raises(client.ApiException) as info:
        custom_api.create_namespaced_custom_object(GROUP, VERSION, namespace, PSCP, body, field_validation="Strict")
    assert expected in error_message(info.value)


def report(node: str, states: dict[str, str], *, name: str | None = None, **extra: Any) -> dict[str, Any]:
    status: dict[str, Any] = {
        "nodeName": node,
        "profiles": {
            key: {"hash": HASH, "state": state, "since": "2026-01-01T00:00:00Z"} for key, state in states.items()
        },
        "installedCount": sum(1 for s in states.values() if s == "Installed"),
        "failedCount": sum(1 for s in states.values() if s == "Failed"),
    }
    status.update(extra)
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "NodeProfileReport",
        "metadata": {"name": name or node},
        "status": status,
    }


def test_node_report_accepts_a_consistent_report_and_updates_in_place(
    custom_api: Any, namespace: str, report_names: list[str]
) -> None:
    node = f"ok-{namespace}"
    report_names.append(node)
    custom_api.create_cluster_custom_object(
        GROUP, VERSION, NPR, report(node, {"a/x": "Installed"}), field_validation="Strict"
    )
    updated = custom_api.replace_cluster_custom_object(
        GROUP,
        VERSION,
        NPR,
        node,
        {
            **report(node, {"a/x": "Installed", "a/y": "Failed"}),
            "metadata": custom_api.get_cluster_custom_object(GROUP, VERSION, NPR, node)["metadata"],
        },
    )
    assert updated["status"]["failedCount"] == 1
    # Content the agent refused has no revision to name: the hash is then empty.
    refused = report(node, {"a/x": "Failed"})
    refused["status"]["profiles"]["a/x"]["hash"] = ""
    refused["metadata"] = updated["metadata"]
    assert custom_api.replace_cluster_custom_object(GROUP, VERSION, NPR, node, refused)["status"]["failedCount"] == 1


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (report("node-a", {}, name="node-b"), "status.nodeName must equal metadata.name"),
        (report("n", {"a/x": "Pending"}), 'Unsupported value: "Pending"'),
        (
            {"apiVersion": f"{GROUP}/{VERSION}", "kind": "NodeProfileReport", "metadata": {"name": "n"}},
            "status: Required value",
        ),
    ],
    ids=["name-mismatch", "state", "no-status"],
)
def test_node_report_rules(custom_api: Any, body: dict[str, Any], expected: str) -> None:
    with pytest.raises(client.ApiException) as info:
        custom_api.create_cluster_custom_object(GROUP, VERSION, NPR, body, field_validation="Strict")
    assert expected in error_message(info.value)


# ---- watch -------------------------------------------------------------------------------------------------


def test_watch_list_ends_initial_events_with_a_bookmark(
    control_plane: ControlPlane, custom_api: Any, namespace: str
) -> None:
    """What agents rely on to resync cheaply: streamed initial state, then a BOOKMARK marking its end."""
    custom_api.create_namespaced_custom_object(GROUP, VERSION, namespace, SCP, profile("w", dict(ALLOW)))
    status, body = control_plane.get(
        f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{SCP}?watch=1&sendInitialEvents=true"
        "&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan&timeoutSeconds=1",
        timeout=30,
    )
    assert status == 200
    events = [json.loads(line) for line in body.splitlines() if line.strip()]
    assert [e["type"] for e in events[:2]] == ["ADDED", "BOOKMARK"]
    assert events[0]["object"]["metadata"]["name"] == "w"
    assert events[1]["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"] == "true"
