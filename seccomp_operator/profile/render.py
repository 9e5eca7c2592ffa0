"""Render a validated profile to the file the node agent writes, byte for byte.

The output is the portable subset containerd and CRI-O read identically: OCI `LinuxSeccomp` fields only, keys in the
runtime-spec's field order (the order Go marshals them in), optional fields left out when absent, two-space
indentation, ASCII only, one trailing newline. The same profile always gives the same bytes, so the sha256 of the
content identifies a revision on every node and makes every write idempotent.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from seccomp_operator.profile.model import Arg, Profile, Rule


@dataclass(frozen=True, slots=True)
class Rendered:
    content: str
    sha256: str


def render(profile: Profile) -> Rendered:
    content = json.dumps(to_oci(profile), indent=2, ensure_ascii=True) + "\n"
    return Rendered(content, hashlib.sha256(content.encode("ascii")).hexdigest())


def to_oci(profile: Profile, *, allow_partial: bool = False) -> dict[str, object]:
    """The profile as a JSON-ready dict. `allow_partial` permits a missing defaultAction (a child spec that inherits
    it from its base profile); a file for a node never has one missing."""
    out: dict[str, object] = {}
    if profile.default_action is not None:
        out["defaultAction"] = profile.default_action
    elif not allow_partial:
        raise ValueError("a profile without defaultAction cannot be rendered; merge its base profile first")
    if profile.default_errno_ret is not None:
        out["defaultErrnoRet"] = profile.default_errno_ret
    if profile.architectures:
        out["architectures"] = list(profile.architectures)
    if profile.flags:
        out["flags"] = list(profile.flags)
    if profile.listener_path is not None:
        out["listenerPath"] = profile.listener_path
    if profile.listener_metadata is not None:
        out["listenerMetadata"] = profile.listener_metadata
    if profile.syscalls:
        out["syscalls"] = [_rule(rule) for rule in profile.syscalls]
    return out


def _rule(rule: Rule) -> dict[str, object]:
    out: dict[str, object] = {"names": list(rule.names), "action": rule.action}
    if rule.errno_ret is not None:
        out["errnoRet"] = rule.errno_ret
    if rule.args:
        out["args"] = [_arg(arg) for arg in rule.args]
    return out


def _arg(arg: Arg) -> dict[str, object]:
    out: dict[str, object] = {"index": arg.index, "value": arg.value}
    if arg.value_two:
        out["valueTwo"] = arg.value_two  # Go's `omitempty`: 0 and absent are the same
    out["op"] = arg.op
    return out
