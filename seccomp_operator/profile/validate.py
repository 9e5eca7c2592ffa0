"""The decision table: what a profile must satisfy before any node sees it, and why (see README.md).

`validate_profile` = structure (`shape.py`) + meaning (this module) + a real compile with libseccomp
(`compile.py`), the compile only when everything else passed. A `Profile` comes back only when there is no error.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass

from seccomp_operator.profile import syscalls
from seccomp_operator.profile.arches import ARCHES
from seccomp_operator.profile.compile import BpfSinkFactory, compile_profile
from seccomp_operator.profile.findings import Finding, Findings, error, examples, fold, has_errors, join, warning
from seccomp_operator.profile.model import (
    ACTIONS,
    ERRNO_ACTIONS,
    FLAGS,
    MAX_ARGS,
    MAX_ERRNO,
    MAX_TRACE_DATA,
    OPERATORS,
    UINT32_MAX,
    Profile,
    Rule,
    condition_key,
    effective_action,
)
from seccomp_operator.profile.shape import Shaped, ShapedRule, shape_profile


@dataclass(frozen=True, slots=True)
class Validation(Findings):
    profile: Profile | None  # None when there is any error
    findings: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        return not has_errors(self.findings)


# How a message names another place in the profile (a pointer relative to the validated object).
Describe = Callable[[str], str]


def validate_profile(
    obj: object,
    *,
    compile_check: bool = True,
    bpf_sink: BpfSinkFactory | None = None,
    describe: Describe | None = None,
) -> Validation:
    """Validate a bare OCI `LinuxSeccomp` object (parsed JSON). Pointers are relative to `obj`.

    `compile_check=False` skips the libseccomp compile (the property tests use it to show the static checks alone
    already catch what libseccomp refuses); `bpf_sink` injects where the BPF export goes (see compile.py);
    `describe` says how a message names another place (a manifest says `/spec/...`; a merged profile names the base
    profile a rule came from); by default, the pointer itself.
    """
    return check_profile(obj, partial=False, compile_check=compile_check, bpf_sink=bpf_sink, describe=describe)


def check_profile(
    obj: object,
    *,
    partial: bool,
    extra_keys: Collection[str] = (),
    manifest: bool = False,
    compile_check: bool = True,
    bpf_sink: BpfSinkFactory | None = None,
    describe: Describe | None = None,
) -> Validation:
    """`partial`: the spec of a SeccompProfile with a base profile, which may leave fields to the base (no
    defaultAction, listenerPath or architectures of its own); it is not compiled until merged. `manifest`: the
    object is a SeccompProfile's spec, read by the API server rather than by a runtime."""
    # The size cap comes first: everything after it takes time in proportion to the names (and the compile more).
    names = count_names(obj)
    if names > MAX_SYSCALL_NAMES:
        return Validation(
            None,
            (
                error(
                    "/syscalls",
                    "too-many-names",
                    f"the profile lists {names} syscall names in all rules together (repeats count); the limit is "
                    f"{MAX_SYSCALL_NAMES}. About 450 syscalls exist, so a profile needs far fewer; checking and "
                    "compiling that many would hold up admission. Remove the repeats.",
                ),
            ),
        )
    shaped = shape_profile(obj, extra_keys=extra_keys, manifest=manifest)
    findings = list(shaped.findings)
    if not shaped.is_object:
        return Validation(None, tuple(findings))
    comparisons = sum(len(item.rule.names) * len(item.rule.args) for item in shaped.rules)
    if comparisons > MAX_ARG_COMPARISONS:
        findings.append(
            error(
                "/syscalls",
                "too-complex",
                f"the rules test {comparisons} argument conditions in all (each condition counts once for every "
                f"syscall name of its rule); the limit is {MAX_ARG_COMPARISONS}. libseccomp's compile time grows "
                "much faster than the number of conditions (a few hundred take seconds) and such a filter soon "
                "passes the kernel's limit of 4096 instructions; real profiles test a few (Docker's default, 9).",
            )
        )
    _Checker(shaped, partial, findings, describe or _same).run()
    if has_errors(findings):
        return Validation(None, tuple(findings))
    profile = Profile(
        default_action=shaped.default_action,
        default_errno_ret=shaped.default_errno_ret,
        architectures=tuple(shaped.architectures),
        flags=tuple(shaped.flags),
        listener_path=shaped.listener_path,
        listener_metadata=shaped.listener_metadata,
        syscalls=tuple(item.rule for item in shaped.rules),
    )
    if compile_check and profile.default_action is not None:
        findings.extend(compile_profile(profile, bpf_sink).findings)
        if has_errors(findings):
            return Validation(None, tuple(findings))
    return Validation(profile, tuple(findings))


# Limits that keep validation of any profile well under a second (bench/profile_core.py measures the worst case
# they allow). The CRD enforces the same numbers with CEL (tests/unit/test_profile_limits.py checks they agree).
# Syscall names in all rules together, repeats included: real profiles list about 450 (every syscall once).
MAX_SYSCALL_NAMES = 4096
# Argument conditions in all rules together, each counted once per syscall name of its rule. libseccomp 2.5.4's
# BPF generation grows much faster than linearly with the program (measured here, every syscall allowed on the ten
# little-endian architectures plus conditions on other syscalls: 1-argument rules took 0.09 s of CPU with none,
# 0.13 s with 64, 0.19 s with 128; 6-argument rules 0.30 s with 64, 0.46 s with 128; 1,024 conditions took
# seconds). Real profiles test a few (Docker's default: 9).
MAX_ARG_COMPARISONS = 64


# "Did you mean" for at most this many misspelt names per profile (each costs a fuzzy match over ~480 names).
MAX_SUGGESTIONS = 32


def count_names(obj: object) -> int:
    """Syscall names in all rules, counted on the raw object without decoding it (cheap, tolerant of bad shapes)."""
    if not isinstance(obj, dict) or not isinstance(obj.get("syscalls"), list):
        return 0
    return sum(
        len(rule["names"]) for rule in obj["syscalls"] if isinstance(rule, dict) and isinstance(rule.get("names"), list)
    )


def _same(pointer: str) -> str:
    return pointer


def _short(arches: Collection[str]) -> str:
    return ", ".join(arch.removeprefix("SCMP_ARCH_") for arch in arches)


def _suggest(value: str, choices: Collection[str]) -> str:
    close = difflib.get_close_matches(value.upper(), choices, n=1, cutoff=0.6)
    return f" Did you mean `{close[0]}`?" if close else f" Valid values: {', '.join(choices)}."


@dataclass(slots=True)
class _Use:
    """One (rule, name) pair, for the duplicate and conflict checks."""

    pointer: str
    rule_pointer: str
    action: tuple[str, int | None]
    conditions: frozenset[tuple[int, str, int, int]] | None  # None: unconditional


class _Checker:
    def __init__(self, shaped: Shaped, partial: bool, out: list[Finding], describe: Describe) -> None:
        self.s = shaped
        self.describe = describe
        self.partial = partial
        self.out = out
        self.arches: list[str] = []  # declared, valid, deduplicated
        self.default: tuple[str, int | None] | None = None
        # Warnings that repeat once per name or rule are collected and reported folded (findings.fold), so a
        # profile with thousands of repeated names gets a few lines rather than thousands.
        self.missing: dict[tuple[str, ...], list[tuple[str, str]]] = {}  # missing arches -> (pointer, name)
        self.newer: list[tuple[str, str]] = []  # (pointer, name) of syscalls newer than this libseccomp
        self.same_as_default: list[Finding] = []
        self.errno_zero: list[Finding] = []
        self.duplicates: list[Finding] = []
        self.duplicate_names: list[str] = []
        self.suggestions_left = MAX_SUGGESTIONS

    def run(self) -> None:
        self._default_action()
        self._architectures()
        self._flags()
        if self.s.listener_metadata is not None and self.s.listener_path is None and not self.partial:
            self.out.append(
                error(
                    "/listenerMetadata",
                    "listener-metadata-without-path",
                    "listenerMetadata is set without listenerPath; the runtime-spec says it MUST NOT be",
                )
            )
        if self.s.listener_path is not None and not self.s.listener_path.startswith("/"):
            self.out.append(
                error(
                    "/listenerPath",
                    "listener-path-not-absolute",
                    f"listenerPath {self.s.listener_path!r} is not absolute: runc connects to it from its own working "
                    "directory, so a relative socket path names a different place on every runtime",
                )
            )
        if self.s.listener_path is not None and len(self.s.listener_path.encode()) > 107:
            self.out.append(
                error(
                    "/listenerPath",
                    "listener-path-too-long",
                    "listenerPath is longer than 107 bytes, the most a UNIX socket address (sun_path) can hold",
                )
            )
        notify = any(item.rule.action == "SCMP_ACT_NOTIFY" for item in self.s.rules)
        if self.s.listener_path is not None and not self.partial and not notify:
            self.out.append(
                warning(
                    "/listenerPath",
                    "listener-without-notify",
                    "listenerPath is set but no rule uses SCMP_ACT_NOTIFY, so no notification is ever sent: "
                    "the runtime-spec says the listener is then ignored and runc ignores it, while crun still "
                    "connects to the socket and fails the container when nothing listens there. Remove "
                    "listenerPath (and listenerMetadata), or add the SCMP_ACT_NOTIFY rule it was meant for.",
                )
            )
        uses: dict[str, list[_Use]] = {}
        for item in self.s.rules:
            self._rule(item, uses)
        self._conflicts(uses)
        self._repeated_warnings()

    # --- profile level --------------------------------------------------------------------------------------

    def _default_action(self) -> None:
        action = self.s.default_action
        if action is None:
            if self.partial:
                return
            if self.s.rule_count == 0:
                reason = (
                    "a profile with neither defaultAction nor syscalls (such as `{}`) is treated by runc and "
                    'CRI-O as "no seccomp at all": the container would run unconfined'
                )
            else:
                reason = (
                    'runc refuses it ("string  is not a valid action for seccomp") and crun reports '
                    '"seccomp misses the default action"'
                )
            self.out.append(error("/defaultAction", "missing-default-action", f"defaultAction is missing: {reason}"))
            return
        if action not in ACTIONS:
            self.out.append(self._unknown_action("/defaultAction", action))
            return
        if action == "SCMP_ACT_NOTIFY":
            self.out.append(
                error(
                    "/defaultAction",
                    "notify-default-action",
                    "SCMP_ACT_NOTIFY cannot be the default action: runc refuses it (every syscall, including the "
                    "ones the runtime itself needs, would wait on the listener)",
                )
            )
            return
        errno_ret = self.s.default_errno_ret
        if self._errno_ok("/defaultErrnoRet", action, errno_ret, "defaultErrnoRet", "defaultAction"):
            self.default = effective_action(action, errno_ret)
            if action == "SCMP_ACT_ERRNO" and errno_ret == 0:
                self.out.append(
                    warning(
                        "/defaultErrnoRet",
                        "errno-zero",
                        "SCMP_ACT_ERRNO with errno 0 as the default makes every syscall no rule allows return 0 "
                        "without running: programs believe each call succeeded (mkdir returns 0 and creates "
                        "nothing). Use an errno such as 1 (EPERM) or 38 (ENOSYS).",
                    )
                )

    def _unknown_action(self, pointer: str, action: str) -> Finding:
        shown = action or "(empty)"
        return error(
            pointer,
            "unknown-action",
            f'`{shown}` is not a seccomp action; runc refuses it ("string {action} is not a valid action for '
            f'seccomp") and so does crun.{_suggest(action, ACTIONS)}',
        )

    def _errno_ok(self, pointer: str, action: str, value: int | None, field: str, action_field: str) -> bool:
        if value is None:
            return True
        if action not in ERRNO_ACTIONS:
            self.out.append(
                error(
                    pointer,
                    "errno-without-errno-action",
                    f"{field} is set but {action_field} is {action}; only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take "
                    'one. The runtime-spec says the runtime MUST fail: crun does ("errno value specified for '
                    'action"), runc silently ignores it, so the nodes would disagree. Remove it.',
                )
            )
            return False
        if action == "SCMP_ACT_ERRNO" and value > MAX_ERRNO:
            self.out.append(
                error(
                    pointer,
                    "errno-out-of-range",
                    f"errno {value} is outside 0..{MAX_ERRNO}; libseccomp refuses it and runc/crun truncate larger "
                    f'values to 16 bits (65536 would become 0, i.e. the syscall would "succeed")',
                )
            )
            return False
        if action == "SCMP_ACT_TRACE" and value > MAX_TRACE_DATA:
            self.out.append(
                error(
                    pointer,
                    "errno-out-of-range",
                    f"TRACE value {value} is outside 0..{MAX_TRACE_DATA}: the kernel passes only 16 bits to the "
                    "tracer, and runc/crun truncate larger values silently",
                )
            )
            return False
        return True

    def _architectures(self) -> None:
        seen: dict[str, int] = {}
        for i, arch in enumerate(self.s.architectures):
            pointer = join("/architectures", i)
            info = ARCHES.get(arch)
            if info is None:
                self.out.append(
                    error(
                        pointer,
                        "unknown-architecture",
                        f'`{arch}` is not a seccomp architecture; runc refuses it ("string {arch} is not a valid '
                        f'arch for seccomp").{_suggest(arch, [a for a in ARCHES if ARCHES[a].runc])}',
                    )
                )
                continue
            if not info.runc:
                self.out.append(
                    error(
                        pointer,
                        "unknown-architecture",
                        f'{arch} is in the runtime-spec but runc does not accept it ("string {arch} is not a valid '
                        'arch for seccomp"), so containers using this profile fail to start on runc nodes',
                    )
                )
                continue
            if not syscalls.supported(arch):
                self.out.append(
                    error(
                        pointer,
                        "arch-unsupported-by-libseccomp",
                        f"libseccomp {syscalls.libseccomp_version()}, which validates profiles here, does not know "
                        f"{arch} (support arrived in a later libseccomp); nodes with such a libseccomp fail to "
                        "create the container, and the profile cannot be checked",
                    )
                )
                continue
            if arch in seen:
                self.out.append(
                    warning(
                        pointer,
                        "duplicate-architecture",
                        f"{arch} is listed twice (first at {self.describe(join('/architectures', seen[arch]))}); "
                        "harmless, remove one",
                    )
                )
                continue
            seen[arch] = i
            self.arches.append(arch)
        little = [a for a in self.arches if ARCHES[a].little_endian]
        big = [a for a in self.arches if not ARCHES[a].little_endian]
        if little and big:
            self.out.append(
                error(
                    "/architectures",
                    "mixed-endianness",
                    f"the architectures mix little-endian ({_short(little)}) and big-endian ({_short(big)}) ones; "
                    "libseccomp cannot put both into one filter (EDOM), and runc adds every listed architecture "
                    "to the node's filter, so the container fails to start on every node. Use one profile per "
                    "endianness.",
                )
            )
        if not self.s.architectures and not self.partial:
            self.out.append(
                warning(
                    "/architectures",
                    "no-architectures",
                    "no architectures are declared, so the filter covers only the node's native one; a process "
                    "using another ABI (e.g. 32-bit x86 on x86_64) is killed, because libseccomp's action for "
                    "an unlisted architecture is KILL",
                )
            )

    def _flags(self) -> None:
        for i, flag in enumerate(self.s.flags):
            if flag not in FLAGS:
                self.out.append(
                    error(
                        join("/flags", i),
                        "unknown-flag",
                        f'`{flag}` is not a seccomp filter flag; runc refuses it ("seccomp flag {flag} is not '
                        f'known to runc") and crun too.{_suggest(flag, FLAGS)}',
                    )
                )
        if self.s.flags:
            # Observed with Debian 12's runc 1.1.5 (tests/faults fuzzing, then by hand): any flag at all fails
            # the container. Newer runc and crun accept the four known flags, so this warns rather than refuses.
            self.out.append(
                warning(
                    "/flags",
                    "flags-need-newer-runc",
                    "runc 1.1 (e.g. Debian 12's runc 1.1.5) refuses every profile that sets flags (\"seccomp flags "
                    'are not yet supported by runc"), so containers on such nodes fail to start; newer runc and '
                    "crun accept them",
                )
            )

    # --- rules ----------------------------------------------------------------------------------------------

    def _rule(self, item: ShapedRule, uses: dict[str, list[_Use]]) -> None:
        rule = item.rule
        base = f"/syscalls/{item.index}"  # integer tokens need no escaping; this runs for every rule
        action_ok = True
        if rule.action not in ACTIONS:
            self.out.append(self._unknown_action(join(base, "action"), rule.action))
            action_ok = False
        elif not self._errno_ok(join(base, "errnoRet"), rule.action, rule.errno_ret, "errnoRet", "action"):
            action_ok = False
        elif rule.action == "SCMP_ACT_ERRNO" and rule.errno_ret == 0:
            self.errno_zero.append(
                warning(
                    join(base, "errnoRet"),
                    "errno-zero",
                    "SCMP_ACT_ERRNO with errnoRet 0 makes these syscalls return 0 without running: the program "
                    "believes the call succeeded (mkdir returns 0 and creates nothing). Use an errno such as 1 "
                    "(EPERM), or SCMP_ACT_ALLOW if the call should run.",
                )
            )
        if rule.action == "SCMP_ACT_NOTIFY" and self.s.listener_path is None and not self.partial:
            self.out.append(
                error(
                    join(base, "action"),
                    "notify-without-listener",
                    'SCMP_ACT_NOTIFY needs listenerPath: runc refuses the profile ("seccomp listenerPath is not '
                    'set"), since notifications have nowhere to go',
                )
            )
        args_ok = self._args(rule, base)
        action = effective_action(rule.action, rule.errno_ret)
        if action_ok and self.default is not None and action == self.default:
            self.same_as_default.append(
                warning(
                    join(base, "action"),
                    "action-equals-default",
                    "this rule's action equals the default action, so runc and crun skip it: it has no effect",
                )
            )
        if not rule.names:
            self.out.append(
                error(
                    join(base, "names"),
                    "empty-names",
                    "this rule lists no syscall names, so runtimes create no rule from it; name at least one "
                    "syscall or remove the entry",
                )
            )
        conditions = condition_key(rule.args) if rule.args else None
        for j, name in enumerate(rule.names):
            pointer = f"{base}/names/{j}"
            if self._name(name, pointer, rule) and action_ok and args_ok:
                uses.setdefault(name, []).append(_Use(pointer, base, action, conditions))

    def _name(self, name: str, pointer: str, rule: Rule) -> bool:
        if name == "":
            self.out.append(
                error(
                    pointer,
                    "empty-syscall-name",
                    'an empty string is not a syscall name; runc refuses it ("empty string is not a valid syscall")',
                )
            )
            return False
        if not syscalls.SYSCALL_NAME.fullmatch(name):
            self.out.append(
                error(
                    pointer,
                    "unknown-syscall",
                    f"`{name}` is not a syscall name (they use only lowercase letters, digits and `_`)",
                )
            )
            return False
        if rule.action == "SCMP_ACT_NOTIFY" and name == "write":
            self.out.append(
                error(
                    pointer,
                    "notify-on-write",
                    "SCMP_ACT_NOTIFY cannot be used for `write`: runc refuses it, since the runtime itself "
                    "must write while the listener is being set up",
                )
            )
        if not syscalls.is_known(name):
            version = syscalls.NEWER_SYSCALLS.get(name)
            if version is not None:
                self.newer.append((pointer, name))
                return True
            close: list[str] = []
            if self.suggestions_left > 0:  # difflib over every known name: ~1 ms each, so not for thousands
                self.suggestions_left -= 1
                close = syscalls.suggest(name)
            hint = f" Did you mean {' or '.join(f'`{c}`' for c in close)}?" if close else ""
            self.out.append(
                error(
                    pointer,
                    "unknown-syscall",
                    f"`{name}` is not a syscall libseccomp knows on any architecture (a typo?); runc and crun "
                    f"skip unknown names silently, so this entry would do nothing.{hint}",
                )
            )
            return False
        if self.arches:
            present = syscalls.present_on(name)
            missing = tuple(arch for arch in self.arches if arch not in present)
            if missing:
                self.missing.setdefault(missing, []).append((pointer, name))
        return True

    def _args(self, rule: Rule, base: str) -> bool:
        ok = True
        if len(rule.args) > MAX_ARGS:
            self.out.append(
                error(
                    join(base, "args", MAX_ARGS),
                    "too-many-args",
                    f"a rule can test at most {MAX_ARGS} argument conditions, this one has {len(rule.args)}; "
                    "libseccomp refuses more and crun silently drops everything after the sixth",
                )
            )
            ok = False
        narrow = [arch for arch in self.arches if ARCHES[arch].bits == 32]
        first_use: dict[int, int] = {}
        for k, arg in enumerate(rule.args):
            pointer = join(base, "args", k)
            if arg.index >= MAX_ARGS:
                self.out.append(
                    error(
                        join(pointer, "index"),
                        "arg-index-out-of-range",
                        f"argument index {arg.index} does not exist: syscalls have arguments 0..5; runc refuses "
                        'it ("syscalls only have up to 6 arguments") and so does crun',
                    )
                )
                ok = False
            elif arg.index in first_use:
                self.out.append(
                    error(
                        join(pointer, "index"),
                        "repeated-arg-index",
                        f"argument {arg.index} is already tested by args/{first_use[arg.index]} in this rule. "
                        "runc and crun then split the conditions into separate rules, so they are OR-ed instead "
                        "of AND-ed and the rule matches far more calls than written. Use one rule per condition "
                        "if OR is meant.",
                    )
                )
                ok = False
            else:
                first_use[arg.index] = k
            if arg.op not in OPERATORS:
                self.out.append(
                    error(
                        join(pointer, "op"),
                        "unknown-operator",
                        f'`{arg.op or "(empty)"}` is not a comparison operator; runc refuses it ("string {arg.op} '
                        f'is not a valid operator for seccomp").{_suggest(arg.op, OPERATORS)}',
                    )
                )
                ok = False
                continue
            masked = arg.op == "SCMP_CMP_MASKED_EQ"
            if masked and arg.value_two & ~arg.value:
                self.out.append(
                    error(
                        join(pointer, "valueTwo"),
                        "masked-eq-bits-outside-mask",
                        f"for SCMP_CMP_MASKED_EQ, `value` is the mask and `valueTwo` the expected result of "
                        f"(arg & mask); valueTwo {arg.value_two:#x} has bits outside the mask {arg.value:#x}, so "
                        f"libseccomp drops them silently and compares against {arg.value_two & arg.value:#x}",
                    )
                )
                ok = False
            if not masked and arg.value_two:
                self.out.append(
                    warning(
                        join(pointer, "valueTwo"),
                        "value-two-ignored",
                        f"valueTwo is only used by SCMP_CMP_MASKED_EQ; with {arg.op} it is ignored",
                    )
                )
            for key, value in (("value", arg.value), ("valueTwo", arg.value_two if masked else 0)):
                if narrow and value > UINT32_MAX:
                    self.out.append(
                        error(
                            join(pointer, key),
                            "value-exceeds-32-bit",
                            f"{value:#x} does not fit in 32 bits, and on the 32-bit architectures declared "
                            f"({_short(narrow)}) libseccomp silently compares only the low 32 bits "
                            f"({value & UINT32_MAX:#x}); split the profile or use a value below 2^32",
                        )
                    )
                    ok = False
        return ok

    def _conflicts(self, uses: dict[str, list[_Use]]) -> None:
        """Rules that meet on one syscall, in one pass per name (linear: a name may appear thousands of times).

        Each use is compared with the first earlier use of the same conditions, and a conditional use with the first
        unconditional use of the name (the one libseccomp keeps), whichever comes first in the profile."""
        for name, entries in uses.items():
            if len(entries) < 2:
                continue
            first_by_conditions: dict[frozenset[tuple[int, str, int, int]] | None, _Use] = {}
            unconditional: _Use | None = None
            conditional_before: list[_Use] = []  # conditional uses seen before the first unconditional one
            for use in entries:
                earlier = first_by_conditions.get(use.conditions)
                if earlier is not None:
                    self._same_conditions(name, earlier, use)
                    continue
                first_by_conditions[use.conditions] = use
                if use.conditions is None:
                    unconditional = use
                    for conditional in conditional_before:
                        self._overlap(name, use, conditional)
                    conditional_before = []
                elif unconditional is not None:
                    self._overlap(name, unconditional, use)
                else:
                    conditional_before.append(use)

    def _same_conditions(self, name: str, earlier: _Use, later: _Use) -> None:
        if earlier.action == later.action:
            same_rule = earlier.rule_pointer == later.rule_pointer
            self.duplicates.append(
                warning(
                    later.pointer,
                    "duplicate-rule",
                    f"`{name}` is already covered by {self.describe(earlier.pointer)} with the same action and "
                    "conditions" + (" in this rule" if same_rule else "") + "; the repeat has no effect",
                )
            )
            self.duplicate_names.append(name)
            return
        if self.default in (earlier.action, later.action):
            effect = "runc and crun skip the one whose action equals the default, so the other wins"
        elif earlier.conditions is None:
            effect = "libseccomp keeps the first and silently ignores the second"
        else:
            effect = 'libseccomp refuses the second (EEXIST, "file exists"), so the container fails to start'
        self.out.append(
            error(
                later.pointer,
                "conflicting-actions",
                f"`{name}` already has a rule with the same argument conditions at {self.describe(earlier.pointer)} "
                f"but a different action ({_act(earlier.action)} vs {_act(later.action)}): {effect}. Keep one.",
            )
        )

    def _overlap(self, name: str, unconditional: _Use, conditional: _Use) -> None:
        """libseccomp keeps an unconditional rule and drops conditional ones for the same syscall, in either order."""
        if unconditional.action == self.default:
            return  # runc skips the unconditional rule (it equals the default), so the conditional one stands
        if unconditional.action == conditional.action:
            self.out.append(
                warning(
                    conditional.pointer,
                    "conditional-redundant",
                    f"`{name}` already has an unconditional rule with the same action ({_act(conditional.action)}) "
                    f"at {self.describe(unconditional.pointer)}, so these argument conditions change nothing: "
                    "libseccomp keeps the unconditional rule and the compiled filter is the same without this one. "
                    "Remove it, or the unconditional rule if the conditions were meant.",
                )
            )
            return
        self.out.append(
            error(
                conditional.pointer,
                "conditional-shadowed",
                f"`{name}` has an unconditional rule ({_act(unconditional.action)}) at "
                f"{self.describe(unconditional.pointer)} and a conditional one with a different action "
                f"({_act(conditional.action)}) at {self.describe(conditional.pointer)}; libseccomp keeps the "
                "unconditional rule and silently drops the conditional one, so its conditions never take effect",
            )
        )

    def _repeated_warnings(self) -> None:
        for missing, places in self.missing.items():
            everywhere = len(missing) == len(self.arches)
            names = [name for _, name in places]
            found = [warning(p, "syscall-missing-on-arch", _missing_message(n, missing, everywhere)) for p, n in places]
            self.out.extend(fold(found, _missing_summary(names, missing, everywhere)))
        version = syscalls.libseccomp_version()
        newer = [
            warning(
                pointer,
                "syscall-unknown-to-libseccomp",
                f"`{name}` (Linux {syscalls.NEWER_SYSCALLS[name]}) is newer than libseccomp {version}, which "
                "validates profiles here; runc and crun built against such a libseccomp ignore it, so on those "
                "nodes this name has no effect",
            )
            for pointer, name in self.newer
        ]
        summary = (
            f"{_distinct(name for _, name in self.newer)} are newer than libseccomp {version}, which validates "
            f"profiles here ({len(newer)} places); runc and crun built against such a libseccomp ignore them, so "
            "on those nodes these names have no effect"
        )
        self.out.extend(fold(newer, summary))
        summary = (
            f"{len(self.same_as_default)} rules have an action equal to the default action, so runc and crun skip "
            "them: they have no effect"
        )
        self.out.extend(fold(self.same_as_default, summary))
        summary = (
            f"{len(self.errno_zero)} SCMP_ACT_ERRNO rules have errnoRet 0, so their syscalls return 0 without "
            "running: the program believes each call succeeded. Use an errno such as 1 (EPERM)."
        )
        self.out.extend(fold(self.errno_zero, summary))
        if self.duplicates:
            summary = (
                f"{len(self.duplicates)} entries repeat a syscall name already covered with the same action and "
                f"conditions ({_distinct(self.duplicate_names)}); the repeats have no effect"
            )
            self.out.extend(fold(self.duplicates, summary))


def _missing_message(name: str, missing: tuple[str, ...], everywhere: bool) -> str:
    if everywhere:
        return (
            f"`{name}` exists on none of the declared architectures ({_short(missing)}); runtimes skip it, so it has "
            "no effect"
        )
    return (
        f"`{name}` does not exist on {_short(missing)}; libseccomp leaves it out of the filter there, so on those "
        "architectures this name has no effect"
    )


def _missing_summary(names: list[str], missing: tuple[str, ...], everywhere: bool) -> str:
    if everywhere:
        return (
            f"{_distinct(names)} exist on none of the declared architectures ({_short(missing)}; {len(names)} "
            "places); runtimes skip them, so they have no effect"
        )
    return (
        f"{_distinct(names)} do not exist on {_short(missing)} ({len(names)} places); libseccomp leaves them out of "
        "the filter there, so on those architectures these names have no effect"
    )


def _distinct(names: Iterable[str]) -> str:
    unique = list(dict.fromkeys(names))
    return f"{len(unique)} names ({examples(unique)})" if len(unique) > 1 else examples(unique)


def _act(action: tuple[str, int | None]) -> str:
    name, value = action
    return f"{name}({value})" if value is not None else name
