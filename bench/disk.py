"""Where simulated and peer nodes keep their files, and the observer that times those files on disk."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.util import REPO, reap, wait_until

# Node directories on the same disk file system as the rest of the machine's state (not tmpfs): the agents write and
# fsync there as they would on a node's own disk. `BENCH_NODES_DIR` moves them (say, to compare with tmpfs).
NODES_PARENT = Path(os.environ.get("BENCH_NODES_DIR", tempfile.gettempdir()))


def filesystem_of(path: Path) -> dict[str, str]:
    """The mount holding `path` (longest mount point that is a prefix of it): type, device, mount point."""
    resolved = str(path.resolve())
    best = {"type": "unknown", "device": "unknown", "mountpoint": "/"}
    best_length = -1
    for line in Path("/proc/self/mounts").read_text().splitlines():
        device, mountpoint, fstype, *_ = line.split()
        mountpoint = mountpoint.replace("\\040", " ")
        inside = resolved == mountpoint or resolved.startswith(mountpoint.rstrip("/") + "/")
        if inside and len(mountpoint) > best_length:
            best, best_length = {"type": fstype, "device": device, "mountpoint": mountpoint}, len(mountpoint)
    return best


def fsync_latency_ms(directory: Path, samples: int = 30) -> float:
    """Median time to write 2 KB, fsync it, rename it into place and fsync the directory (an agent's cost per file)."""
    work = Path(tempfile.mkdtemp(prefix="fsync-", dir=directory))
    times: list[float] = []
    try:
        for i in range(samples):
            started = time.perf_counter()
            temporary = work / f".f{i}"
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                os.write(fd, b"x" * 2048)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(temporary, work / f"f{i}.json")
            dir_fd = os.open(work, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
            times.append(time.perf_counter() - started)
    finally:
        for child in work.iterdir():
            child.unlink()
        work.rmdir()
    return statistics.median(times) * 1000


def nodes_dir_info(nodes_dir: Path) -> dict[str, Any]:
    return {**filesystem_of(nodes_dir), "path": str(nodes_dir), "fsync_write_rename_ms": fsync_latency_ms(nodes_dir)}


class DiskObserver:
    """Client of `python -m bench.diskwatch`: a process of its own, so watching 25,000 files costs the measured
    processes no CPU time slices of theirs beyond what the kernel shares out."""

    def __init__(self, nodes_dir: Path) -> None:
        self.nodes_dir = nodes_dir
        self._lock = threading.Lock()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.diskwatch", str(nodes_dir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=REPO,
            text=True,
        )
        line = self._read()
        if not line.get("ready"):
            raise RuntimeError(f"the disk observer did not start: {line}")

    def _read(self) -> dict[str, Any]:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"the disk observer exited (code {self._process.poll()})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            assert self._process.stdin is not None
            self._process.stdin.write(json.dumps(request) + "\n")
            self._process.stdin.flush()
            return self._read()

    def wait_installed(self, keys: list[str], revision: int, nodes: int, timeout: float) -> float:
        """Epoch time at which the last node's file of `revision` appeared, once every node has every key."""

        def done() -> float | None:
            answer = self.ask({"op": "installed", "keys": keys, "revision": revision, "nodes": nodes})
            return float(answer["latest"]) if answer["done"] else None

        return wait_until(done, timeout=timeout, interval=0.1, what=f"revision {revision} on every node's disk")

    def wait_removed(self, keys: list[str], nodes: int, timeout: float) -> float:
        def done() -> float | None:
            answer = self.ask({"op": "removed", "keys": keys, "nodes": nodes})
            return float(answer["latest"]) if answer["done"] else None

        return wait_until(done, timeout=timeout, interval=0.1, what="files removed from every node's disk")

    def progress(self, keys: list[str], revision: int) -> int:
        return int(self.ask({"op": "installed", "keys": keys, "revision": revision, "nodes": 0})["count"])

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        reap([self._process], 10)
