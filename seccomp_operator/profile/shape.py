"""Structure and types: does the object have the shape Go's encoding/json decodes into `specs.LinuxSeccomp`?

This module checks only what a JSON decoder would: keys, types, required fields, number ranges of the Go types.
What the values mean (enums, errno ranges, conflicts, libseccomp) is `validate.py`'s job. A rule with a structural
error is left out of the result, so the semantic checks still run on the rest and a person sees every problem at once.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection
from dataclasses import dataclass, field

from seccomp_operator.profile.findings import Finding, error, has_errors, join, warning
from seccomp_operator.profile.model import UINT64_MAX, Arg, Rule

PROFILE_KEYS = (
    "defaultAction",
    "defaultErrnoRet",
    "architectures",
    "flags",
    "listenerPath",
    "listenerMetadata",
    "syscalls",
)
RULE_KEYS = ("names", "action", "errnoRet", "args")
ARG_KEYS = ("index", "value", "valueTwo", "op")

# Keys of Docker's (moby) and Podman's profile format, with what goes wrong when containerd, which reads only the
# OCI fields, gets them. Source: seccomp-runtime-behaviour.md section 1.
DOCKER_KEYS = {
    "name": "containerd ignores it, so this rule gets no syscall names and is lost",
    "archMap": "containerd ignores it, so the filter covers only the node's native architecture",
    "includes": "containerd ignores it, so this conditional rule applies to every container",
    "excludes": "containerd ignores it, so this conditional rule applies to every container",
    "errno": "CRI-O lets it override errnoRet while containerd ignores it, so the two disagree on the errno",
    "defaultErrno": "CRI-O lets it override defaultErrnoRet while containerd ignores it",
    "minKernel": "only dockerd honours it; containerd and CRI-O apply the rule on every kernel",
}
_DOCKER_FOLDED = {key.casefold(): key for key in DOCKER_KEYS}
# Docker's `comment` is a note: containerd drops it while decoding, crun and CRI-O ignore it, so the filter is the
# same with or without it (tests/runtime/test_lint_verdicts.py runs both). In a bare profile it is only a warning.
COMMENT = "comment"

_GO_REFUSES = "Go's encoding/json refuses the whole file, so the container fails to start"


@dataclass(slots=True)
class ShapedRule:
    index: int  # position in `syscalls`, for pointers
    rule: Rule


@dataclass(slots=True)
class Shaped:
    """The well-formed parts of a profile object; `findings` says what was wrong with the rest."""

    is_object: bool = False
    default_action: str | None = None
    default_errno_ret: int | None = None
    architectures: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    listener_path: str | None = None
    listener_metadata: str | None = None
    rules: list[ShapedRule] = field(default_factory=list)
    rule_count: int = 0
    findings: list[Finding] = field(default_factory=list)


def shape_profile(obj: object, *, extra_keys: Collection[str] = (), manifest: bool = False) -> Shaped:
    """Decode a profile object. `extra_keys` are allowed and ignored (a manifest's spec has operator fields);
    `manifest`: the object is a SeccompProfile's spec, which the API server reads, not a runtime."""
    shaped = Shaped()
    out = shaped.findings
    if not isinstance(obj, dict):
        out.append(error("", "not-an-object", f"a seccomp profile must be a JSON object, not {_describe(obj)}"))
        return shaped
    shaped.is_object = True
    check_keys(obj, "", PROFILE_KEYS, out, extra=tuple(extra_keys), manifest=manifest)

    if obj.get("defaultAction") is not None:
        shaped.default_action = _string(obj["defaultAction"], "/defaultAction", out)
    if obj.get("defaultErrnoRet") is not None:
        shaped.default_errno_ret = _uint(obj["defaultErrnoRet"], "/defaultErrnoRet", out)
    shaped.architectures = _strings(obj.get("architectures"), "/architectures", out)
    shaped.flags = _strings(obj.get("flags"), "/flags", out)
    if obj.get("listenerPath") is not None:
        shaped.listener_path = _string(obj["listenerPath"], "/listenerPath", out) or None
    if obj.get("listenerMetadata") is not None:
        shaped.listener_metadata = _string(obj["listenerMetadata"], "/listenerMetadata", out) or None

    syscalls = _array(obj.get("syscalls"), "/syscalls", out)
    shaped.rule_count = len(syscalls)
    for i, item in enumerate(syscalls):
        rule = _rule(item, join("/syscalls", i), out, manifest)
        if rule is not None:
            shaped.rules.append(ShapedRule(i, rule))
    return shaped


def check_keys(
    obj: dict[str, object],
    pointer: str,
    known: tuple[str, ...],
    out: list[Finding],
    *,
    extra: tuple[str, ...] = (),
    manifest: bool = False,
) -> None:
    """Unknown keys are errors: Go ignores them, so a misspelt field silently does nothing on the node."""
    allowed = known + extra
    folded = {key.casefold(): key for key in allowed}
    for key in obj:
        if key in allowed:
            continue
        where = join(pointer, key)
        if key.casefold() == COMMENT:
            out.append(_comment(where, key, manifest))
        elif key in DOCKER_KEYS or key.casefold() in _DOCKER_FOLDED:
            docker_key = _DOCKER_FOLDED[key.casefold()]
            out.append(
                error(
                    where,
                    "docker-format-key",
                    f"`{key}` belongs to Docker's profile format, not the OCI one: {DOCKER_KEYS[docker_key]}. "
                    "The file would mean different things on different runtimes; convert it with "
                    "`seccomp-operator import`.",
                )
            )
        elif key.casefold() in folded:
            exact = folded[key.casefold()]
            also = f" The file also has `{exact}`; which one wins depends on key order." if exact in obj else ""
            out.append(
                error(
                    where,
                    "case-variant-key",
                    f"`{key}` differs from the field `{exact}` only in letter case. Go's encoding/json matches "
                    f"keys case-insensitively, so containerd and CRI-O read it as `{exact}` while stricter tools "
                    f"do not; write it exactly as `{exact}`.{also}",
                )
            )
        else:
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            hint = f" Did you mean `{close[0]}`?" if close else f" Known keys: {', '.join(allowed)}."
            out.append(
                error(
                    where,
                    "unknown-key",
                    f"unknown key `{key}`: runtimes ignore it silently, so it has no effect.{hint}",
                )
            )


def _comment(where: str, key: str, manifest: bool) -> Finding:
    if manifest:
        return error(
            where,
            "unknown-key",
            f"`{key}` is a note in Docker's profile format, not a SeccompProfile field: `kubectl apply` refuses it "
            "(strict field validation is its default) and the API server drops it otherwise. Keep notes in YAML "
            "comments.",
        )
    return warning(
        where,
        "docker-comment",
        f"`{key}` is a note from Docker's profile format: containerd drops it while reading the file and crun and "
        "CRI-O ignore it, so the filter is the same with or without it. It is not part of the OCI format; remove "
        "it to keep the file portable.",
    )


def _rule(item: object, pointer: str, out: list[Finding], manifest: bool) -> Rule | None:
    if item is None:
        out.append(
            error(
                pointer,
                "null-element",
                'a syscalls entry is null; runc refuses it ("encountered nil syscall") and CRI-O crashes on it',
            )
        )
        return None
    if not isinstance(item, dict):
        out.append(error(pointer, "not-an-object", f"a syscalls entry must be an object, not {_describe(item)}"))
        return None
    before = len(out)
    check_keys(item, pointer, RULE_KEYS, out, manifest=manifest)
    names_raw = item.get("names")
    names = _strings(names_raw, join(pointer, "names"), out)
    action: str | None = None
    if item.get("action") is None:
        out.append(
            error(
                join(pointer, "action"),
                "missing-field",
                'this rule has no `action`; runc refuses it ("string  is not a valid action for seccomp")',
            )
        )
    else:
        action = _string(item["action"], join(pointer, "action"), out)
    errno_ret = None
    if item.get("errnoRet") is not None:
        errno_ret = _uint(item["errnoRet"], join(pointer, "errnoRet"), out)
    args: list[Arg] = []
    for k, raw_arg in enumerate(_array(item.get("args"), join(pointer, "args"), out)):
        arg = _arg(raw_arg, join(pointer, "args", k), out, manifest)
        if arg is not None:
            args.append(arg)
    if has_errors(out[before:]) or action is None:
        return None
    return Rule(tuple(names), action, errno_ret, tuple(args))


def _arg(item: object, pointer: str, out: list[Finding], manifest: bool) -> Arg | None:
    if item is None:
        out.append(error(pointer, "null-element", "an args entry is null; CRI-O crashes on it"))
        return None
    if not isinstance(item, dict):
        out.append(error(pointer, "not-an-object", f"an args entry must be an object, not {_describe(item)}"))
        return None
    before = len(out)
    check_keys(item, pointer, ARG_KEYS, out, manifest=manifest)
    values: dict[str, int | str | None] = {}
    for key, required in (("index", True), ("value", True), ("valueTwo", False), ("op", True)):
        raw = item.get(key)
        where = join(pointer, key)
        if raw is None:
            if required:
                out.append(
                    error(
                        where,
                        "missing-field",
                        f"an argument condition needs `{key}`; Go would silently use "
                        f"{'an empty operator' if key == 'op' else '0'}, which is rarely what was meant",
                    )
                )
            continue
        values[key] = _string(raw, where, out) if key == "op" else _uint(raw, where, out)
    if has_errors(out[before:]):
        return None
    index, value, value_two, op = (values.get(k) for k in ARG_KEYS)
    assert isinstance(index, int) and isinstance(value, int) and isinstance(op, str)
    return Arg(index, value, op, value_two if isinstance(value_two, int) else 0)


def _describe(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        return f'the string "{value}"'
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def _string(value: object, pointer: str, out: list[Finding]) -> str | None:
    if isinstance(value, str):
        return value
    out.append(error(pointer, "wrong-type", f"must be a string, not {_describe(value)}; {_GO_REFUSES}"))
    return None


def _uint(value: object, pointer: str, out: list[Finding]) -> int | None:
    """An unsigned integer as Go decodes one: no bool, no fraction or exponent, no sign, at most 64 bits."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        out.append(error(pointer, "wrong-type", f"must be a whole number, not {_describe(value)}; {_GO_REFUSES}"))
        return None
    if isinstance(value, float):
        out.append(
            error(
                pointer,
                "wrong-type",
                f"must be a whole number written without a fraction or exponent, not {value!r}; {_GO_REFUSES}",
            )
        )
        return None
    if value < 0:
        out.append(
            error(
                pointer,
                "wrong-type",
                f"must not be negative ({value}): runtimes decode it into an unsigned integer, so {_GO_REFUSES}",
            )
        )
        return None
    if value > UINT64_MAX:
        out.append(
            error(
                pointer,
                "value-out-of-range",
                f"{value} does not fit in 64 bits (the largest value is {UINT64_MAX}); {_GO_REFUSES}",
            )
        )
        return None
    return value


def _array(value: object, pointer: str, out: list[Finding]) -> list[object]:
    """An optional array; null counts as absent, as it does for Go."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    out.append(error(pointer, "wrong-type", f"must be an array, not {_describe(value)}; {_GO_REFUSES}"))
    return []


def _strings(value: object, pointer: str, out: list[Finding]) -> list[str]:
    result: list[str] = []
    for i, item in enumerate(_array(value, pointer, out)):
        if item is None:
            out.append(error(join(pointer, i), "null-element", "null is not allowed in this list"))
        elif isinstance(item, str):
            result.append(item)
        else:
            _string(item, join(pointer, i), out)
    return result
