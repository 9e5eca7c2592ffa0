"""Fixtures for the container-runtime suite: profiles on a kubelet-like layout under a temp dir. The session's
containerd (`runtime`) comes from tests/conftest.py.

The suite skips (with the reason) when the machine cannot run containers: not root, containerd/ctr/runc/the
runc shim missing, or no static busybox. Set ``SECCOMP_OPERATOR_RUNTIME_REQUIRED=1`` (CI does, as root with
the Debian packages from ``scripts/bootstrap.sh``) to turn that skip into a failure, so the suite cannot
silently stop running.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from seccomp_operator.testing.runtime import ContainerdHarness

WriteProfile = Callable[[str, str, dict[str, Any] | str], Path]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.runtime)


@pytest.fixture
def runtime_clean(runtime: ContainerdHarness) -> Iterator[ContainerdHarness]:
    """The session harness, checked to hold no container before and after the test."""
    assert runtime.list_containers() == [], "a previous test left containers behind"
    yield runtime
    left = runtime.list_containers()
    if left:
        runtime.remove_all_containers()
        pytest.fail(f"the test left containers behind: {left}")


@pytest.fixture
def seccomp_root(tmp_path: Path) -> Path:
    """Stands in for the kubelet's ``/var/lib/kubelet/seccomp``."""
    root = tmp_path / "var" / "lib" / "kubelet" / "seccomp"
    root.mkdir(parents=True)
    return root


@pytest.fixture
def write_profile(seccomp_root: Path) -> WriteProfile:
    """``write_profile(ns, name, profile)`` writes ``<root>/seccomp-operator/<ns>/<name>.json`` the way the
    agent does (temp file + ``os.replace``) and returns its absolute path, i.e. what the kubelet sends as
    ``LocalhostRef``. ``profile`` is a JSON-able dict or the exact file text."""

    def write(namespace: str, name: str, profile: dict[str, Any] | str) -> Path:
        path = seccomp_root / "seccomp-operator" / namespace / f"{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        text = profile if isinstance(profile, str) else json.dumps(profile, indent=2)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
        return path.resolve()

    return write
