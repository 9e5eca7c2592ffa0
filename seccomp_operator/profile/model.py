"""The typed, immutable profile: the OCI `LinuxSeccomp` fields a runtime reads, nothing else.

A `Profile` that `validate_profile` returns has passed every check, so the rest of the system (render, the
controller, the agent) never re-checks. Normalisations, all of which runtimes apply too, so they change no meaning:
absent, null and empty lists are the same (); absent `valueTwo` is 0; an empty `listenerPath`/`listenerMetadata` is
absent (Go's `omitempty`). `errnoRet` keeps absent (None) apart from 0, because runtimes do.
"""

from __future__ import annotations

from dataclasses import dataclass

ACTIONS = (
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
)
ERRNO_ACTIONS = ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE")
OPERATORS = (
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
)
FLAGS = (
    "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
)
MAX_ERRNO = 4094  # libseccomp accepts ERRNO(n) only for n < MAX_ERRNO (4095); observed: 4094 ok, 4095 refused
MAX_TRACE_DATA = 0xFFFF  # SECCOMP_RET_DATA is 16 bits; runc and crun keep the low 16 bits of a TRACE value
MAX_ARGS = 6
UINT64_MAX = 2**64 - 1
UINT32_MAX = 2**32 - 1
DEFAULT_ERRNO = 1  # runc and crun return EPERM for ERRNO/TRACE without errnoRet


@dataclass(frozen=True, slots=True)
class Arg:
    index: int
    value: int
    op: str
    value_two: int = 0


@dataclass(frozen=True, slots=True)
class Rule:
    names: tuple[str, ...]
    action: str
    errno_ret: int | None = None
    args: tuple[Arg, ...] = ()


@dataclass(frozen=True, slots=True)
class Profile:
    # None only in the spec of a SeccompProfile that names a baseProfileName and inherits the base's default.
    default_action: str | None
    default_errno_ret: int | None = None
    architectures: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    listener_path: str | None = None
    listener_metadata: str | None = None
    syscalls: tuple[Rule, ...] = ()


def effective_action(action: str, errno_ret: int | None) -> tuple[str, int | None]:
    """The action as libseccomp sees it: runc and crun map KILL to KILL_THREAD, and ERRNO/TRACE without a value
    to EPERM; two rules with equal effective actions do the same thing."""
    if action == "SCMP_ACT_KILL":
        action = "SCMP_ACT_KILL_THREAD"
    if action in ERRNO_ACTIONS:
        return action, DEFAULT_ERRNO if errno_ret is None else errno_ret
    return action, None


def condition_key(args: tuple[Arg, ...]) -> frozenset[tuple[int, str, int, int]]:
    """Conditions as libseccomp compares them: order does not matter (observed: the same conditions reordered
    under another action give EEXIST), and `valueTwo` only counts for MASKED_EQ (observed likewise)."""
    return frozenset(
        (arg.index, arg.op, arg.value, arg.value_two if arg.op == "SCMP_CMP_MASKED_EQ" else 0) for arg in args
    )
