"""The shell side of BPF export: an anonymous in-memory file libseccomp can write a compiled filter into.

The profile core may not create file descriptors (it imports no os/io/tempfile), but libseccomp 2.5.4 can only
export to one; the core therefore takes a factory of sinks, and this module provides the one used in production.
A memfd never touches a filesystem, is private to the process and disappears on close.
"""

from __future__ import annotations

import os


class MemfdSink:
    def __init__(self) -> None:
        self._fd = os.memfd_create("seccomp-operator-bpf", os.MFD_CLOEXEC)

    def fileno(self) -> int:
        return self._fd

    def getvalue(self) -> bytes:
        size = os.fstat(self._fd).st_size
        chunks: list[bytes] = []
        offset = 0
        while offset < size:
            chunk = os.pread(self._fd, size - offset, offset)
            if not chunk:
                break
            chunks.append(chunk)
            offset += len(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
