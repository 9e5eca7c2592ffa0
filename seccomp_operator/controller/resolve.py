"""Validate a SeccompProfile together with its chain of base profiles and render the file the nodes will hold.

A missing base or a cycle is reported, never guessed; the merged result is validated again, because two valid
profiles can conflict once their rules are united.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from seccomp_operator.profile import Finding, Rendered, merge, render, validate_profile, validate_resource

MAX_BASE_DEPTH = 8
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
    namespace, _, name = key.partition("/")
    chain: list[str] = [name]
    current = profiles[key]
    while base := (current.get("spec") or {}).get("baseProfileName"):
        if base in chain:
            cycle = " -> ".join([*chain, base])
            return Resolution(
                False, "BaseProfileCycle", f"/spec/baseProfileName: error: base profiles form a cycle: {cycle}"
            )
        if len(chain) > MAX_BASE_DEPTH:
            return Resolution(
                False,
                "InvalidSpec",
                f"/spec/baseProfileName: error: more than {MAX_BASE_DEPTH} levels of base profiles",
            )
        base_obj = profiles.get(f"{namespace}/{base}")
        if base_obj is None:
            return Resolution(
                False,
                "BaseProfileMissing",
                f"/spec/baseProfileName: error: base profile {base!r} does not exist in namespace {namespace!r}",
            )
        chain.append(base)
        current = base_obj

    merged = None
    warnings: list[Finding] = []
    # From the root base down to the profile itself.
    for depth, member in enumerate(reversed(chain)):
        manifest = profiles[f"{namespace}/{member}"]
        checked = validate_resource(dict(manifest))
        is_self = depth == len(chain) - 1
        if not checked.ok:
            errors = format_findings([f for f in checked.findings if f.is_error])
            if is_self:
                return Resolution(False, "InvalidSpec", errors, findings=list(checked.findings))
            return Resolution(
                False,
                "BaseProfileInvalid",
                f"/spec/baseProfileName: error: base profile {member!r} is invalid: {errors}",
            )
        if is_self:
            warnings = [f for f in checked.findings if not f.is_error]
        assert checked.profile is not None
        merged = checked.profile if merged is None else merge(merged, checked.profile)
    assert merged is not None
    rendered = render(merged)
    if len(chain) > 1:
        again = validate_profile(json.loads(rendered.content))
        if not again.ok:
            conflicts = list(again.errors)
            return Resolution(
                False,
                "BaseProfileConflict",
                "merged with its base profiles the result is invalid: " + format_findings(conflicts),
                findings=conflicts,
            )
    message = f"validated; hash {rendered.sha256[:12]}"
    if warnings:
        message += "; " + format_findings(warnings)
    return Resolution(True, "Validated", message, rendered, warnings, chain[1:])
