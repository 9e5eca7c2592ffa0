"""Facts about libseccomp (pyseccomp over Debian's libseccomp2) that the core relies on, checked on the real library.

Each test builds filters through the core's own binding, exports the BPF program (never loads it) and compares the
programs byte for byte: identical programs mean the kernel would enforce exactly the same thing.
"""

from __future__ import annotations

from seccomp_operator.bpf_sink import MemfdSink
from seccomp_operator.profile import libseccomp, syscalls
from seccomp_operator.profile.compile import action_value

EQ = 4  # SCMP_CMP_EQ
Rule = tuple[str, str, tuple[tuple[int, int, int, int], ...]]  # (syscall, action, conditions)


def program(rules: list[Rule], default: str = "SCMP_ACT_ERRNO") -> bytes:
    sink = MemfdSink()
    try:
        with libseccomp.Filter(action_value(default, None)) as filt:
            for name, action, conditions in rules:
                args = libseccomp.arg_array(list(conditions))
                filt.add_rule(action_value(action, None), syscalls.native_number(name), len(conditions), args)
            filt.export_bpf(sink.fileno())
        return sink.getvalue()
    finally:
        sink.close()


ALLOW, LOG = "SCMP_ACT_ALLOW", "SCMP_ACT_LOG"
IOCTL_7 = ((1, EQ, 7, 0),)


def test_the_comparison_tells_programs_apart() -> None:
    assert program([("read", ALLOW, ()), ("write", ALLOW, ())]) != program([("read", ALLOW, ())])
    assert program([("ioctl", ALLOW, IOCTL_7)]) != program([("ioctl", ALLOW, ())])


def test_a_repeated_rule_changes_nothing() -> None:
    """Why the compile adds each distinct rule once (compile._prepare)."""
    once = [("read", ALLOW, ()), ("ioctl", ALLOW, IOCTL_7), ("write", ALLOW, ())]
    repeated = [*once[:2], ("read", ALLOW, ()), once[2], ("ioctl", ALLOW, IOCTL_7)]
    assert program(repeated) == program(once)


def test_conditions_beside_an_unconditional_rule_with_the_same_action_change_nothing() -> None:
    """Why `conditional-redundant` warns: in either order, the program is the one without the conditional rule."""
    unconditional = [("ioctl", ALLOW, ()), ("read", ALLOW, ())]
    assert program([("ioctl", ALLOW, IOCTL_7), *unconditional]) == program(unconditional)
    assert program([*unconditional, ("ioctl", ALLOW, IOCTL_7)]) == program(unconditional)


def test_conditions_beside_an_unconditional_rule_with_another_action_are_dropped() -> None:
    """Why `conditional-shadowed` is an error: the conditional LOG rule leaves no trace in the program."""
    unconditional = [("ioctl", ALLOW, ())]
    assert program([*unconditional, ("ioctl", LOG, IOCTL_7)]) == program(unconditional)
    assert program([("ioctl", LOG, IOCTL_7), *unconditional]) == program(unconditional)
