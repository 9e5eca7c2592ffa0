"""Base profiles: a SeccompProfile may name another one (`baseProfileName`) and extend it.

Rules: the base's rules come first, then the child's (libseccomp keeps the first of two contradicting rules, and the
validator refuses contradictions, so a child cannot quietly override its base). The child's `defaultAction` wins when
set, and then its `defaultErrnoRet` goes with it (even when absent: an errno belongs to the action it was written
for); otherwise the base's action stays, with the child's errno if the child sets one. `flags` and the listener are
the child's when it sets them, else the base's (`listenerMetadata` travels with the `listenerPath` it was written
for). `architectures` is the union, base order first. The result must be validated again: `validate_profile(
to_oci(merge(base, child)))`; rule i of the result is base rule i when i < len(base.syscalls), else child rule
i - len(base.syscalls) (`rule_origin`).
"""

from __future__ import annotations

from typing import Literal

from seccomp_operator.profile.model import Profile


def merge(base: Profile, child: Profile) -> Profile:
    default_action: str | None
    listener_path: str | None
    if child.default_action is not None:
        default_action, default_errno_ret = child.default_action, child.default_errno_ret
    else:
        default_action = base.default_action
        default_errno_ret = child.default_errno_ret if child.default_errno_ret is not None else base.default_errno_ret
    if child.listener_path is not None:
        listener_path, listener_metadata = child.listener_path, child.listener_metadata
    else:
        listener_path = base.listener_path
        listener_metadata = child.listener_metadata if child.listener_metadata is not None else base.listener_metadata
    return Profile(
        default_action=default_action,
        default_errno_ret=default_errno_ret,
        architectures=tuple(dict.fromkeys(base.architectures + child.architectures)),
        flags=child.flags or base.flags,
        listener_path=listener_path,
        listener_metadata=listener_metadata,
        syscalls=base.syscalls + child.syscalls,
    )


def rule_origin(index: int, base: Profile) -> tuple[Literal["base", "child"], int]:
    """Where rule `index` of `merge(base, child)` came from."""
    if index < len(base.syscalls):
        return "base", index
    return "child", index - len(base.syscalls)
