"""A SeccompProfile resolved with its chain of base profiles (the profile core's `resolve_profile`), rendered and
summed up as the one-line message the controller puts in conditions and Events.

A missing base or a cycle is reported, never guessed; the merged result is validated again, because two valid
profiles can conflict once their rules are united.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from seccomp_operator.profile import MAX_BASE_DEPTH, Finding, Rendered, render, resolve_profile

__all__ = ["MAX_BASE_DEPTH", "MAX_FINDINGS_IN_MESSAGE", "Resolution", "format_findings", "resolve"]

MAX_FINDINGS_IN_MESSAGE = 10


@dataclass(frozen=True)
class Resolution:
    ok: bool
    reason: (
        str  # condition reason: Validated | InvalidSpec | BaseProfileMissing | BaseProfileCycle | BaseProfileInvalid
    )
    message: str
    rendered: Rendered | None = None
    findings: list[Finding] = field(default_factory=list)
    bases: list[str] = field(default_factory=list)  # base profile names, nearest first


def format_findings(findings: list[Finding] | tuple[Finding, ...], prefix: str = "") -> str:
    """The lines `lint` prints, without the path: `POINTER: severity: message`."""
    lines = [f"{prefix}{f.pointer or '/'}: {f.severity}: {f.message}" for f in findings]
    extra = len(lines) - MAX_FINDINGS_IN_MESSAGE
    text = "; ".join(lines[:MAX_FINDINGS_IN_MESSAGE])
    return text + (f"; and {extra} more" if extra > 0 else "")


def resolve(key: str, profiles: Mapping[str, Mapping[str, Any]]) -> Resolution:
    """`key` is `namespace/name`; `profiles` holds at least its chain, keyed the same way."""
    namespace = key.partition("/")[0]
    others = {k.partition("/")[2]: v for k, v in profiles.items() if k.partition("/")[0] == namespace}
    resolved = resolve_profile(dict(profiles[key]), others)
    if not resolved.ok:
        shown = resolved.errors
        if resolved.reason == "BaseProfileConflict":
            message = "merged with its base profiles the result is invalid: " + format_findings(shown)
        else:
            message = format_findings(shown)
        return Resolution(False, resolved.reason, message, findings=list(resolved.findings))
    assert resolved.profile is not None
    rendered = render(resolved.profile)
    message = f"validated; hash {rendered.sha256[:12]}"
    if resolved.warnings:
        message += "; " + format_findings(resolved.warnings)
    return Resolution(True, "Validated", message, rendered, list(resolved.warnings), list(resolved.bases))
