"""`seccomp-operator record` on this machine: every task of the command's tree is recorded, exactly, and the ways a
recording can end (the command exits, is stopped, outlives its parent, fails, cannot start) are all reported.

Each test runs the CLI in a process of its own, as a user would, on the static programs of tests/programs.
"""

from __future__ import annotations

import json
import os
import platform
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from seccomp_operator.profile import validate_resource
from seccomp_operator.profile.recording import VDSO_CALLS
from seccomp_operator.testing.recorder import RecordRun, run_record


def lints(run: RecordRun, tmp_path: Path) -> None:
    path = tmp_path / "recorded.yaml"
    path.write_text(run.stdout)
    result = subprocess.run(
        [sys.executable, "-m", "seccomp_operator", "lint", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert validate_resource(run.manifest).ok


def test_threads_children_and_their_execs_are_recorded(programs: dict[str, Path], tmp_path: Path) -> None:
    run = run_record("--namespace", "team-a", "--", str(programs["recordee"]), "tree")
    assert run.returncode == 0, run.stderr
    # one distinctive call per kind of task: main thread, second thread, forked child, the child's exec
    assert {"times", "getpriority", "getsid", "sched_getscheduler"} <= run.names
    assert {"clone3", "execve", "wait4"} <= run.names
    assert run.manifest["metadata"] == {"name": "recordee", "namespace": "team-a"}
    assert run.manifest["spec"]["defaultAction"] == "SCMP_ACT_ERRNO"
    assert run.architectures == ["SCMP_ARCH_X86_64"] if platform.machine() == "x86_64" else run.architectures
    # the command's stdout goes to stderr when the manifest goes to stdout
    assert "grandchild sched_getscheduler ok" in run.stderr
    lints(run, tmp_path)


def test_nothing_of_the_recorder_itself_is_recorded(programs: dict[str, Path]) -> None:
    """The recorder's own calls between loading the filter and exec (Python, then execve) are left out: a program
    whose only call is exit_group records as execve + exit_group."""
    run = run_record("--runtime", "none", "--", str(programs["exit_only"]))
    assert run.returncode == 0, run.stderr
    assert run.names == {"execve", "exit_group"} | VDSO_CALLS
    assert "recorded 2 distinct syscalls" in run.stderr


def test_every_call_is_counted_none_rate_limited(programs: dict[str, Path], tmp_path: Path) -> None:
    """100,000 getppid calls as fast as the program can make them: the recorder sees each one (the kernel log of
    SCMP_ACT_LOG would have suppressed almost all of them)."""
    report = tmp_path / "report.json"
    run = run_record("--report", str(report), "--", str(programs["recordee"]), "burst", "100000", timeout=300)
    assert run.returncode == 0, run.stderr
    data = json.loads(report.read_text())
    native = run.architectures[0]
    assert data["calls"][native]["getppid"] == 100000
    assert data["exitStatus"] == 0
    assert data["notifications"] == sum(sum(per_arch.values()) for per_arch in data["calls"].values())


def test_processes_outliving_the_command_are_recorded_until_they_exit(programs: dict[str, Path]) -> None:
    """The orphan makes its call only after the command's main process has exited; the recording waits for it."""
    run = run_record("--", str(programs["recordee"]), "orphan")
    assert run.returncode == 0, run.stderr
    assert "sched_getscheduler" in run.names


@pytest.mark.skipif(platform.machine() != "x86_64", reason="int 0x80 compat calls exist on x86_64 only")
def test_a_32_bit_call_adds_the_x86_architecture(programs: dict[str, Path], tmp_path: Path) -> None:
    run = run_record("--", str(programs["recordee"]), "compat")
    assert run.returncode == 0, run.stderr
    assert "int 0x80 getuid32 ok" in run.stderr
    assert run.architectures == ["SCMP_ARCH_X86", "SCMP_ARCH_X86_64"]
    assert "getuid32" in run.names  # named in x86's table: 199 there is getuid32
    lints(run, tmp_path)
    left_out = run_record("--arch", "x86_64", "--", str(programs["recordee"]), "compat")
    assert left_out.returncode == 1
    assert left_out.stdout == ""
    assert "SCMP_ARCH_X86, which the chosen architectures leave out" in left_out.stderr


@pytest.mark.skipif(platform.machine() != "x86_64", reason="the program calls mseal by its x86_64 number")
def test_a_call_libseccomp_cannot_name_is_reported_and_fails_the_command(programs: dict[str, Path]) -> None:
    run = run_record("--", str(programs["recordee"]), "mseal")
    assert run.returncode == 1
    assert "made syscall 462 on SCMP_ARCH_X86_64" in run.stderr
    assert "cannot allow every call" in run.stderr
    assert "mmap" in run.names  # the profile of the run is still written


SHUTDOWN_SCRIPT = "trap 'umask 022; exit 0' TERM; echo ready; while :; do sleep 0.05; done"
IGNORING_SCRIPT = "trap '' TERM; echo ready; while :; do :; done"


def record_until_ready_then_signal(*args: str) -> tuple[int, str, str]:
    """Start the recorder, wait (with a deadline) until the command has printed "ready", send the recorder SIGTERM
    and collect (exit code, stdout, stderr)."""
    recorder = subprocess.Popen(
        [sys.executable, "-m", "seccomp_operator", "record", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert recorder.stderr is not None
        deadline = time.monotonic() + 60
        seen = b""
        while b"ready" not in seen:  # the command's stdout goes to the recorder's stderr
            assert time.monotonic() < deadline, f"the command did not start: {seen!r}"
            ready, _, _ = select.select([recorder.stderr.fileno()], [], [], 1.0)
            if ready:
                chunk = os.read(recorder.stderr.fileno(), 4096)
                assert chunk, f"the recorder ended early: {seen!r}"
                seen += chunk
        recorder.send_signal(signal.SIGTERM)
        out, err = recorder.communicate(timeout=60)
    finally:
        if recorder.poll() is None:
            recorder.kill()
            recorder.wait()
    return recorder.returncode, out.decode(), (seen + err).decode()


def test_sigterm_to_the_recorder_stops_the_command_and_records_its_shutdown() -> None:
    code, stdout, stderr = record_until_ready_then_signal("--", "sh", "-c", SHUTDOWN_SCRIPT)
    assert code == 0, stderr
    assert "SIGTERM received: sent SIGTERM" in stderr
    assert "umask" in set(yaml.safe_load(stdout)["spec"]["syscalls"][0]["names"])  # only the TERM trap calls umask


def test_a_command_ignoring_sigterm_is_killed_after_the_grace_period() -> None:
    code, stdout, stderr = record_until_ready_then_signal("--grace", "0.5", "--", "sh", "-c", IGNORING_SCRIPT)
    assert code == 0, stderr
    assert "still running after 0.5s: killed" in stderr
    assert validate_resource(yaml.safe_load(stdout)).ok


def test_duration_stops_the_command() -> None:
    run = run_record("--duration", "0.5", "--", "sh", "-c", SHUTDOWN_SCRIPT)
    assert run.returncode == 0, run.stderr
    assert "--duration reached: sent SIGTERM" in run.stderr
    assert validate_resource(run.manifest).ok


def test_a_failing_command_still_gets_its_profile_but_exit_1() -> None:
    run = run_record("--", "sh", "-c", "exit 3")
    assert run.returncode == 1
    assert "the command failed (exit status 3)" in run.stderr
    assert "exit_group" in run.names


def test_output_file_leaves_the_commands_stdout_alone(tmp_path: Path) -> None:
    out = tmp_path / "p.yaml"
    run = run_record("-o", str(out), "--name", "hello", "--errno", "ENOSYS", "--", "sh", "-c", "echo hello")
    assert run.returncode == 0, run.stderr
    assert run.stdout == "hello\n"
    manifest = yaml.safe_load(out.read_text())
    assert manifest["metadata"]["name"] == "hello"
    assert manifest["spec"]["defaultErrnoRet"] == 38


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "no command given"),
        (("--", "no-such-command-here"), "no-such-command-here: command not found"),
        (("--errno", "EWHAT", "--", "true"), "--errno"),
        (("--arch", "vax", "--", "true"), "unknown architecture 'vax'"),
        (("--duration", "-1", "--", "true"), "--duration must not be negative"),
    ],
)
def test_usage_errors_exit_2(args: tuple[str, ...], message: str) -> None:
    run = run_record(*args)
    assert run.returncode == 2
    assert message in run.stderr
    assert run.stdout == ""


def test_a_file_that_is_not_executable_exits_2(tmp_path: Path) -> None:
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\ntrue\n")
    os.chmod(script, 0o644)
    run = run_record("--", str(script))
    assert run.returncode == 2
    assert "not an executable file" in run.stderr


def test_an_exec_failure_in_the_child_is_reported(tmp_path: Path) -> None:
    """Executable, but not a format the kernel can run: execve itself fails after the filter is loaded."""
    junk = tmp_path / "junk"
    junk.write_bytes(b"\x7fELF-not-really")
    os.chmod(junk, 0o755)
    run = run_record("--", str(junk))
    assert run.returncode == 2
    assert "cannot run" in run.stderr
    assert "Exec format error" in run.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to an unprivileged user needs root")
def test_recording_works_without_root(programs: dict[str, Path]) -> None:
    """Without CAP_SYS_ADMIN the recorder sets no_new_privs before loading the filter, as the kernel requires."""
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    with tempfile.TemporaryDirectory(prefix="sco-rec-") as directory:  # pytest's own tmp dirs are root-only
        os.chmod(directory, 0o755)
        program = Path(directory) / "recordee"
        shutil.copy(programs["recordee"], program)
        result = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--",
             sys.executable, "-m", "seccomp_operator", "record", "--", str(program), "tree"],
            capture_output=True, text=True, timeout=120, check=False, cwd=directory,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    run = RecordRun(result.returncode, result.stdout, result.stderr)
    assert {"times", "getpriority", "getsid", "sched_getscheduler"} <= run.names
