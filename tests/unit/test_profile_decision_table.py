"""Every row of the validation decision table (seccomp_operator/profile/README.md), with cases written for it.

Each case names the finding it must produce (severity, code, pointer); errors must also withhold the profile, and a
warning alone must not.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from seccomp_operator.profile import Validation, parse_documents, validate_profile, validate_resource
from seccomp_operator.profile.syscalls import supported

ERRNO = "SCMP_ACT_ERRNO"
ALLOW = "SCMP_ACT_ALLOW"
X86_64 = "SCMP_ARCH_X86_64"
AARCH64 = "SCMP_ARCH_AARCH64"


def profile(*rules: dict[str, object], **fields: object) -> dict[str, object]:
    """A small valid profile (x86_64 + aarch64, deny by default) with the given rules and top-level overrides."""
    base: dict[str, object] = {"defaultAction": ERRNO, "architectures": [X86_64, AARCH64], "syscalls": list(rules)}
    base.update(fields)
    return {key: value for key, value in base.items() if value is not None}


def rule(*names: str, action: str = ALLOW, **fields: object) -> dict[str, object]:
    return {"names": list(names), "action": action, **fields}


def arg(index: int, value: int, op: str = "SCMP_CMP_EQ", **fields: object) -> dict[str, object]:
    return {"index": index, "value": value, "op": op, **fields}


@dataclass(frozen=True)
class Case:
    id: str
    data: object  # a profile object, or raw text to parse (for parse-level rows)
    severity: str
    code: str
    pointer: str
    says: str = ""  # a fragment the message must contain


ERRORS = [
    Case("array-not-object", ["SCMP_ACT_ALLOW"], "error", "not-an-object", ""),
    Case("rule-not-object", profile("read"), "error", "not-an-object", "/syscalls/0"),
    Case(
        "duplicate-key-in-rule",
        '{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"], "syscalls": '
        '[{"names": ["getuid"], "action": "SCMP_ACT_ALLOW", "action": "SCMP_ACT_LOG"}]}',
        "error",
        "duplicate-key",
        "/syscalls/0/action",
        "last one",
    ),
    Case(
        "duplicate-key-top",
        '{"defaultAction": "SCMP_ACT_ALLOW", "defaultAction": "SCMP_ACT_KILL"}',
        "error",
        "duplicate-key",
        "/defaultAction",
    ),
    Case(
        "case-variant-top",
        {"DefaultAction": ERRNO, "architectures": [X86_64]},
        "error",
        "case-variant-key",
        "/DefaultAction",
        "case-insensitively",
    ),
    Case(
        "case-variant-long-s",
        # U+017F folds to "s" in Go's key matching as in Python's casefold
        {"defaultAction": ERRNO, "architectures": [X86_64], "\u017fyscalls": []},
        "error",
        "case-variant-key",
        "/\u017fyscalls",
    ),
    Case(
        "case-variant-rule",
        profile({"Names": ["getuid"], "action": ALLOW}),
        "error",
        "case-variant-key",
        "/syscalls/0/Names",
    ),
    Case("unknown-key", profile(listener="x"), "error", "unknown-key", "/listener", "listenerPath"),
    Case(
        "unknown-key-arg",
        profile(rule("read", args=[arg(0, 1, vaue=2)])),
        "error",
        "unknown-key",
        "/syscalls/0/args/0/vaue",
    ),
    Case(
        "errno-string", profile(rule("read", action=ERRNO, errnoRet="1")), "error", "wrong-type", "/syscalls/0/errnoRet"
    ),
    Case(
        "errno-negative",
        profile(rule("read", action=ERRNO, errnoRet=-1)),
        "error",
        "wrong-type",
        "/syscalls/0/errnoRet",
        "negative",
    ),
    Case(
        "value-fraction", profile(rule("read", args=[arg(0, 2.5)])), "error", "wrong-type", "/syscalls/0/args/0/value"
    ),
    Case(
        "value-integral-float",
        profile(rule("read", args=[arg(0, 3.0)])),
        "error",
        "wrong-type",
        "/syscalls/0/args/0/value",
    ),
    Case("index-bool", profile(rule("read", args=[arg(True, 1)])), "error", "wrong-type", "/syscalls/0/args/0/index"),
    Case("names-not-list", profile({"names": "read", "action": ALLOW}), "error", "wrong-type", "/syscalls/0/names"),
    Case("architectures-number", profile(architectures=[62]), "error", "wrong-type", "/architectures/0"),
    Case("null-rule", profile(None), "error", "null-element", "/syscalls/0"),
    Case("empty-object", {}, "error", "missing-default-action", "/defaultAction", "unconfined"),
    Case("no-default-with-rules", {"syscalls": [rule("read")]}, "error", "missing-default-action", "/defaultAction"),
    Case("rule-without-action", profile({"names": ["read"]}), "error", "missing-field", "/syscalls/0/action"),
    Case(
        "arg-without-op",
        profile(rule("read", args=[{"index": 0, "value": 1}])),
        "error",
        "missing-field",
        "/syscalls/0/args/0/op",
    ),
    Case(
        "unknown-action", profile(rule("read", action="SCMP_ACT_DENY")), "error", "unknown-action", "/syscalls/0/action"
    ),
    Case(
        "unknown-default-action",
        profile(defaultAction="SCMP_ACT_ERRNOO"),
        "error",
        "unknown-action",
        "/defaultAction",
        "SCMP_ACT_ERRNO",
    ),
    Case(
        "unknown-operator",
        profile(rule("read", args=[arg(0, 1, "SCMP_CMP_EQUAL")])),
        "error",
        "unknown-operator",
        "/syscalls/0/args/0/op",
    ),
    Case(
        "unknown-arch", profile(architectures=["SCMP_ARCH_AMD64"]), "error", "unknown-architecture", "/architectures/0"
    ),
    Case(
        "arch-runc-refuses",
        profile(architectures=["SCMP_ARCH_PARISC64"]),
        "error",
        "unknown-architecture",
        "/architectures/0",
        "runc",
    ),
    Case("arch-lowercase", profile(architectures=["x86_64"]), "error", "unknown-architecture", "/architectures/0"),
    Case("unknown-flag", profile(flags=["SECCOMP_FILTER_FLAG_NEW_LISTENER"]), "error", "unknown-flag", "/flags/0"),
    Case(
        "mixed-endianness",
        profile(architectures=[X86_64, "SCMP_ARCH_S390X"]),
        "error",
        "mixed-endianness",
        "/architectures",
        "EDOM",
    ),
    Case(
        "notify-default",
        profile(defaultAction="SCMP_ACT_NOTIFY", listenerPath="/run/l.sock"),
        "error",
        "notify-default-action",
        "/defaultAction",
    ),
    Case(
        "notify-on-write",
        profile(rule("openat", "write", action="SCMP_ACT_NOTIFY"), listenerPath="/run/l.sock"),
        "error",
        "notify-on-write",
        "/syscalls/0/names/1",
    ),
    Case(
        "notify-no-listener",
        profile(rule("openat", action="SCMP_ACT_NOTIFY")),
        "error",
        "notify-without-listener",
        "/syscalls/0/action",
    ),
    Case(
        "metadata-no-listener",
        profile(listenerMetadata="team=a"),
        "error",
        "listener-metadata-without-path",
        "/listenerMetadata",
    ),
    Case(
        "errno-on-allow",
        profile(rule("read", errnoRet=1)),
        "error",
        "errno-without-errno-action",
        "/syscalls/0/errnoRet",
    ),
    Case(
        "errno-on-log",
        profile(rule("read", action="SCMP_ACT_LOG", errnoRet=0)),
        "error",
        "errno-without-errno-action",
        "/syscalls/0/errnoRet",
    ),
    Case(
        "default-errno-on-kill",
        profile(defaultAction="SCMP_ACT_KILL_PROCESS", defaultErrnoRet=1),
        "error",
        "errno-without-errno-action",
        "/defaultErrnoRet",
    ),
    Case(
        "errno-4095",
        profile(rule("read", action=ERRNO, errnoRet=4095)),
        "error",
        "errno-out-of-range",
        "/syscalls/0/errnoRet",
        "0..4094",
    ),
    Case(
        "default-errno-65536",
        profile(defaultErrnoRet=65536),
        "error",
        "errno-out-of-range",
        "/defaultErrnoRet",
        "16 bits",
    ),
    Case(
        "trace-too-big",
        profile(rule("read", action="SCMP_ACT_TRACE", errnoRet=70000)),
        "error",
        "errno-out-of-range",
        "/syscalls/0/errnoRet",
    ),
    Case("empty-names", profile(rule()), "error", "empty-names", "/syscalls/0/names"),
    Case("null-names", profile({"names": None, "action": ALLOW}), "error", "empty-names", "/syscalls/0/names"),
    Case("empty-name", profile(rule("read", "")), "error", "empty-syscall-name", "/syscalls/0/names/1"),
    Case("name-with-nul", profile(rule("read\u0000x")), "error", "unknown-syscall", "/syscalls/0/names/0"),
    Case(
        "arg-index-6",
        profile(rule("read", args=[arg(6, 0)])),
        "error",
        "arg-index-out-of-range",
        "/syscalls/0/args/0/index",
    ),
    Case(
        "seven-args",
        profile(rule("read", args=[arg(k % 6, k) for k in range(7)])),
        "error",
        "too-many-args",
        "/syscalls/0/args/6",
    ),
    Case(
        "same-index-twice",
        profile(rule("kill", args=[arg(1, 9), arg(1, 15)])),
        "error",
        "repeated-arg-index",
        "/syscalls/0/args/1/index",
        "OR",
    ),
    Case(
        "masked-bits-outside",
        profile(rule("ioctl", args=[arg(1, 0xF0, "SCMP_CMP_MASKED_EQ", valueTwo=0x1F0)])),
        "error",
        "masked-eq-bits-outside-mask",
        "/syscalls/0/args/0/valueTwo",
        "0xf0",
    ),
    Case(
        "value-64-bit-on-arm",
        profile(rule("mmap2", args=[arg(2, 0x1_0000_0007)]), architectures=["SCMP_ARCH_ARM"]),
        "error",
        "value-exceeds-32-bit",
        "/syscalls/0/args/0/value",
        "ARM",
    ),
    Case(
        "value-64-bit-on-x32",
        profile(rule("read", args=[arg(0, 2**32)]), architectures=[X86_64, "SCMP_ARCH_X32"]),
        "error",
        "value-exceeds-32-bit",
        "/syscalls/0/args/0/value",
        "X32",
    ),
    Case(
        "masked-value-two-64-bit-on-x86",
        profile(
            rule("read", args=[arg(0, 2**63 | 1, "SCMP_CMP_MASKED_EQ", valueTwo=2**63)]),
            architectures=[X86_64, "SCMP_ARCH_X86"],
        ),
        "error",
        "value-exceeds-32-bit",
        "/syscalls/0/args/0/valueTwo",
    ),
    Case(
        "value-above-64-bit",
        profile(rule("read", args=[arg(0, 2**64)])),
        "error",
        "value-out-of-range",
        "/syscalls/0/args/0/value",
    ),
    Case("typo", profile(rule("getpidd")), "error", "unknown-syscall", "/syscalls/0/names/0", "getpid"),
    Case(
        "typo-in-default-action-rule",
        profile(rule("clock_gettim", action=ERRNO)),
        "error",
        "unknown-syscall",
        "/syscalls/0/names/0",
    ),
    Case(
        "same-conditions-two-actions",
        profile(rule("kill", args=[arg(1, 9)]), rule("kill", action="SCMP_ACT_LOG", args=[arg(1, 9)])),
        "error",
        "conflicting-actions",
        "/syscalls/1/names/0",
        "EEXIST",
    ),
    Case(
        "unconditional-two-actions",
        profile(rule("ptrace", action="SCMP_ACT_KILL_PROCESS"), rule("getpid", "ptrace", action="SCMP_ACT_LOG")),
        "error",
        "conflicting-actions",
        "/syscalls/1/names/1",
        "ignores the second",
    ),
    Case(
        "conditional-after-unconditional",
        profile(rule("socket"), rule("socket", action="SCMP_ACT_ERRNO", errnoRet=97, args=[arg(0, 40)])),
        "error",
        "conditional-shadowed",
        "/syscalls/1/names/0",
    ),
    Case(
        "unconditional-after-conditional",
        profile(rule("personality", args=[arg(0, 8)]), rule("personality", action="SCMP_ACT_TRAP")),
        "error",
        "conditional-shadowed",
        "/syscalls/0/names/0",
    ),
    *(
        Case(f"docker-key-{key}", data, "error", "docker-format-key", pointer, "seccomp-operator import")
        for key, data, pointer in [
            ("name", profile({"name": "read", "action": ALLOW}), "/syscalls/0/name"),
            ("archMap", profile(archMap=[{"architecture": X86_64}]), "/archMap"),
            ("includes", profile(rule("syslog", includes={"caps": ["CAP_SYSLOG"]})), "/syscalls/0/includes"),
            ("excludes", profile(rule("ptrace", excludes={"caps": ["CAP_SYS_ADMIN"]})), "/syscalls/0/excludes"),
            ("errno", profile(rule("read", action=ERRNO, errno="EPERM")), "/syscalls/0/errno"),
            ("defaultErrno", profile(defaultErrno="ENOSYS"), "/defaultErrno"),
            ("minKernel", profile(minKernel="4.8"), "/minKernel"),
        ]
    ),
]
if not supported("SCMP_ARCH_LOONGARCH64"):
    ERRORS.append(
        Case(
            "arch-unknown-to-libseccomp",
            profile(architectures=["SCMP_ARCH_LOONGARCH64"]),
            "error",
            "arch-unsupported-by-libseccomp",
            "/architectures/0",
        )
    )

WARNINGS = [
    Case(
        "docker-comment",
        profile(rule("read", comment="reads")),
        "warning",
        "docker-comment",
        "/syscalls/0/comment",
        "the filter is the same with or without it",
    ),
    Case(
        "errno-zero",
        profile(rule("mkdir", errnoRet=0, action=ERRNO), defaultAction="SCMP_ACT_KILL_PROCESS"),
        "warning",
        "errno-zero",
        "/syscalls/0/errnoRet",
        "return 0 without running",
    ),
    Case("default-errno-zero", profile(defaultErrnoRet=0), "warning", "errno-zero", "/defaultErrnoRet", "return 0"),
    Case(
        "listener-without-notify",
        profile(rule("read"), listenerPath="/run/agent.sock", listenerMetadata="x"),
        "warning",
        "listener-without-notify",
        "/listenerPath",
        "runc ignores it",
    ),
    Case(
        "missing-on-some-arch",
        profile(rule("arch_prctl", "getpid")),
        "warning",
        "syscall-missing-on-arch",
        "/syscalls/0/names/0",
        "AARCH64",
    ),
    Case(
        "missing-on-all-arches",
        profile(rule("vm86"), architectures=[AARCH64, "SCMP_ARCH_ARM"]),
        "warning",
        "syscall-missing-on-arch",
        "/syscalls/0/names/0",
        "none of",
    ),
    Case("no-architectures", profile(architectures=None), "warning", "no-architectures", "/architectures", "KILL"),
    Case(
        "action-equals-default",
        profile(rule("reboot", action=ERRNO)),
        "warning",
        "action-equals-default",
        "/syscalls/0/action",
    ),
    Case(
        "action-equals-default-errno",
        profile(rule("reboot", action=ERRNO, errnoRet=38), defaultErrnoRet=38),
        "warning",
        "action-equals-default",
        "/syscalls/0/action",
    ),
    Case(
        "kill-equals-kill-thread",
        profile(rule("reboot", action="SCMP_ACT_KILL"), defaultAction="SCMP_ACT_KILL_THREAD"),
        "warning",
        "action-equals-default",
        "/syscalls/0/action",
    ),
    Case(
        "duplicate-rule",
        profile(rule("read", "write"), rule("write")),
        "warning",
        "duplicate-rule",
        "/syscalls/1/names/0",
    ),
    Case("duplicate-name-in-rule", profile(rule("read", "read")), "warning", "duplicate-rule", "/syscalls/0/names/1"),
    Case(
        "duplicate-reordered-conditions",
        profile(rule("kill", args=[arg(0, 1), arg(1, 9)]), rule("kill", args=[arg(1, 9), arg(0, 1)])),
        "warning",
        "duplicate-rule",
        "/syscalls/1/names/0",
    ),
    Case(
        "newer-than-libseccomp",
        profile(rule("mseal")),
        "warning",
        "syscall-unknown-to-libseccomp",
        "/syscalls/0/names/0",
    ),
    Case(
        "value-two-ignored",
        profile(rule("read", args=[arg(0, 1, valueTwo=5)])),
        "warning",
        "value-two-ignored",
        "/syscalls/0/args/0/valueTwo",
    ),
    Case(
        "conditional-same-action-after-unconditional",
        profile(rule("socket"), rule("socket", args=[arg(0, 40)])),
        "warning",
        "conditional-redundant",
        "/syscalls/1/names/0",
        "change nothing",
    ),
    Case(
        "conditional-same-action-before-unconditional",
        profile(rule("personality", args=[arg(0, 8)]), rule("personality", "getpid")),
        "warning",
        "conditional-redundant",
        "/syscalls/0/names/0",
        "/syscalls/1/names/0",
    ),
    Case(
        "duplicate-architecture",
        profile(architectures=[X86_64, X86_64]),
        "warning",
        "duplicate-architecture",
        "/architectures/1",
    ),
]


def run_case(case: Case) -> Validation:
    if isinstance(case.data, str):
        documents = parse_documents(case.data, filename="case.json")
        assert len(documents) == 1
        validation = validate_profile(documents[0].data)
        return Validation(None, documents[0].findings + validation.findings)
    return validate_profile(case.data)


@pytest.mark.parametrize("case", ERRORS, ids=lambda c: c.id)
def test_error_rows(case: Case) -> None:
    validation = run_case(case)
    matching = [f for f in validation.findings if f.code == case.code and f.pointer == case.pointer]
    assert matching, f"expected {case.code} at {case.pointer!r}, got {validation.findings}"
    assert matching[0].severity == "error"
    assert case.says in matching[0].message
    assert not validation.ok
    assert validation.profile is None


@pytest.mark.parametrize("case", WARNINGS, ids=lambda c: c.id)
def test_warning_rows(case: Case) -> None:
    validation = run_case(case)
    matching = [f for f in validation.findings if f.code == case.code and f.pointer == case.pointer]
    assert matching, f"expected {case.code} at {case.pointer!r}, got {validation.findings}"
    assert matching[0].severity == "warning"
    assert case.says in matching[0].message
    assert validation.ok, validation.errors
    assert validation.profile is not None


def test_rule_equal_to_default_does_not_shadow_conditional_rule() -> None:
    # runc skips the unconditional rule (it equals the default), so the conditional ALLOW is what runs: no error.
    validation = validate_profile(profile(rule("personality", action=ERRNO), rule("personality", args=[arg(0, 0)])))
    assert validation.ok, validation.findings
    assert [f.code for f in validation.findings] == ["action-equals-default"]


def test_libseccomp_refusal_names_the_rule() -> None:
    # On x86, socket is reached through socketcall(SYS_SOCKET); libseccomp's rewrite makes these two rules
    # collide (EEXIST), which no name-level check can see.
    validation = validate_profile(
        profile(
            rule("socket"),
            rule("socketcall", action="SCMP_ACT_LOG", args=[arg(0, 1)]),
            architectures=["SCMP_ARCH_X86"],
        )
    )
    refused = [f for f in validation.findings if f.code == "libseccomp-refused"]
    assert [f.pointer for f in refused] == ["/syscalls/1/names/0"]
    assert "EEXIST" in refused[0].message and "X86" in refused[0].message
    assert validation.profile is None


def test_message_example_from_the_issue() -> None:
    validation = validate_profile(
        profile(rule("read"), rule("open", "openat"), rule("syslog", action=ERRNO, errnoRet=12345))
    )
    (finding,) = validation.errors
    assert finding.pointer == "/syscalls/2/errnoRet"
    assert finding.message.startswith("errno 12345 is outside 0..4094; libseccomp refuses it and runc/crun truncate")


def test_resource_rows() -> None:
    manifest = {
        "apiVersion": "seccomp-operator.io/v1alpha1",
        "kind": "SeccompProfile",
        "metadata": {"name": "web", "namespace": "team-a"},
        "spec": {**profile(rule("read", "")), "baseProfileName": "web", "nodeSelector": {"zone": 3}},
    }
    codes = {(f.code, f.pointer) for f in validate_resource(manifest).findings}
    assert ("empty-syscall-name", "/spec/syscalls/0/names/1") in codes
    assert ("base-profile-is-self", "/spec/baseProfileName") in codes
    assert ("invalid-node-selector", "/spec/nodeSelector/zone") in codes


def test_too_many_argument_conditions_is_refused() -> None:
    from seccomp_operator.profile import validate_profile
    from seccomp_operator.profile.validate import MAX_ARG_COMPARISONS

    rule = {"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}
    rules = [{**rule, "args": [{"index": 0, "value": i, "op": "SCMP_CMP_EQ"}]} for i in range(MAX_ARG_COMPARISONS + 1)]
    result = validate_profile(
        {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"], "syscalls": rules}
    )
    assert [(f.pointer, f.code) for f in result.errors] == [("/syscalls", "too-complex")]
    assert f"limit is {MAX_ARG_COMPARISONS}" in result.errors[0].message


def test_listener_path_must_be_an_absolute_socket_path() -> None:
    from seccomp_operator.profile import validate_profile

    base = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"]}
    relative = validate_profile({**base, "listenerPath": "relative.sock"})
    assert [(f.pointer, f.code) for f in relative.errors] == [("/listenerPath", "listener-path-not-absolute")]
    long = validate_profile({**base, "listenerPath": "/" + "x" * 107})
    assert [(f.pointer, f.code) for f in long.errors] == [("/listenerPath", "listener-path-too-long")]


def test_flags_warn_that_runc_1_1_refuses_them() -> None:
    from seccomp_operator.profile import validate_profile

    result = validate_profile(
        {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"], "flags": ["SECCOMP_FILTER_FLAG_LOG"]}
    )
    assert result.ok
    assert [(f.pointer, f.code) for f in result.warnings] == [("/flags", "flags-need-newer-runc")]


def test_a_comment_is_a_warning_in_a_file_and_an_error_in_a_manifest() -> None:
    # The message must not claim the file means something else on some runtime: it does not.
    bare = validate_profile(profile(rule("read", comment="reads")))
    assert bare.ok
    (finding,) = bare.warnings
    assert "different things" not in finding.message
    manifest = {
        "apiVersion": "seccomp-operator.io/v1alpha1",
        "kind": "SeccompProfile",
        "metadata": {"name": "web", "namespace": "team-a"},
        "spec": profile(rule("read", comment="reads")),
    }
    refused = validate_resource(manifest)
    assert [(f.code, f.pointer) for f in refused.findings if f.is_error] == [
        ("unknown-key", "/spec/syscalls/0/comment")
    ]
    assert "kubectl apply` refuses it" in refused.findings[0].message


def test_errno_zero_with_trace_and_listener_with_notify_are_fine() -> None:
    trace = validate_profile(profile(rule("ptrace", action="SCMP_ACT_TRACE", errnoRet=0)))
    assert trace.ok and trace.warnings == ()
    notify = validate_profile(profile(rule("mount", action="SCMP_ACT_NOTIFY"), listenerPath="/run/agent.sock"))
    assert notify.ok and notify.warnings == ()
