"""Test helpers for the recorder: small static test programs (C sources in tests/programs/) built with the
machine's gcc, and `seccomp-operator record` run as a command.

The programs are static, so the same binary runs on the host and, bind-mounted, inside the busybox test container,
and makes the same system calls in both places.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SOURCES = Path(__file__).resolve().parents[2] / "tests" / "programs"
# program -> extra gcc flags
PROGRAMS = {"recordee": ["-pthread"], "exit_only": ["-nostdlib", "-nostartfiles"]}


def missing_compiler() -> str | None:
    """Why programs cannot be built here, or None."""
    if shutil.which("gcc") is None:
        return "gcc is not installed (scripts/bootstrap.sh installs gcc and libc6-dev)"
    return None


def build_programs(dest: Path) -> dict[str, Path]:
    """Compile every program into `dest`; returns name -> path. Raises CalledProcessError with gcc's output."""
    dest.mkdir(parents=True, exist_ok=True)
    built: dict[str, Path] = {}
    for name, flags in PROGRAMS.items():
        output = dest / name
        subprocess.run(
            ["gcc", "-static", "-O2", "-Wall", "-Werror", *flags, "-o", str(output), str(SOURCES / f"{name}.c")],
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        )
        built[name] = output
    return built


@dataclass(frozen=True)
class RecordRun:
    """The outcome of one `seccomp-operator record` process."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def manifest(self) -> dict[str, Any]:
        data = yaml.safe_load(self.stdout)
        if not isinstance(data, dict):
            raise AssertionError(f"no manifest on stdout; stderr:\n{self.stderr}")
        return data

    @property
    def names(self) -> set[str]:
        return set(self.manifest["spec"]["syscalls"][0]["names"])

    @property
    def architectures(self) -> list[str]:
        return list(self.manifest["spec"]["architectures"])


def run_record(*args: str, timeout: float = 120.0) -> RecordRun:
    """`seccomp-operator record ARGS` in a process of its own (the recorder reaps every child of its process)."""
    result = subprocess.run(
        [sys.executable, "-m", "seccomp_operator", "record", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return RecordRun(result.returncode, result.stdout, result.stderr)
