"""Facts about seccomp architectures, in one table so every module spells them the same way.

Sources: runtime-spec `config-linux.md` (the `SCMP_ARCH_*` enum), runc `libcontainer/seccomp/config.go` (the 18 it
accepts), libseccomp `include/seccomp.h` and `src/arch-*.c` (tokens, endianness, argument size). The token is the
kernel's AUDIT_ARCH value, which is what libseccomp uses as `SCMP_ARCH_*`; pyseccomp's `Arch` lacks LOONGARCH64, M68K
and SH, so the numbers are written out here.
"""

from __future__ import annotations

from dataclasses import dataclass

_AUDIT_64BIT = 0x80000000
_AUDIT_LE = 0x40000000
_AUDIT_MIPS_N32 = 0x20000000


@dataclass(frozen=True, slots=True)
class ArchInfo:
    spec_name: str  # runtime-spec / OCI name, e.g. SCMP_ARCH_X86_64
    libseccomp_name: str  # libseccomp's name, e.g. x86_64
    go_name: str  # libseccomp-golang's String(), which Docker and CRI-O match `includes.arches` against
    token: int  # SCMP_ARCH_* == AUDIT_ARCH_*
    little_endian: bool
    # libseccomp's argument size: on 32-bit ABIs it compares only the low 32 bits of a value (db.c), silently.
    # x32 and the MIPS n32 ABIs count as 32-bit there (checked with export_pfc: the high half is dropped).
    bits: int
    runc: bool  # accepted by runc (ConvertStringToArch); runc refuses the others at container creation


def _arch(spec: str, lib: str, go: str, em: int, flags: int, *, bits: int, runc: bool = True) -> tuple[str, ArchInfo]:
    info = ArchInfo(spec, lib, go, em | flags, bool(flags & _AUDIT_LE), bits, runc)
    return spec, info


ARCHES: dict[str, ArchInfo] = dict(
    [
        _arch("SCMP_ARCH_X86", "x86", "x86", 3, _AUDIT_LE, bits=32),
        _arch("SCMP_ARCH_X86_64", "x86_64", "amd64", 62, _AUDIT_64BIT | _AUDIT_LE, bits=64),
        _arch("SCMP_ARCH_X32", "x32", "x32", 62, _AUDIT_LE, bits=32),
        _arch("SCMP_ARCH_ARM", "arm", "arm", 40, _AUDIT_LE, bits=32),
        _arch("SCMP_ARCH_AARCH64", "aarch64", "arm64", 183, _AUDIT_64BIT | _AUDIT_LE, bits=64),
        _arch("SCMP_ARCH_MIPS", "mips", "mips", 8, 0, bits=32),
        _arch("SCMP_ARCH_MIPS64", "mips64", "mips64", 8, _AUDIT_64BIT, bits=64),
        _arch("SCMP_ARCH_MIPS64N32", "mips64n32", "mips64n32", 8, _AUDIT_64BIT | _AUDIT_MIPS_N32, bits=32),
        _arch("SCMP_ARCH_MIPSEL", "mipsel", "mipsel", 8, _AUDIT_LE, bits=32),
        _arch("SCMP_ARCH_MIPSEL64", "mipsel64", "mipsel64", 8, _AUDIT_64BIT | _AUDIT_LE, bits=64),
        _arch(
            "SCMP_ARCH_MIPSEL64N32",
            "mipsel64n32",
            "mipsel64n32",
            8,
            _AUDIT_64BIT | _AUDIT_LE | _AUDIT_MIPS_N32,
            bits=32,
        ),
        _arch("SCMP_ARCH_PPC", "ppc", "ppc", 20, 0, bits=32),
        _arch("SCMP_ARCH_PPC64", "ppc64", "ppc64", 21, _AUDIT_64BIT, bits=64),
        _arch("SCMP_ARCH_PPC64LE", "ppc64le", "ppc64le", 21, _AUDIT_64BIT | _AUDIT_LE, bits=64),
        _arch("SCMP_ARCH_S390", "s390", "s390", 22, 0, bits=32),
        _arch("SCMP_ARCH_S390X", "s390x", "s390x", 22, _AUDIT_64BIT, bits=64),
        _arch("SCMP_ARCH_PARISC", "parisc", "parisc", 15, 0, bits=32, runc=False),
        _arch("SCMP_ARCH_PARISC64", "parisc64", "parisc64", 15, _AUDIT_64BIT, bits=64, runc=False),
        _arch("SCMP_ARCH_RISCV64", "riscv64", "riscv64", 243, _AUDIT_64BIT | _AUDIT_LE, bits=64),
        _arch("SCMP_ARCH_LOONGARCH64", "loongarch64", "loong64", 258, _AUDIT_64BIT | _AUDIT_LE, bits=64),
        _arch("SCMP_ARCH_M68K", "m68k", "m68k", 4, 0, bits=32, runc=False),
        _arch("SCMP_ARCH_SH", "sh", "sh", 42, _AUDIT_LE, bits=32, runc=False),
        _arch("SCMP_ARCH_SHEB", "sheb", "sheb", 42, 0, bits=32, runc=False),
    ]
)

# Every spelling a person might use on the command line or in Docker's `includes.arches`, folded to lower case.
_ALIASES: dict[str, str] = {}
for _info in ARCHES.values():
    for _alias in (_info.spec_name, _info.spec_name.removeprefix("SCMP_ARCH_"), _info.libseccomp_name, _info.go_name):
        _ALIASES.setdefault(_alias.lower(), _info.spec_name)


def lookup_alias(name: str) -> ArchInfo | None:
    """`SCMP_ARCH_X86_64`, `x86_64` and `amd64` all name the same architecture."""
    spec = _ALIASES.get(name.strip().lower())
    return ARCHES[spec] if spec else None


def endianness(spec_name: str) -> str:
    return "little-endian" if ARCHES[spec_name].little_endian else "big-endian"
