"""Compile a profile with libseccomp, the way runc does, and export the BPF without loading it.

This is the last word on "will the runtime accept it": every rule goes through the same libseccomp calls runc makes,
so whatever libseccomp refuses becomes a `libseccomp-refused` finding that names the rule.

How runc builds the filter (libcontainer/seccomp/seccomp_linux.go) and how we mirror it:
- a rule whose action equals the default action is skipped before anything else is checked;
- names are resolved in the native numbering; a name libseccomp does not know is skipped ("unknown seccomp syscall
  ignored"); libseccomp translates the rest for each architecture of the filter and silently leaves out a syscall
  that does not exist on one (e.g. `open` on aarch64), and rewrites socketcall/ipc calls on x86, s390, ppc, mips;
- rules are added with seccomp_rule_add (not _exact), conditions as given.

One filter per declared architecture rather than one filter for all: libseccomp 2.5.4's BPF generation grows
superlinearly with program length (measured on Docker's default profile: 1 ms for one architecture, 13 ms for four
together), and per-architecture filters also let a refusal name its architecture. The program the kernel loads covers
all architectures at once and must stay within BPF_MAXINSNS (4096 instructions, kernel/seccomp.c); the sum of the
per-architecture programs bounds it from above, and only when that sum comes near the limit is the combined filter
built to get the exact size.

Why a sink is injected: `seccomp_export_bpf` writes to a file descriptor and libseccomp 2.5.4 has no in-memory
export (`seccomp_export_bpf_mem` arrived in 2.6.0). The core must not create file descriptors itself (no os, io or
tempfile here), so the caller passes a factory of `BpfSink`s; `seccomp_operator.bpf_sink.MemfdSink`, an anonymous
memfd, is the shell's implementation and the default.
"""

from __future__ import annotations

import errno as errno_codes
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import pyseccomp

from seccomp_operator.profile import libseccomp, syscalls
from seccomp_operator.profile.arches import ARCHES
from seccomp_operator.profile.findings import Finding, error, join, warning
from seccomp_operator.profile.model import Profile, Rule, effective_action

BPF_MAXINSNS = 4096  # the kernel refuses a longer seccomp program with EINVAL
_BPF_INSN_BYTES = 8
# runc prepends its own stub (patchbpf: return ENOSYS for syscalls newer than the profile) to libseccomp's program,
# so a program this close to the limit may not fit once loaded; warn, do not refuse.
_NEAR_LIMIT = BPF_MAXINSNS - 512
_SINGLE_OVERHEAD = 8  # an empty one-architecture program is 7 instructions (observed); all of it is frame


class BpfSink(Protocol):
    """A writable file descriptor libseccomp can export into, and a way to read back what it wrote."""

    def fileno(self) -> int: ...

    def getvalue(self) -> bytes: ...

    def close(self) -> None: ...


BpfSinkFactory = Callable[[], BpfSink]


@dataclass(frozen=True, slots=True)
class Compiled:
    """Instructions per architecture compiled (libseccomp's program for a filter of that one architecture)."""

    instructions: dict[str, int]
    combined_instructions: int | None  # exact size of the all-architecture program, when it was worth computing
    findings: tuple[Finding, ...]


def default_sink_factory() -> BpfSinkFactory:
    # Imported lazily, and only when the caller injected no sink, so `validate_profile(obj)` stays a one-argument
    # call for the controller and the CLI while nothing in the core opens a file descriptor by itself.
    from seccomp_operator.bpf_sink import MemfdSink

    return MemfdSink


_OPERATORS: dict[str, int] = {
    "SCMP_CMP_NE": pyseccomp.NE,
    "SCMP_CMP_LT": pyseccomp.LT,
    "SCMP_CMP_LE": pyseccomp.LE,
    "SCMP_CMP_EQ": pyseccomp.EQ,
    "SCMP_CMP_GE": pyseccomp.GE,
    "SCMP_CMP_GT": pyseccomp.GT,
    "SCMP_CMP_MASKED_EQ": pyseccomp.MASKED_EQ,
}
_FIXED_ACTIONS = {
    "SCMP_ACT_KILL_THREAD": pyseccomp.KILL_THREAD,
    "SCMP_ACT_KILL_PROCESS": pyseccomp.KILL_PROCESS,
    "SCMP_ACT_TRAP": pyseccomp.TRAP,
    "SCMP_ACT_ALLOW": pyseccomp.ALLOW,
    "SCMP_ACT_LOG": pyseccomp.LOG,
    "SCMP_ACT_NOTIFY": pyseccomp.NOTIFY,
}


def action_value(action: str, errno_ret: int | None) -> int:
    """libseccomp's 32-bit action for an OCI action name (KILL is KILL_THREAD, as in runc and crun)."""
    name, value = effective_action(action, errno_ret)
    if name == "SCMP_ACT_ERRNO":
        assert value is not None
        return int(pyseccomp.ERRNO(value))
    if name == "SCMP_ACT_TRACE":
        assert value is not None
        return int(pyseccomp.TRACE(value))
    return int(_FIXED_ACTIONS[name])


def compile_profile(profile: Profile, sink_factory: BpfSinkFactory | None = None) -> Compiled:
    """Compile for each declared architecture (the native one when none is declared). The profile must be complete
    (have a default action) and must already have passed the static checks; findings use its rule indices."""
    if profile.default_action is None:
        raise ValueError("a profile without defaultAction cannot be compiled; merge its base profile first")
    factory = sink_factory or default_sink_factory()
    default = action_value(profile.default_action, profile.default_errno_ret)
    prepared = _prepare(profile.syscalls, default)
    arches = list(dict.fromkeys(profile.architectures)) or [syscalls.native_arch()]
    arches = [arch for arch in arches if arch in ARCHES and syscalls.supported(arch)]

    findings: list[Finding] = []
    instructions: dict[str, int] = {}
    for arch in arches:
        size = _compile(default, [arch], prepared, factory, findings)
        if size is not None:
            instructions[arch] = size

    combined: int | None = None
    if len(instructions) == len(arches) and sum(instructions.values()) > _NEAR_LIMIT:
        # The combined program holds every per-architecture section (each single program adds at most the
        # architecture check and the bad-architecture return around it), so when one section alone is over the
        # limit, the slow combined build is not needed to know.
        largest = max(instructions.values()) - _SINGLE_OVERHEAD
        combined = largest if largest > BPF_MAXINSNS else _compile(default, arches, prepared, factory, findings)
        if combined is not None and combined > BPF_MAXINSNS:
            findings.append(
                error(
                    "/syscalls",
                    "bpf-too-large",
                    f"the compiled filter for {_names(arches)} has {combined} BPF instructions; the kernel "
                    f"refuses programs longer than {BPF_MAXINSNS}, so every container using this profile fails "
                    "to start. Declare fewer architectures or merge rules.",
                )
            )
        elif combined is not None and combined > _NEAR_LIMIT:
            findings.append(
                warning(
                    "/syscalls",
                    "bpf-near-limit",
                    f"the compiled filter for {_names(arches)} has {combined} BPF instructions, close to the "
                    f"kernel's limit of {BPF_MAXINSNS}; runc adds a few dozen of its own when it loads it",
                )
            )
    return Compiled(instructions, combined, tuple(findings))


@dataclass(frozen=True, slots=True)
class _Prepared:
    rule: int  # index in syscalls
    name_index: int
    name: str
    number: int  # native numbering, as seccomp_rule_add expects
    action: int
    count: int
    args: Any  # ctypes array of scmp_arg_cmp, shared by the names of one rule

    @property
    def pointer(self) -> str:
        return join("/syscalls", self.rule, "names", self.name_index)


def _prepare(rules: tuple[Rule, ...], default: int) -> list[_Prepared]:
    prepared: list[_Prepared] = []
    # Each distinct (syscall, action, conditions) is added once. runc adds a repeat too, but libseccomp leaves the
    # program unchanged by it (tests/unit/test_profile_limits.py compares the exported BPF) while each repeat costs
    # more than the one before (observed on 2.5.4: 5,000 adds of one rule took 0.6 s, quadratic in the repeats),
    # which made a profile of 20 rules x 1,000 repeated names take 7 s to validate.
    added: set[tuple[int, int, tuple[tuple[int, int, int, int], ...]]] = set()
    for i, rule in enumerate(rules):
        action = action_value(rule.action, rule.errno_ret)
        if action == default:
            continue  # runc skips it before looking at names or arguments; raw libseccomp would say EACCES
        conditions = tuple((a.index, _OPERATORS[a.op], a.value, a.value_two) for a in rule.args)
        args = libseccomp.arg_array(list(conditions))
        for j, name in enumerate(rule.names):
            number = syscalls.native_number(name)
            if number == syscalls.UNKNOWN:
                continue  # runc: "unknown seccomp syscall ignored"
            key = (number, action, conditions)
            if key in added:
                continue
            added.add(key)
            prepared.append(_Prepared(i, j, name, number, action, len(conditions), args))
    return prepared


def _compile(
    default: int,
    arches: list[str],
    prepared: list[_Prepared],
    factory: BpfSinkFactory,
    findings: list[Finding],
) -> int | None:
    where = _names(arches)
    native = syscalls.native_arch()
    # For one architecture, names that do not exist there are skipped here: libseccomp would skip them too, and
    # not asking saves a quarter of the calls on aarch64. The combined filter leaves that to libseccomp.
    only = arches[0] if len(arches) == 1 else None
    try:
        with libseccomp.Filter(default) as filt:
            if native not in arches:
                # Remove the native architecture first: libseccomp refuses (EDOM) to mix endiannesses in a filter.
                filt.remove_arch(libseccomp.NATIVE)
            for arch in arches:
                if arch != native:
                    filt.add_arch(ARCHES[arch].token)
            refused = False
            for item in prepared:
                if only is not None and not syscalls.exists_on(item.name, only):
                    continue
                try:
                    filt.add_rule(item.action, item.number, item.count, item.args)
                except OSError as exc:
                    refused = True
                    findings.append(
                        error(
                            item.pointer,
                            "libseccomp-refused",
                            f"libseccomp {syscalls.libseccomp_version()} refused the rule for `{item.name}` on "
                            f"{where}: {_reason(exc)}; runc would fail to create the container",
                        )
                    )
            if refused:
                return None
            sink = factory()
            try:
                filt.export_bpf(sink.fileno())
                program = sink.getvalue()
            finally:
                sink.close()
    except OSError as exc:
        findings.append(
            error("", "libseccomp-refused", f"libseccomp could not compile the filter for {where}: {_reason(exc)}")
        )
        return None
    return len(program) // _BPF_INSN_BYTES


def _names(arches: list[str]) -> str:
    return ", ".join(arch.removeprefix("SCMP_ARCH_") for arch in arches)


_HINTS = {
    errno_codes.EEXIST: "another rule for the same syscall with the same conditions has a different action "
    "(names can map to the same syscall on one architecture)",
    errno_codes.EINVAL: "libseccomp considers the rule invalid",
    errno_codes.EDOM: "the architecture does not fit this filter",
    errno_codes.EACCES: "the rule's action equals the default action",
}


def _reason(exc: OSError) -> str:
    code = exc.errno or 0
    name = errno_codes.errorcode.get(code, str(code))
    hint = _HINTS.get(code)
    return f"{exc.strerror} ({name})" + (f": {hint}" if hint else "")
