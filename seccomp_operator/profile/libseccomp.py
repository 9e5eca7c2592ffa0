"""The libseccomp binding the core uses: pyseccomp's loaded library, with our own ctypes prototypes.

pyseccomp 0.1.2 (PyPI, over Debian's libseccomp2 2.5.4) finds and loads libseccomp; we reuse that handle
(`pyseccomp._libseccomp`; the version is pinned in pyproject.toml) instead of loading the library a second time.
Why our own prototypes rather than pyseccomp's API (details in README.md):
- `resolve_syscall` has no prototype, so the architecture token goes through C `int` conversion;
- `Arch` has no LOONGARCH64, M68K or SH and no string constructor; there is no call for the library version or for
  architecture names;
- `SyscallFilter.add_rule` rebuilds the argument array on every call and raises OSError via os.strerror; compiling
  Docker's default profile for four architectures is about 1,500 calls, and going straight to
  `seccomp_rule_add_array` with arrays built once per rule makes each call about a fifth cheaper.
`lib[name]` returns a fresh function pointer, so pyseccomp's own prototypes stay untouched.
"""

from __future__ import annotations

import ctypes
import errno as errno_codes
from types import TracebackType
from typing import Any

import pyseccomp

_LIB: Any = pyseccomp._libseccomp
_LIBC: Any = pyseccomp._libc


class ArgCmp(ctypes.Structure):
    """struct scmp_arg_cmp"""

    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


class _Version(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint), ("minor", ctypes.c_uint), ("micro", ctypes.c_uint)]


def _proto(library: Any, name: str, argtypes: tuple[Any, ...], restype: Any) -> Any:
    function = library[name]
    function.argtypes = argtypes
    function.restype = restype
    return function


_ctx = ctypes.c_void_p
_init = _proto(_LIB, "seccomp_init", (ctypes.c_uint32,), _ctx)
_release = _proto(_LIB, "seccomp_release", (_ctx,), None)
_arch_add = _proto(_LIB, "seccomp_arch_add", (_ctx, ctypes.c_uint32), ctypes.c_int)
_arch_remove = _proto(_LIB, "seccomp_arch_remove", (_ctx, ctypes.c_uint32), ctypes.c_int)
_rule_add_array = _proto(
    _LIB,
    "seccomp_rule_add_array",
    (_ctx, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint, ctypes.POINTER(ArgCmp)),
    ctypes.c_int,
)
_export_bpf = _proto(_LIB, "seccomp_export_bpf", (_ctx, ctypes.c_int), ctypes.c_int)
resolve_name_arch = _proto(_LIB, "seccomp_syscall_resolve_name_arch", (ctypes.c_uint32, ctypes.c_char_p), ctypes.c_int)
resolve_num_arch = _proto(_LIB, "seccomp_syscall_resolve_num_arch", (ctypes.c_uint32, ctypes.c_int), ctypes.c_void_p)
arch_resolve_name = _proto(_LIB, "seccomp_arch_resolve_name", (ctypes.c_char_p,), ctypes.c_uint32)
arch_native = _proto(_LIB, "seccomp_arch_native", (), ctypes.c_uint32)
_version = _proto(_LIB, "seccomp_version", (), ctypes.POINTER(_Version))
_strerror = _proto(_LIBC, "strerror", (ctypes.c_int,), ctypes.c_char_p)
free = _proto(_LIBC, "free", (ctypes.c_void_p,), None)

NATIVE = 0  # SCMP_ARCH_NATIVE


def version() -> str:
    found = _version().contents
    return f"{found.major}.{found.minor}.{found.micro}"


def _check(result: int) -> None:
    if result < 0:
        code = -result
        raise OSError(code, _strerror(code).decode(errors="replace") or errno_codes.errorcode.get(code, str(code)))


def arg_array(conditions: list[tuple[int, int, int, int]]) -> Any:
    """An argument array for `Filter.add_rule`, built once per rule: (index, operator, value, valueTwo) each."""
    if not conditions:
        return None
    return (ArgCmp * len(conditions))(*(ArgCmp(*condition) for condition in conditions))


class Filter:
    """A libseccomp filter context, released when the `with` block ends. Nothing here loads it into the kernel."""

    def __init__(self, default_action: int) -> None:
        self._ctx = _init(default_action)
        if not self._ctx:
            raise OSError(errno_codes.EINVAL, "seccomp_init refused the default action")

    def __enter__(self) -> Filter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._ctx:
            _release(self._ctx)
            self._ctx = None

    def add_arch(self, token: int) -> None:
        _check(_arch_add(self._ctx, token))

    def remove_arch(self, token: int) -> None:
        _check(_arch_remove(self._ctx, token))

    def add_rule(self, action: int, syscall: int, count: int, args: Any) -> None:
        _check(_rule_add_array(self._ctx, action, syscall, count, args))

    def export_bpf(self, fd: int) -> None:
        _check(_export_bpf(self._ctx, fd))
