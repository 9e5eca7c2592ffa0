"""Facts about processes from /proc: the descendants of a process, and this process's capabilities."""

from __future__ import annotations

import os
from collections.abc import Iterator

CAP_SYS_ADMIN = 21


def children(pid: int) -> list[int]:
    """The children of every thread of `pid` (CONFIG_PROC_CHILDREN); empty once it is gone."""
    found: list[int] = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as handle:
                found.extend(int(item) for item in handle.read().split())
        except OSError:
            continue
    return found


def descendants(pid: int) -> Iterator[int]:
    """Every living descendant of `pid`, parents before their children."""
    seen: set[int] = set()
    pending = children(pid)
    while pending:
        current = pending.pop(0)
        if current in seen:
            continue
        seen.add(current)
        yield current
        pending.extend(children(current))


def has_cap_sys_admin() -> bool:
    """Whether this process may load a seccomp filter without setting no_new_privs first."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> CAP_SYS_ADMIN & 1)
    return False
