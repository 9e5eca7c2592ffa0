"""Fixtures for the local recorder suite: the static test programs of tests/programs, built once per session.

The suite needs gcc (scripts/bootstrap.sh installs it) and a kernel with seccomp user notification (Linux >= 5.9 for
SECCOMP_USER_NOTIF_FLAG_CONTINUE and the listener's hang-up). Without them it skips and says why; with
``SECCOMP_OPERATOR_RUNTIME_REQUIRED=1`` (CI) that is a failure instead.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from seccomp_operator.testing.recorder import build_programs, missing_compiler

REQUIRED_ENV = "SECCOMP_OPERATOR_RUNTIME_REQUIRED"


def _unavailable(reason: str) -> None:
    if os.environ.get(REQUIRED_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRED_ENV}=1)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def programs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    reason = missing_compiler()
    if reason:
        _unavailable(reason)
    from seccomp_operator.record import notify

    try:
        notify.check_kernel()
    except OSError as exc:
        _unavailable(f"this kernel cannot record with seccomp user notification: {exc}")
    try:
        return build_programs(tmp_path_factory.mktemp("programs"))
    except subprocess.CalledProcessError as exc:
        pytest.fail(f"building the test programs failed:\n{exc.stderr}", pytrace=False)
