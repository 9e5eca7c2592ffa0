"""Small helpers shared by the benchmarks: paths, progress output, process figures from /proc."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from seccomp_operator.testing.simulation import wait_until

__all__ = ["REPO", "RESULTS", "wait_until"]

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_started = time.monotonic()


def log(message: str) -> None:
    """Progress on stdout: minutes:seconds since the benchmark started, and the machine's 1-minute load."""
    elapsed = int(time.monotonic() - _started)
    print(f"[{elapsed // 60:3d}:{elapsed % 60:02d} load {load()[0]:4.1f}] {message}", flush=True)


def load() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def proc_status_kib(pid: int, field_name: str) -> int:
    """A `VmHWM`/`VmRSS`-style field of /proc/PID/status in KiB; 0 when the process is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def parallel(function: Callable[..., Any], calls: list[tuple[Any, ...]], width: int = 8) -> None:
    """Send the user's requests as a burst (like `kubectl apply --server-side -f dir/`), `width` at a time."""
    with ThreadPoolExecutor(max_workers=width) as pool:
        for future in [pool.submit(function, *args) for args in calls]:
            future.result()


def reap(processes: list[subprocess.Popen[str]], timeout: float) -> None:
    """Wait for processes that were asked to end (stdin closed or SIGTERM); SIGKILL whatever is left after
    `timeout` seconds each."""
    for process in processes:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def raise_open_files_limit(wanted: int = 65536) -> None:
    """Thousands of watch connections need more descriptors than the usual 20,000 (the API server inherits this)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = max(soft, wanted)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, max(hard, target)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def machine_info() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        "unknown",
    )
    mem = int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024
    return {
        "cpu": cpu,
        "nproc": os.cpu_count(),
        "mem_gib": round(mem, 1),
        "kernel": os.uname().release,
        "python": sys.version.split()[0],
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
