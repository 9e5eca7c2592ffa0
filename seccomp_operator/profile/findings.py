"""Findings: what the core says about a profile, each tied to the field it is about.

A finding's `pointer` is an RFC 6901 JSON pointer into the document that was validated ("" is the whole
document). Callers that validate a part of a larger document (the `spec` of a manifest, one document of a YAML
stream) re-base the pointers with `rebase`, so a message always names the field a person has to edit.

One finding can stand for many places (`also`): a warning that would otherwise repeat for every one of thousands of
repeated names is reported once, its message says how many, and `also` lists every other pointer (`fold`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

Severity = Literal["error", "warning"]

# More findings of one kind than this are reported as one (see `fold`).
FOLD_AFTER = 5

# Every warning the checks of a profile or manifest can give. A warning can be silenced by its code (`lint --ignore
# CODE`, or the annotation below on a SeccompProfile); an error cannot. tests/unit/test_lint_codes.py checks this
# set against the code and the decision table in README.md.
WARNING_CODES = frozenset(
    {
        "action-equals-default",
        "base-profile-not-given",  # lint: the base is not among the files given
        "bpf-near-limit",
        "conditional-redundant",
        "docker-comment",
        "duplicate-architecture",
        "duplicate-resource",  # lint: two files define the same profile
        "duplicate-rule",
        "errno-zero",
        "flags-need-newer-runc",
        "invalid-lint-ignore",
        "listener-without-notify",
        "no-architectures",
        "syscall-missing-on-arch",
        "syscall-unknown-to-libseccomp",
        "value-two-ignored",
    }
)
LINT_IGNORE_ANNOTATION = "seccomp-operator.io/lint-ignore"


@dataclass(frozen=True, slots=True)
class Finding:
    severity: Severity
    pointer: str
    message: str
    code: str
    also: tuple[str, ...] = ()  # further pointers the same finding applies to (its message counts them)

    @property
    def is_error(self) -> bool:
        return self.severity == "error"


class Findings:
    """`errors` and `warnings` for a result that holds `findings` (a mixin for the core's frozen result types)."""

    __slots__ = ()
    findings: tuple[Finding, ...]

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.is_error)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if not f.is_error)


def error(pointer: str, code: str, message: str) -> Finding:
    return Finding("error", pointer, message, code)


def warning(pointer: str, code: str, message: str) -> Finding:
    return Finding("warning", pointer, message, code)


def escape(token: str | int) -> str:
    """One reference token, escaped as RFC 6901 requires ("~" first, so "/" -> "~1" is not re-escaped)."""
    return str(token).replace("~", "~0").replace("/", "~1")


def join(pointer: str, *tokens: str | int) -> str:
    return pointer + "".join("/" + escape(token) for token in tokens)


def split(pointer: str) -> list[str]:
    """The unescaped tokens of a pointer; "" has none."""
    if not pointer:
        return []
    return [token.replace("~1", "/").replace("~0", "~") for token in pointer[1:].split("/")]


def rebase(findings: Iterable[Finding], prefix: str) -> tuple[Finding, ...]:
    if not prefix:
        return tuple(findings)
    return tuple(
        replace(finding, pointer=prefix + finding.pointer, also=tuple(prefix + p for p in finding.also))
        for finding in findings
    )


def fold(findings: Sequence[Finding], summary: str) -> list[Finding]:
    """Findings of one kind as they are when there are at most FOLD_AFTER of them; more become one finding at the
    first one's pointer, with `summary` (which should say how many) as its message and every other pointer in
    `also`."""
    if len(findings) <= FOLD_AFTER:
        return list(findings)
    first = findings[0]
    rest = tuple(p for finding in findings[1:] for p in (finding.pointer, *finding.also))
    return [Finding(first.severity, first.pointer, summary, first.code, rest)]


def examples(items: Sequence[str], shown: int = 8) -> str:
    """`a`, `b`, `c` and 12 more: a list that stays one line however long `items` is."""
    quoted = [f"`{item}`" for item in items[:shown]]
    more = len(items) - shown
    if more > 0:
        return ", ".join(quoted) + f" and {more} more"
    return ", ".join(quoted[:-1]) + f" and {quoted[-1]}" if len(quoted) > 1 else "".join(quoted)


def has_errors(findings: Iterable[Finding]) -> bool:
    return any(finding.is_error for finding in findings)


def silence(findings: Iterable[Finding], codes: Iterable[str]) -> tuple[Finding, ...]:
    """The findings without the warnings whose code is in `codes` (errors always stay)."""
    quiet = frozenset(codes)
    return tuple(f for f in findings if f.is_error or f.code not in quiet)
