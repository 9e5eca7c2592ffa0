"""Each lint verdict of issue 17, next to what containerd 1.6 + runc 1.1.5 really do with the same file.

The profile is written where the kubelet would find it and given to containerd exactly as a Localhost profile is
(see test_runtime_enforcement.py); then `seccomp-operator lint --json` judges the same file. A verdict is right when
an error means the container fails (or runs something else than written) and a warning means it runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from seccomp_operator.cli import main
from seccomp_operator.testing.runtime import ContainerdHarness

pytestmark = pytest.mark.runtime

WriteProfile = Callable[[str, str, "dict[str, Any] | str"], Path]
MKDIR = "grep '^Seccomp:' /proc/self/status; mkdir /tmp/x; echo mkdir=$?; ls /tmp"
EPERM = "mkdir: can't create directory '/tmp/x': Operation not permitted\n"
ARCHES = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]


def mkdir_profile(**rule: Any) -> dict[str, Any]:
    rule = {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1, **rule}
    return {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ARCHES, "syscalls": [rule]}


def lint(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[tuple[str, str]]]:
    code = main(["lint", "--json", str(path)])
    findings = json.loads(capsys.readouterr().out)["findings"]
    return code, [(f["severity"], f["code"]) for f in findings]


@pytest.mark.parametrize(
    ("text", "containerd_says", "code"),
    [
        pytest.param(
            "\ufeff" + json.dumps(mkdir_profile()), "invalid character 'ï' looking for beginning", "byte-order-mark"
        ),
        pytest.param(
            json.dumps(mkdir_profile()).replace('"errnoRet": 1', '"errnoRet": NaN'),
            "invalid character 'N' looking for beginning of value",
            "json-constant",
        ),
        pytest.param(
            json.dumps(mkdir_profile()) + "\n" + json.dumps(mkdir_profile(errnoRet=13)),
            "invalid character '{' after top-level value",
            "trailing-data",
        ),
    ],
    ids=["byte-order-mark", "nan", "second-value"],
)
def test_a_file_containerd_cannot_parse_is_a_lint_error(
    runtime_clean: ContainerdHarness,
    write_profile: WriteProfile,
    capsys: pytest.CaptureFixture[str],
    text: str,
    containerd_says: str,
    code: str,
) -> None:
    path = write_profile("verdicts", "unparsable", text)
    result = runtime_clean.run_shell("echo should-not-run", seccomp_profile=path)
    assert not result.ok and result.stdout == "", result.describe()
    assert "decoding seccomp profile failed" in result.stderr and containerd_says in result.stderr, result.describe()
    assert lint(path, capsys) == (1, [("error", code)])


def test_a_docker_comment_changes_nothing_and_is_only_a_warning(
    runtime_clean: ContainerdHarness, write_profile: WriteProfile, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = runtime_clean.run_shell(MKDIR, seccomp_profile=write_profile("verdicts", "plain", mkdir_profile()))
    path = write_profile("verdicts", "commented", mkdir_profile(comment="no new directories"))
    commented = runtime_clean.run_shell(MKDIR, seccomp_profile=path)
    assert commented.ok, commented.describe()
    assert (commented.stdout, commented.stderr) == (plain.stdout, plain.stderr) == ("Seccomp:\t2\nmkdir=1\n", EPERM)
    assert lint(path, capsys) == (0, [("warning", "docker-comment")])


def test_errno_zero_makes_the_call_succeed_without_running(
    runtime_clean: ContainerdHarness, write_profile: WriteProfile, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_profile("verdicts", "errno-zero", mkdir_profile(errnoRet=0))
    result = runtime_clean.run_shell(MKDIR, seccomp_profile=path)
    assert result.ok, result.describe()
    assert (result.stdout, result.stderr) == ("Seccomp:\t2\nmkdir=0\n", ""), result.describe()  # and no /tmp/x
    assert lint(path, capsys) == (0, [("warning", "errno-zero")])


def test_runc_ignores_a_listener_without_notify_rules(
    runtime_clean: ContainerdHarness, write_profile: WriteProfile, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = {**mkdir_profile(), "listenerPath": "/run/nothing-listens-here.sock", "listenerMetadata": "x"}
    path = write_profile("verdicts", "listener", profile)
    result = runtime_clean.run_shell(MKDIR, seccomp_profile=path)
    assert result.ok, result.describe()
    assert (result.stdout, result.stderr) == ("Seccomp:\t2\nmkdir=1\n", EPERM), result.describe()
    assert lint(path, capsys) == (0, [("warning", "listener-without-notify")])
