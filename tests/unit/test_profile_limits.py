"""Size limits and the work they bound: a hostile or careless profile is refused (or summarised) before the slow part.

These tests assert where the limits act (before decoding, before compiling, how often libseccomp is called), never
how long anything takes: bench/profile_core.py measures the worst case the limits allow.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

import seccomp_operator.profile.validate as validate_module
from seccomp_operator.profile import libseccomp, syscalls, validate_profile
from seccomp_operator.profile.findings import FOLD_AFTER
from seccomp_operator.profile.validate import MAX_ARG_COMPARISONS, MAX_SYSCALL_NAMES

REPO = Path(__file__).resolve().parents[2]
X86_64 = "SCMP_ARCH_X86_64"
AARCH64 = "SCMP_ARCH_AARCH64"


def profile(rules: list[dict[str, Any]], arches: tuple[str, ...] = (X86_64,)) -> dict[str, Any]:
    return {"defaultAction": "SCMP_ACT_ERRNO", "architectures": list(arches), "syscalls": rules}


def conditional(count: int) -> list[dict[str, Any]]:
    """`count` one-condition rules on distinct values of one syscall."""
    return [
        {"names": ["ioctl"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 1, "value": i, "op": "SCMP_CMP_EQ"}]}
        for i in range(count)
    ]


def test_too_many_names_is_refused_before_the_profile_is_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    decoded: list[object] = []
    real_shape = validate_module.shape_profile
    monkeypatch.setattr(validate_module, "shape_profile", lambda obj, **kw: decoded.append(obj) or real_shape(obj))
    too_many = profile(
        [{"names": ["read"] * (MAX_SYSCALL_NAMES // 2), "action": "SCMP_ACT_ALLOW"}] * 2
        + [{"names": ["write"], "action": "SCMP_ACT_ALLOW"}]
    )
    result = validate_profile(too_many)
    assert [(f.pointer, f.code) for f in result.findings] == [("/syscalls", "too-many-names")]
    assert f"{MAX_SYSCALL_NAMES + 1} syscall names" in result.findings[0].message
    assert f"limit is {MAX_SYSCALL_NAMES}" in result.findings[0].message
    assert decoded == []
    at_limit = profile([{"names": ["read"] * (MAX_SYSCALL_NAMES // 2), "action": "SCMP_ACT_ALLOW"}] * 2)
    assert validate_profile(at_limit).ok
    assert len(decoded) == 1


def test_too_many_conditions_is_refused_before_compiling(monkeypatch: pytest.MonkeyPatch) -> None:
    compiled: list[object] = []
    real_compile = validate_module.compile_profile
    monkeypatch.setattr(
        validate_module, "compile_profile", lambda p, sink=None: compiled.append(p) or real_compile(p, sink)
    )
    result = validate_profile(profile(conditional(MAX_ARG_COMPARISONS + 1)))
    assert [(f.pointer, f.code) for f in result.errors] == [("/syscalls", "too-complex")]
    assert f"limit is {MAX_ARG_COMPARISONS}" in result.errors[0].message
    assert compiled == []
    # each condition counts once per name of its rule: two names with a third of the limit's conditions each
    rule = {"names": ["ioctl", "fcntl"], "action": "SCMP_ACT_ALLOW", "args": []}
    rules = [
        {**rule, "args": [{"index": i, "value": i, "op": "SCMP_CMP_EQ"} for i in range(3)]}
        for _ in range(MAX_ARG_COMPARISONS // 6 + 1)
    ]
    assert [f.code for f in validate_profile(profile(rules)).errors] == ["too-complex"]
    assert validate_profile(profile(conditional(MAX_ARG_COMPARISONS))).ok
    assert len(compiled) == 1


def test_repeated_rules_reach_libseccomp_once(monkeypatch: pytest.MonkeyPatch) -> None:
    added: list[int] = []
    real_add = libseccomp.Filter.add_rule

    def counting_add(self: libseccomp.Filter, action: int, syscall: int, count: int, args: Any) -> None:
        added.append(syscall)
        real_add(self, action, syscall, count, args)

    monkeypatch.setattr(libseccomp.Filter, "add_rule", counting_add)
    rules = [{"names": ["read", "write", "read"], "action": "SCMP_ACT_ALLOW"} for _ in range(500)]
    rules += [{"names": ["ioctl"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 1, "value": 7, "op": "SCMP_CMP_EQ"}]}]
    rules += rules[-1:] * 10
    # Why this is safe: tests/unit/test_libseccomp_facts.py shows libseccomp's program is the same without repeats.
    result = validate_profile(profile(rules))
    assert result.ok, result.errors
    assert sorted(added) == sorted(syscalls.native_number(name) for name in ("read", "write", "ioctl"))


def test_thousands_of_repeated_names_give_one_warning() -> None:
    names = ["read", "write", "close", "fstat"] * (MAX_SYSCALL_NAMES // 8)
    result = validate_profile(profile([{"names": names, "action": "SCMP_ACT_ALLOW"}] * 2))
    assert result.ok, result.errors
    (duplicate,) = result.warnings
    assert duplicate.code == "duplicate-rule"
    assert duplicate.pointer == "/syscalls/0/names/4"
    assert len(duplicate.also) == len(names) * 2 - 4 - 1
    assert duplicate.also[-1] == f"/syscalls/1/names/{len(names) - 1}"
    assert duplicate.message.startswith(f"{len(names) * 2 - 4} entries repeat a syscall name")
    assert "4 names (`read`, `write`, `close` and `fstat`)" in duplicate.message


def test_a_few_repeats_are_reported_one_by_one() -> None:
    result = validate_profile(profile([{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"}] * 2))
    assert [(f.code, f.pointer, f.also) for f in result.warnings] == [
        ("duplicate-rule", "/syscalls/1/names/0", ()),
        ("duplicate-rule", "/syscalls/1/names/1", ()),
    ]


def test_names_missing_on_the_same_architectures_are_summarised() -> None:
    x86_only = [
        n for n in ("open", "stat", "lstat", "poll", "access", "pipe", "select") if syscalls.exists_on(n, X86_64)
    ]
    assert len(x86_only) > FOLD_AFTER
    result = validate_profile(
        profile([{"names": [*x86_only, "mmap", "open"], "action": "SCMP_ACT_ALLOW"}], arches=(X86_64, AARCH64))
    )
    missing = [f for f in result.warnings if f.code == "syscall-missing-on-arch"]
    assert len(missing) == 1
    (summary,) = missing
    assert summary.pointer == "/syscalls/0/names/0"
    assert summary.also[-1] == f"/syscalls/0/names/{len(x86_only) + 1}"
    assert f"{len(x86_only)} names (`open`" in summary.message
    assert f"do not exist on AARCH64 ({len(x86_only) + 1} places)" in summary.message


def test_misspelt_names_beyond_the_first_few_get_no_suggestion() -> None:
    typos = [f"reaad{i}" for i in range(validate_module.MAX_SUGGESTIONS + 5)] + ["getpidd"]
    result = validate_profile(profile([{"names": typos, "action": "SCMP_ACT_ALLOW"}]))
    assert len(result.errors) == len(typos)
    assert all(f.code == "unknown-syscall" for f in result.errors)
    assert "Did you mean" not in result.errors[-1].message  # the 38th misspelt name: no fuzzy match any more
    first = validate_profile(profile([{"names": ["getpidd"], "action": "SCMP_ACT_ALLOW"}]))
    assert "Did you mean `getpid`" in first.errors[0].message


def test_the_crd_enforces_the_same_limits() -> None:
    crd = yaml.safe_load((REPO / "crds" / "seccompprofiles.yaml").read_text())
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    rules = [rule["rule"] for rule in spec["x-kubernetes-validations"]]
    assert any("size(s.names)).sum()" in r and r.endswith(f"<= {MAX_SYSCALL_NAMES}") for r in rules), rules
    assert any("size(s.names) * size(s.args)" in r and r.endswith(f"<= {MAX_ARG_COMPARISONS}") for r in rules), rules
