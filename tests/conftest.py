"""Fixtures shared by every suite: the container runtime (one private containerd for the whole session)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from seccomp_operator.testing.runtime import ContainerdHarness, HarnessError, missing_requirements

# CI sets it (as root, with the Debian packages from scripts/bootstrap.sh): a machine that cannot run containers is
# then a failure, so the runtime tests cannot silently stop running.
RUNTIME_REQUIRED_ENV = "SECCOMP_OPERATOR_RUNTIME_REQUIRED"
SNAPSHOTTER_ENV = "SECCOMP_OPERATOR_RUNTIME_SNAPSHOTTER"  # overlayfs | native; default: probe


def _runtime_unavailable() -> str | None:
    reasons = missing_requirements()
    if not reasons:
        return None
    message = "container runtime unavailable: " + "; ".join(reasons)
    if os.environ.get(RUNTIME_REQUIRED_ENV) == "1":
        pytest.fail(f"{message} ({RUNTIME_REQUIRED_ENV}=1)", pytrace=False)
    return message


@pytest.fixture(scope="session")
def runtime_or_none() -> Iterator[ContainerdHarness | None]:
    """A started :class:`ContainerdHarness` shared by the whole session (containerd start + image import take well
    under a second; each container about 0.15 s), or None where this machine cannot run containers."""
    if _runtime_unavailable():
        yield None
        return
    harness = ContainerdHarness(snapshotter=os.environ.get(SNAPSHOTTER_ENV) or None)
    try:
        harness.start()
    except HarnessError as exc:
        pytest.fail(f"could not start the container runtime harness: {exc}", pytrace=False)
    try:
        yield harness
    finally:
        harness.stop()


@pytest.fixture(scope="session")
def runtime(runtime_or_none: ContainerdHarness | None) -> ContainerdHarness:
    """The session's harness; the test is skipped (failed under CI's requirement) where containers cannot run."""
    if runtime_or_none is None:
        pytest.skip(_runtime_unavailable() or "container runtime unavailable")
    return runtime_or_none
