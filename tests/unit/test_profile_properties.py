"""Property tests over generated profiles.

1. Nothing libseccomp refuses passes validation: whenever `validate_profile` says ok, an independent compile with
   pyseccomp's public API, done the way runc does it, succeeds for every declared architecture and for all of them
   in one filter.
2. Rendering is deterministic and round-trips: parse(render(p)) validates to the same profile and renders to the
   same bytes.

The generators lean on the edges: names that exist on some architectures only, multiplexed socket calls, typos,
names newer than libseccomp; errno 4094/4095/65536; argument index 5/6; values at the 32- and 64-bit boundaries.
"""

from __future__ import annotations

import os
from typing import Any

import pyseccomp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seccomp_operator.profile import parse_documents, render, validate_profile
from seccomp_operator.profile.arches import ARCHES
from seccomp_operator.profile.model import ACTIONS, OPERATORS, effective_action

COMMON = ["read", "write", "openat", "close", "getpid", "kill", "ioctl", "mmap", "personality", "clone", "futex"]
EDGE_NAMES = [
    # some architectures only
    "open", "arch_prctl", "vm86", "mmap2", "_llseek", "set_tls", "cacheflush", "modify_ldt", "chown32",
    # multiplexed through socketcall/ipc on some architectures
    "socket", "socketcall", "accept", "ipc", "shmget",
    # typos, too new for this libseccomp, not a name at all
    "reed", "getpidd", "opne", "mseal", "statmount", "", "READ",
]  # fmt: skip
LITTLE = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM",
          "SCMP_ARCH_PPC64LE", "SCMP_ARCH_RISCV64", "SCMP_ARCH_MIPSEL64"]  # fmt: skip
OTHER_ARCHES = ["SCMP_ARCH_S390X", "SCMP_ARCH_MIPS", "SCMP_ARCH_PPC64", "SCMP_ARCH_PARISC", "SCMP_ARCH_LOONGARCH64"]
SMALL = [0, 1, 2, 9, 0xFF]
EDGE_VALUES = [0x100, 0xFFFF_FFFF, 0x1_0000_0000, 2**63, 2**64 - 1]
COMMON_ACTIONS = ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_LOG", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRAP"]


def mostly(common: list[Any], edge: list[Any]) -> st.SearchStrategy[Any]:
    """Common values four times out of five: enough valid profiles to test, enough edges to find the limits."""
    return st.sampled_from([*common, *common, *common, *common, *edge])


names = mostly(COMMON, EDGE_NAMES)
actions = mostly(COMMON_ACTIONS, [*ACTIONS, "SCMP_ACT_NOPE"])
errnos = mostly([None, None, None, 1, 38], [0, 4094, 4095, 65535, 65536])
values = mostly(SMALL, EDGE_VALUES)
args = st.fixed_dictionaries(
    {
        "index": mostly([0, 1, 2, 3, 4, 5], [5, 6]),
        "value": values,
        "op": st.sampled_from([*OPERATORS, "SCMP_CMP_MASKED_EQ", "SCMP_CMP_MASKED_EQ"]),
    },
    optional={"valueTwo": values},
)


@st.composite
def rules(draw: st.DrawFn) -> dict[str, object]:
    action = draw(actions)
    size = draw(mostly([1, 2, 3], [0]))
    rule: dict[str, object] = {"names": draw(st.lists(names, min_size=size, max_size=max(size, 4))), "action": action}
    errno = draw(errnos)
    if errno is not None and (action in ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE") or draw(st.integers(0, 9)) == 0):
        rule["errnoRet"] = errno
    if draw(st.booleans()):
        distinct = st.lists(args, max_size=3, unique_by=lambda a: a["index"])
        rule["args"] = draw(distinct | distinct | distinct | st.lists(args, min_size=2, max_size=7))
    return rule


@st.composite
def profiles(draw: st.DrawFn) -> dict[str, object]:
    action = draw(actions)
    profile: dict[str, object] = {"defaultAction": action}
    errno = draw(errnos)
    if errno is not None and (action == "SCMP_ACT_ERRNO" or draw(st.integers(0, 9)) == 0):
        profile["defaultErrnoRet"] = errno
    arches = draw(st.lists(st.sampled_from(LITTLE), max_size=4, unique=True))
    if draw(st.integers(0, 7)) == 0:
        arches.append(draw(st.sampled_from(OTHER_ARCHES)))
    if arches or draw(st.booleans()):
        profile["architectures"] = arches
    if draw(st.integers(0, 4)) == 0:
        profile["listenerPath"] = "/run/seccomp-agent.sock"
    profile["syscalls"] = draw(st.lists(rules(), max_size=6))
    return profile


def compile_like_runc(profile: dict[str, Any], arches: list[str]) -> None:
    """Independent compile with pyseccomp's public API: one filter for `arches`, rules added as runc adds them."""
    default = _action(profile["defaultAction"], profile.get("defaultErrnoRet"))
    filt = pyseccomp.SyscallFilter(default)
    native = pyseccomp.system_arch()
    tokens = [ARCHES[arch].token for arch in arches]
    if native not in tokens:
        filt.remove_arch(pyseccomp.Arch.NATIVE)
    for token in tokens:
        if token != native:
            filt.add_arch(token)
    for rule in profile.get("syscalls") or []:
        action = _action(rule["action"], rule.get("errnoRet"))
        if action == default:
            continue
        conditions = [
            pyseccomp.Arg(
                a["index"], getattr(pyseccomp, a["op"].removeprefix("SCMP_CMP_")), a["value"], a.get("valueTwo", 0)
            )
            for a in rule.get("args") or []
        ]
        for name in rule["names"]:
            number = pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, name)
            if number == -1:
                continue  # unknown to this libseccomp: runc ignores it
            filt.add_rule(action, number, *conditions)
    fd = os.memfd_create("property-bpf")
    try:
        with os.fdopen(fd, "wb", closefd=False) as sink:
            filt.export_bpf(sink)
    finally:
        os.close(fd)


def _action(action: str, errno: int | None) -> int:
    name, value = effective_action(action, errno)
    short = name.removeprefix("SCMP_ACT_")
    if short in ("ERRNO", "TRACE"):
        return int(getattr(pyseccomp, short)(value))
    return int(getattr(pyseccomp, short))


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(profiles())
def test_nothing_libseccomp_refuses_passes_validation(profile: dict[str, Any]) -> None:
    validation = validate_profile(profile)
    if not validation.ok:
        return
    arches = list(dict.fromkeys(profile.get("architectures") or [])) or [
        next(a for a, info in ARCHES.items() if info.token == pyseccomp.system_arch())
    ]
    for arch in arches:
        compile_like_runc(profile, [arch])  # raises OSError if libseccomp refuses
    compile_like_runc(profile, arches)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(profiles())
def test_render_round_trips(profile: dict[str, Any]) -> None:
    validation = validate_profile(profile, compile_check=False)
    if validation.profile is None:
        return
    rendered = render(validation.profile)
    assert render(validation.profile) == rendered
    (document,) = parse_documents(rendered.content, filename="rendered.json")
    assert document.findings == ()
    again = validate_profile(document.data, compile_check=False)
    assert again.profile == validation.profile
    assert again.findings == validation.findings
    assert render(again.profile) == rendered


def test_generators_reach_valid_profiles() -> None:
    """Guard against a generator that only ever produces invalid profiles (which would make the above vacuous)."""
    seen = {"ok": 0, "refused": 0}

    @settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(profiles())
    def count(profile: dict[str, Any]) -> None:
        validation = validate_profile(profile, compile_check=False)
        seen["ok" if validation.ok else "refused"] += 1

    count()
    assert seen["ok"] >= 10, seen
    assert seen["refused"] >= 10, seen
