"""Linux errno names -> numbers, fixed here so an import gives the same numbers on every machine.

The numbers are asm-generic's (include/uapi/asm-generic/errno-base.h and errno.h), which x86, x86_64, arm, aarch64,
riscv64 and s390 use. MIPS, PARISC, SPARC and Alpha number many errnos differently, and PowerPC differs for
EDEADLOCK; CRI-O converts errno names with the table of the node it runs on, so on those architectures an imported
number can differ from what CRI-O would have chosen. EPERM (1), the usual choice, is the same everywhere.
"""

from __future__ import annotations

_NAMES = (
    "EPERM ENOENT ESRCH EINTR EIO ENXIO E2BIG ENOEXEC EBADF ECHILD EAGAIN ENOMEM EACCES EFAULT ENOTBLK EBUSY "
    "EEXIST EXDEV ENODEV ENOTDIR EISDIR EINVAL ENFILE EMFILE ENOTTY ETXTBSY EFBIG ENOSPC ESPIPE EROFS EMLINK "
    "EPIPE EDOM ERANGE EDEADLK ENAMETOOLONG ENOLCK ENOSYS ENOTEMPTY ELOOP - ENOMSG EIDRM ECHRNG EL2NSYNC "
    "EL3HLT EL3RST ELNRNG EUNATCH ENOCSI EL2HLT EBADE EBADR EXFULL ENOANO EBADRQC EBADSLT - EBFONT ENOSTR "
    "ENODATA ETIME ENOSR ENONET ENOPKG EREMOTE ENOLINK EADV ESRMNT ECOMM EPROTO EMULTIHOP EDOTDOT EBADMSG "
    "EOVERFLOW ENOTUNIQ EBADFD EREMCHG ELIBACC ELIBBAD ELIBSCN ELIBMAX ELIBEXEC EILSEQ ERESTART ESTRPIPE "
    "EUSERS ENOTSOCK EDESTADDRREQ EMSGSIZE EPROTOTYPE ENOPROTOOPT EPROTONOSUPPORT ESOCKTNOSUPPORT EOPNOTSUPP "
    "EPFNOSUPPORT EAFNOSUPPORT EADDRINUSE EADDRNOTAVAIL ENETDOWN ENETUNREACH ENETRESET ECONNABORTED "
    "ECONNRESET ENOBUFS EISCONN ENOTCONN ESHUTDOWN ETOOMANYREFS ETIMEDOUT ECONNREFUSED EHOSTDOWN "
    "EHOSTUNREACH EALREADY EINPROGRESS ESTALE EUCLEAN ENOTNAM ENAVAIL EISNAM EREMOTEIO EDQUOT ENOMEDIUM "
    "EMEDIUMTYPE ECANCELED ENOKEY EKEYEXPIRED EKEYREVOKED EKEYREJECTED EOWNERDEAD ENOTRECOVERABLE ERFKILL "
    "EHWPOISON"
)

# Numbers follow the order above, starting at 1; "-" marks the two numbers Linux leaves unused (41 and 58).
ERRNO: dict[str, int] = {name: number for number, name in enumerate(_NAMES.split(), start=1) if name != "-"}
# Aliases the kernel headers define for the same number.
ERRNO.update({"EWOULDBLOCK": ERRNO["EAGAIN"], "EDEADLOCK": ERRNO["EDEADLK"], "ENOTSUP": ERRNO["EOPNOTSUPP"]})


def errno_number(text: str) -> int | None:
    """CRI-O's rule for Podman's `errno` strings: a decimal number, or a name from the errno table."""
    if text.isascii() and text.isdigit():
        return int(text)
    return ERRNO.get(text)
