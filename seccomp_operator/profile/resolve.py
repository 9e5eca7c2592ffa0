"""Base profiles resolved: a SeccompProfile together with the chain of profiles it extends, validated as one.

A profile may be valid on its own and invalid once merged with its base (two rules for one syscall that contradict,
an architecture the base adds that a value does not fit); a chain may loop (`a -> b -> a`) or name a profile that
does not exist. `resolve_profile` finds each of these from the manifests alone (no API calls: the caller passes the
other profiles of the namespace), so `lint` over a set of files, the admission webhook and the controller decide alike.

Every finding points into the manifest that was resolved: a problem in the merged result is mapped back to the
profile's own field (`/spec/syscalls/3/names/0`), or, when it lies in a base profile, to `/spec/baseProfileName`
with a message that names the base and its field. Messages name other places the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

from seccomp_operator.profile.compile import BpfSinkFactory
from seccomp_operator.profile.findings import Finding, Findings, error, has_errors, silence, split
from seccomp_operator.profile.merge import merge
from seccomp_operator.profile.model import Profile
from seccomp_operator.profile.render import to_oci
from seccomp_operator.profile.resource import ResourceValidation, validate_resource
from seccomp_operator.profile.validate import check_profile

# Levels of base profiles followed before giving up (a deeper chain is refused, not truncated).
MAX_BASE_DEPTH = 8

Reason = Literal[
    "Validated",  # the profile, merged with its bases, is valid: `profile` is what nodes get
    "InvalidSpec",  # the profile itself is invalid, or its chain of bases is deeper than MAX_BASE_DEPTH
    "BaseProfileMissing",  # a profile of the chain names a base that is not among the given profiles
    "BaseProfileCycle",  # the chain comes back to a profile already in it
    "BaseProfileInvalid",  # a base profile is invalid on its own
    "BaseProfileConflict",  # each profile is valid, the merged result is not
]
_BASE = "/spec/baseProfileName"


@dataclass(frozen=True, slots=True)
class Resolved(Findings):
    reason: Reason
    findings: tuple[Finding, ...]  # errors and warnings, pointers into the resolved manifest
    profile: Profile | None  # the merged, validated profile (render it for the node file); None unless Validated
    bases: tuple[str, ...]  # the base profiles followed, nearest first

    @property
    def ok(self) -> bool:
        return self.reason == "Validated"


def resolve_profile(
    manifest: object,
    others: Mapping[str, object],
    *,
    compile_check: bool = True,
    bpf_sink: BpfSinkFactory | None = None,
) -> Resolved:
    """Validate a SeccompProfile manifest merged with its chain of base profiles.

    `others` maps metadata.name to the manifest of every other SeccompProfile in the same namespace (the profile's
    own entry, if present, is ignored). Without a `baseProfileName` this is `validate_resource` and nothing more.
    With one, the profile's own spec is checked first, then each base on its own (statically: a base that is a
    complete profile has passed the same checks when it was admitted), then the merged result in full, including
    the libseccomp compile, once.
    """
    own = validate_resource(manifest, compile_check=compile_check, bpf_sink=bpf_sink)
    if own.base_profile_name is None or not own.ok:
        reason: Reason = "Validated" if own.ok else "InvalidSpec"
        return Resolved(reason, own.findings, own.profile if own.ok else None, ())
    assert own.profile is not None and own.name is not None
    where = f"namespace `{own.namespace}`" if own.namespace else "its namespace"

    # Follow the chain; members[0] is the profile itself, members[-1] the root base.
    members: list[tuple[str, ResourceValidation]] = [(own.name, own)]
    base: str | None = own.base_profile_name
    while base is not None:
        names = [name for name, _ in members]
        named_by = "" if len(members) == 1 else f"base profile `{names[-1]}` names `{base}` as its base, but "
        if base in names:
            cycle = " -> ".join([*names, base])
            return _stop(own, "BaseProfileCycle", "base-profile-cycle", f"base profiles form a cycle: {cycle}", names)
        if len(members) > MAX_BASE_DEPTH:
            message = f"the chain of base profiles is deeper than {MAX_BASE_DEPTH} levels: {' -> '.join(names)} -> ..."
            return _stop(own, "InvalidSpec", "base-profile-too-deep", message, names)
        found = others.get(base)
        if found is None:
            message = f"{named_by}base profile `{base}` does not exist in {where}"
            return _stop(own, "BaseProfileMissing", "base-profile-missing", message, names)
        checked = validate_resource(found, compile_check=False)
        if not checked.ok:
            shown = checked.errors
            first = shown[0]
            more = f" (and {len(shown) - 1} more errors)" if len(shown) > 1 else ""
            message = f"base profile `{base}` is invalid: {first.pointer or '/'}: {first.message}{more}"
            return _stop(own, "BaseProfileInvalid", "base-profile-invalid", message, [*names, base])
        members.append((base, checked))
        base = checked.base_profile_name

    chain = list(reversed(members))  # root base first, the order merge() takes them in
    merged: Profile | None = None
    for _, member in chain:
        assert member.profile is not None
        merged = member.profile if merged is None else merge(merged, member.profile)
    assert merged is not None
    origins = _Origins(chain, own.name)
    validation = check_profile(
        to_oci(merged), partial=False, compile_check=compile_check, bpf_sink=bpf_sink, describe=origins.describe
    )
    mapped = [m for m in (origins.map(f) for f in silence(validation.findings, own.silenced)) if m is not None]
    # The profile's own static findings (shape, metadata, ...) that the merged result cannot show, e.g. a dropped
    # Docker key; where both say the same of one field, the merged one (it knows the inherited context) wins.
    seen = {(f.code, f.pointer) for f in mapped}
    findings = tuple(mapped) + tuple(f for f in own.findings if (f.code, f.pointer) not in seen)
    bases = tuple(name for name, _ in members[1:])
    if has_errors(findings):
        return Resolved("BaseProfileConflict", findings, None, bases)
    return Resolved("Validated", findings, validation.profile, bases)


def _stop(own: ResourceValidation, reason: Reason, code: str, message: str, names: list[str]) -> Resolved:
    return Resolved(reason, (*own.findings, error(_BASE, code, message)), None, tuple(names[1:]))


class _Origins:
    """Where each part of a merged profile came from, so its findings point into the resolved manifest."""

    def __init__(self, chain: list[tuple[str, ResourceValidation]], own: str) -> None:
        self.own = own
        self.rules: list[tuple[str, int]] = []  # merged rule index -> (member, rule index in its spec)
        self.arches: list[tuple[str, int]] = []  # merged architecture index -> (member, index in its list)
        self.fields: dict[str, str] = {}  # top-level field -> the nearest member that sets it
        listed: set[str] = set()
        for name, member in chain:
            profile = member.profile
            assert profile is not None
            self.rules.extend((name, i) for i in range(len(profile.syscalls)))
            for i, arch in enumerate(profile.architectures):
                if arch not in listed:
                    listed.add(arch)
                    self.arches.append((name, i))
            for field, value in (
                ("defaultAction", profile.default_action),
                ("defaultErrnoRet", profile.default_errno_ret),
                ("flags", profile.flags),
                ("listenerPath", profile.listener_path),
                ("listenerMetadata", profile.listener_metadata),
            ):
                if value is not None and value != ():
                    self.fields[field] = name  # the chain runs root first: the nearest member is set last

    def locate(self, pointer: str) -> tuple[str, str]:
        """(member, pointer into that member's manifest) for a pointer into the merged profile."""
        tokens = split(pointer)
        if len(tokens) >= 2 and tokens[0] == "syscalls" and tokens[1].isdigit():
            member, index = self.rules[int(tokens[1])]
            return member, "/".join(["/spec/syscalls", str(index), *tokens[2:]])
        if len(tokens) >= 2 and tokens[0] == "architectures" and tokens[1].isdigit():
            member, index = self.arches[int(tokens[1])]
            return member, f"/spec/architectures/{index}"
        if tokens and tokens[0] in self.fields:
            return self.fields[tokens[0]], "/spec" + pointer
        return self.own, "/spec" + pointer  # the whole profile, /syscalls or /architectures as a whole

    def describe(self, pointer: str) -> str:
        member, where = self.locate(pointer)
        return where if member == self.own else f"{where} of base profile `{member}`"

    def map(self, finding: Finding) -> Finding | None:
        """The finding re-pointed into the resolved manifest; None for a warning that concerns only a base (the
        base's own status reports it)."""
        places = [self.locate(p) for p in (finding.pointer, *finding.also)]
        own = [where for member, where in places if member == self.own]
        if own:
            return replace(finding, pointer=own[0], also=tuple(own[1:]))
        if not finding.is_error:
            return None
        member, where = places[0]
        return replace(finding, pointer=_BASE, message=f"in base profile `{member}` at {where}: {finding.message}")
