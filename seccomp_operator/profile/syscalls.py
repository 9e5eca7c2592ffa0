"""Syscall-name facts from the libseccomp on this machine (pyseccomp over Debian's libseccomp2 2.5.4), cached.

Why libseccomp and not a name list of our own: runc and crun resolve names with libseccomp too, so "libseccomp knows
this name" is exactly "the runtime will not skip this rule as an unknown syscall".

The calls go through `libseccomp.py` (pyseccomp's library handle with our own prototypes; see there for why).

Numbers returned by `seccomp_syscall_resolve_name_arch` (observed on 2.5.4):
  >= 0                 the syscall's number on that architecture;
  -1                   libseccomp does not know the name at all (on 2.5.4 the table is shared, so a name unknown on
                       one architecture is unknown on all of them);
  -100 .. -299         multiplexed: the call exists only through socketcall(2) or ipc(2) (e.g. `socket` on x86),
                       which libseccomp rewrites when a rule is added, so the syscall is reachable;
  <= -10000            a pseudo-number: the name is known but the syscall does not exist on that architecture.
"""

from __future__ import annotations

import ctypes
import difflib
import functools
import re

from seccomp_operator.profile import libseccomp
from seccomp_operator.profile.arches import ARCHES

_PSEUDO_BASE = -10000
UNKNOWN = -1

# Only these characters occur in syscall names; anything else (a NUL byte would truncate the C string and silently
# turn "read\0x" into "read") is refused before libseccomp sees it.
SYSCALL_NAME = re.compile(r"[a-z0-9_]{1,64}")

# Syscalls added to Linux after the syscall table of the libseccomp used here was cut. libseccomp (and therefore
# runc/crun linked against it) does not know them; newer libseccomp does. They are real names, not typos.
NEWER_SYSCALLS: dict[str, str] = {
    "riscv_hwprobe": "6.4",
    "cachestat": "6.5",
    "fchmodat2": "6.6",
    "map_shadow_stack": "6.6",
    "futex_wake": "6.7",
    "futex_wait": "6.7",
    "futex_requeue": "6.7",
    "statmount": "6.8",
    "listmount": "6.8",
    "lsm_get_self_attr": "6.8",
    "lsm_set_self_attr": "6.8",
    "lsm_list_modules": "6.8",
    "mseal": "6.10",
    "uretprobe": "6.11",
    "setxattrat": "6.13",
    "getxattrat": "6.13",
    "listxattrat": "6.13",
    "removexattrat": "6.13",
    "open_tree_attr": "6.15",
    "file_getattr": "6.17",
    "file_setattr": "6.17",
}


@functools.cache
def libseccomp_version() -> str:
    return libseccomp.version()


@functools.cache
def supported(spec_arch: str) -> bool:
    """Whether this libseccomp can build a filter for the architecture (2.5.4 lacks LOONGARCH64, M68K, SH)."""
    info = ARCHES[spec_arch]
    return int(libseccomp.arch_resolve_name(info.libseccomp_name.encode())) == info.token


@functools.cache
def native_arch() -> str:
    token = int(libseccomp.arch_native())
    for info in ARCHES.values():
        if info.token == token:
            return info.spec_name
    raise RuntimeError(f"libseccomp reports an unknown native architecture {token:#x}")


@functools.lru_cache(maxsize=16384)
def resolve(name: str, spec_arch: str) -> int:
    """The syscall number of `name` on the architecture, or a negative code (see the module docstring)."""
    if not SYSCALL_NAME.fullmatch(name) or not supported(spec_arch):
        return UNKNOWN
    return int(libseccomp.resolve_name_arch(ARCHES[spec_arch].token, name.encode()))


def native_number(name: str) -> int:
    """The number libseccomp's rule_add expects: rules are always expressed in the native numbering (libseccomp
    translates them, through the name, for every other architecture in the filter)."""
    return resolve(name, native_arch())


@functools.lru_cache(maxsize=16384)
def is_known(name: str) -> bool:
    """Whether libseccomp knows the name on any architecture it supports (a name it knows nowhere is a typo)."""
    return any(resolve(name, arch) != UNKNOWN for arch in ARCHES if supported(arch))


@functools.lru_cache(maxsize=16384)
def present_on(name: str) -> frozenset[str]:
    """The architectures (of those this libseccomp supports) where the syscall exists, directly or multiplexed."""
    found = set()
    for arch in ARCHES:
        number = resolve(name, arch)
        if number >= 0 or _PSEUDO_BASE < number < UNKNOWN:
            found.add(arch)
    return frozenset(found)


def exists_on(name: str, spec_arch: str) -> bool:
    return spec_arch in present_on(name)


@functools.cache
def known_names() -> tuple[str, ...]:
    """Every name libseccomp numbers on x86_64, aarch64, x86 or arm, plus `NEWER_SYSCALLS`."""
    names: set[str] = set(NEWER_SYSCALLS)
    for spec_arch in ("SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64", "SCMP_ARCH_X86", "SCMP_ARCH_ARM"):
        token = ARCHES[spec_arch].token
        for number in range(1024):
            pointer = libseccomp.resolve_num_arch(token, number)
            if pointer:
                names.add(ctypes.string_at(pointer).decode())
                libseccomp.free(pointer)
    return tuple(sorted(names))


def suggest(name: str) -> list[str]:
    """Close spellings among the names libseccomp knows, for "did you mean" in a typo message."""
    return difflib.get_close_matches(name, known_names(), n=3, cutoff=0.75)
