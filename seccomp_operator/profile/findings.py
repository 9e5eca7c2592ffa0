"""Findings: what the core says about a profile, each tied to the field it is about.

A finding's `pointer` is an RFC 6901 JSON pointer into the document that was validated ("" is the whole
document). Callers that validate a part of a larger document (the `spec` of a manifest, one document of a YAML
stream) re-base the pointers with `rebase`, so a message always names the field a person has to edit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Finding:
    severity: Severity
    pointer: str
    message: str
    code: str

    @property
    def is_error(self) -> bool:
        return self.severity == "error"


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
    return tuple(replace(finding, pointer=prefix + finding.pointer) for finding in findings)


def has_errors(findings: Iterable[Finding]) -> bool:
    return any(finding.is_error for finding in findings)
