"""`seccomp-operator --version` and the build_info metric say the same thing: this package's version and the Python
and libseccomp it runs with."""

from __future__ import annotations

import platform
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from seccomp_operator.agent.metrics import AgentMetrics
from seccomp_operator.controller.metrics import ControllerMetrics
from seccomp_operator.observability import BUILD_INFO
from seccomp_operator.profile import libseccomp

REPO = Path(__file__).resolve().parents[2]
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


def test_version_flag() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "seccomp_operator", "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        f"seccomp-operator {VERSION} (Python {platform.python_version()}, libseccomp {libseccomp.version()})\n"
    )


def test_version_is_listed_in_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "seccomp_operator", "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert re.search(r"^\s+--version\s", result.stdout, re.MULTILINE), result.stdout


@pytest.mark.parametrize("component", [AgentMetrics, ControllerMetrics], ids=["agent", "controller"])
def test_build_info_and_process_metrics(component: type[AgentMetrics] | type[ControllerMetrics]) -> None:
    registry: CollectorRegistry = component().registry
    labels = {
        "version": VERSION,
        "python_version": platform.python_version(),
        "libseccomp_version": libseccomp.version(),
    }
    assert registry.get_sample_value(BUILD_INFO, labels) == 1.0
    # The process and platform collectors: memory, CPU, file descriptors, and the interpreter.
    assert (registry.get_sample_value("process_resident_memory_bytes") or 0) > 0
    assert registry.get_sample_value("process_cpu_seconds_total") is not None
    assert registry.get_sample_value("process_open_fds") is not None
    python = {"implementation": platform.python_implementation(), "version": platform.python_version()}
    python |= dict(zip(("major", "minor", "patchlevel"), platform.python_version_tuple(), strict=True))
    assert registry.get_sample_value("python_info", python) == 1.0
