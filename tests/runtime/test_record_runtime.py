"""Recorded profiles under the real runtime: containerd 1.6 + runc 1.1 from Debian.

- A profile recorded locally with `seccomp-operator record` runs the same static program inside a container, under
  both noNewPrivileges settings, while a call the recorded run never made fails with the profile's errno.
- runc's own calls between loading the filter and exec are measured by recording runc itself through a NOTIFY
  profile's `listenerPath` (which also shows that containerd 1.6.20 passes `listenerPath` through to runc) and must
  stay within the table `seccomp-operator record` adds (`seccomp_operator.profile.recording.RUNTIME_CALLS`).
"""

from __future__ import annotations

import json
import platform
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from seccomp_operator.profile import render, validate_resource
from seccomp_operator.profile.recording import (
    GO_RUNTIME,
    NODE_ARCHITECTURES,
    RUNC_AFTER_FILTER,
    RUNC_PRIVILEGE_DROP,
    name_calls,
    recording_spec,
)
from seccomp_operator.profile.syscalls import native_arch
from seccomp_operator.record.collector import ContainerCalls, NotifyCollector
from seccomp_operator.testing.recorder import build_programs, missing_compiler, run_record
from seccomp_operator.testing.runtime import ContainerdHarness, ContainerTimeoutError, RunResult

pytestmark = pytest.mark.runtime

WriteProfile = Callable[[str, str, "dict[str, Any] | str"], Path]
EPERM_TEXT = "Operation not permitted"
MOUNT_DIR = "/x"


@pytest.fixture(scope="module")
def programs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    reason = missing_compiler()
    if reason:
        pytest.fail(reason, pytrace=False)  # the runtime suite already requires root and Debian packages
    try:
        return build_programs(tmp_path_factory.mktemp("programs"))
    except subprocess.CalledProcessError as exc:
        pytest.fail(f"building the test programs failed:\n{exc.stderr}", pytrace=False)


def run_program(
    runtime: ContainerdHarness,
    programs: dict[str, Path],
    args: list[str],
    profile: Path | str | None,
    *,
    no_new_privileges: bool = True,
    timeout: float = 60.0,
) -> RunResult:
    """Run one of the test programs, bind-mounted read-only at /x, in a busybox container."""
    directory = next(iter(programs.values())).parent
    return runtime.run(
        [f"{MOUNT_DIR}/{args[0]}", *args[1:]],
        seccomp_profile=profile,
        no_new_privileges=no_new_privileges,
        timeout=timeout,
        extra_args=["--mount", f"type=bind,src={directory},dst={MOUNT_DIR},options=rbind:ro"],
    )


def recorded_file(write_profile: WriteProfile, manifest: dict[str, Any], name: str) -> Path:
    """The node file the agent would write for the manifest."""
    validation = validate_resource(manifest)
    assert validation.ok and validation.profile is not None, validation.findings
    return write_profile("recorded", name, render(validation.profile).content)


@pytest.mark.parametrize("no_new_privileges", [True, False], ids=["noNewPrivileges", "privilege-escalation-allowed"])
def test_recorded_profile_runs_the_program_and_refuses_what_it_never_did(
    runtime_clean: ContainerdHarness, programs: dict[str, Path], write_profile: WriteProfile, no_new_privileges: bool
) -> None:
    recorded = run_record("--", str(programs["recordee"]), "tree")
    assert recorded.returncode == 0, recorded.stderr
    profile = recorded_file(write_profile, recorded.manifest, "tree")

    result = run_program(runtime_clean, programs, ["recordee", "tree"], profile, no_new_privileges=no_new_privileges)
    assert result.exit_code == 0, result.describe()
    assert "grandchild sched_getscheduler ok" in result.stdout
    assert "thread getpriority ok" in result.stdout

    result = run_program(
        runtime_clean, programs, ["recordee", "tree", "--also-mkdir"], profile, no_new_privileges=no_new_privileges
    )
    assert result.exit_code == 0, result.describe()
    assert f"mkdir: {EPERM_TEXT}" in result.stdout  # defaultErrnoRet 1: the recorded run never called mkdir


@pytest.mark.skipif(platform.machine() != "x86_64", reason="int 0x80 compat calls exist on x86_64 only")
def test_recorded_32_bit_call_is_allowed_under_runc(
    runtime_clean: ContainerdHarness, programs: dict[str, Path], write_profile: WriteProfile
) -> None:
    recorded = run_record("--", str(programs["recordee"]), "compat")
    assert recorded.returncode == 0, recorded.stderr
    assert "SCMP_ARCH_X86" in recorded.architectures
    profile = recorded_file(write_profile, recorded.manifest, "compat")
    result = run_program(runtime_clean, programs, ["recordee", "compat", "--also-mkdir"], profile)
    assert result.exit_code == 0, result.describe()
    assert "int 0x80 getuid32 ok" in result.stdout
    assert f"mkdir: {EPERM_TEXT}" in result.stdout


def test_without_runcs_calls_the_container_does_not_start(
    runtime_clean: ContainerdHarness, programs: dict[str, Path], write_profile: WriteProfile
) -> None:
    """The control for the table: the same recording with `--runtime none` lacks runc's privilege-dropping calls,
    and runc fails before the program runs (what a Pod without allowPrivilegeEscalation: false would hit)."""
    recorded = run_record("--runtime", "none", "--", str(programs["recordee"]), "tree")
    assert recorded.returncode == 0, recorded.stderr
    profile = recorded_file(write_profile, recorded.manifest, "tree-none")
    result = run_program(runtime_clean, programs, ["recordee", "tree"], profile, no_new_privileges=False)
    assert result.exit_code != 0
    assert "grandchild" not in result.stdout
    assert "runc create failed" in result.stderr, result.describe()
    assert EPERM_TEXT.lower() in result.stderr.lower(), result.describe()


@pytest.fixture
def collector() -> Iterator[tuple[NotifyCollector, list[ContainerCalls]]]:
    # unix socket paths are limited to 107 bytes: keep it short rather than under pytest's tmp_path
    with tempfile.TemporaryDirectory(prefix="sco-rec-") as directory:
        finished: list[ContainerCalls] = []
        lock = threading.Lock()

        def on_end(calls: ContainerCalls) -> None:
            with lock:
                finished.append(calls)

        collector = NotifyCollector(f"{directory}/recorder.sock", on_end=on_end).start()
        try:
            yield collector, finished
        finally:
            collector.stop()


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_runc_calls_after_loading_the_filter_stay_within_the_table(
    runtime_clean: ContainerdHarness,
    programs: dict[str, Path],
    write_profile: WriteProfile,
    collector: tuple[NotifyCollector, list[ContainerCalls]],
) -> None:
    """exit_only makes one call, exit_group; everything else on the listener is runc's, after its filter is in."""
    server, finished = collector
    spec = recording_spec(server.socket_path, NODE_ARCHITECTURES[native_arch()], metadata="runc-table")
    profile = write_profile("recording", "runc-table", json.dumps(spec))
    runs = 5
    seen: dict[bool, list[frozenset[str]]] = {True: [], False: []}
    for no_new_privileges in (True, False):
        for _ in range(runs):
            before = len(finished)
            result = run_program(runtime_clean, programs, ["exit_only"], profile, no_new_privileges=no_new_privileges)
            assert result.exit_code == 0, result.describe()
            wait_for(lambda before=before: len(finished) > before)  # type: ignore[misc]
            calls = finished[-1]
            assert calls.metadata == "runc-table"
            assert calls.container_id == result.container_id  # the state runc sent names this container
            named = name_calls(calls.calls)
            assert named.unnamed == ()
            seen[no_new_privileges].append(frozenset().union(*named.names.values()))
    program = {"execve", "exit_group"}
    for names in seen[True]:
        assert names - program <= RUNC_AFTER_FILTER | GO_RUNTIME, sorted(names - RUNC_AFTER_FILTER - GO_RUNTIME)
    for names in seen[False]:
        table = RUNC_AFTER_FILTER | RUNC_PRIVILEGE_DROP | GO_RUNTIME
        assert names - program <= table, sorted(names - table)
    # and the table is not stale: what runc made in every run is in it, measured (write cannot be notified)
    always_nnp = frozenset.intersection(*seen[True]) - program
    always_privileged = frozenset.intersection(*seen[False]) - program
    assert RUNC_AFTER_FILTER - GO_RUNTIME - {"write", "execve"} <= always_nnp
    assert not RUNC_PRIVILEGE_DROP - always_privileged - RUNC_AFTER_FILTER


@pytest.mark.skipif(platform.machine() != "x86_64", reason="the program calls mseal by its x86_64 number")
def test_a_call_libseccomp_cannot_name_fails_with_enosys_under_runc(
    runtime_clean: ContainerdHarness, programs: dict[str, Path], write_profile: WriteProfile
) -> None:
    """What the recorder's warning promises: mseal (newer than libseccomp 2.5.4) cannot be allowed, and runc's
    filter answers ENOSYS for syscalls newer than every one its libseccomp knows."""
    recorded = run_record("--", str(programs["recordee"]), "mseal")
    assert recorded.returncode == 1
    profile = recorded_file(write_profile, recorded.manifest, "mseal")
    result = run_program(runtime_clean, programs, ["recordee", "mseal"], profile)
    assert "mmap ok" in result.stdout, result.describe()
    assert "mseal failed: Function not implemented" in result.stdout, result.describe()


def test_without_a_collector_listening_the_workload_never_runs(
    runtime: ContainerdHarness, programs: dict[str, Path], tmp_path: Path
) -> None:
    """A recording profile never lets a workload run unrecorded. With nothing on listenerPath runc 1.1.5 fails to
    hand over the listener and then hangs (its init waits on a notified call of a listener it holds itself) until
    the create is cancelled; the program's first call is never answered. The stuck `runc create`/`runc init` outlive
    the container's removal, so this runs on a containerd of its own, whose stop() kills them."""
    with tempfile.TemporaryDirectory(prefix="sco-rec-") as directory:
        spec = recording_spec(f"{directory}/nobody.sock", NODE_ARCHITECTURES[native_arch()])
        profile = tmp_path / "nobody.json"
        profile.write_text(json.dumps(spec))
        own = ContainerdHarness(snapshotter=runtime.snapshotter)
        own.start()
        try:
            with pytest.raises(ContainerTimeoutError) as hung:
                run_program(own, programs, ["recordee", "tree"], profile, timeout=10)
            container = hung.value.args[0].split()[1]
        finally:
            own.stop()
    assert "main times" not in hung.value.stdout
    leftovers = [p for p in Path("/proc").iterdir() if p.name.isdigit() and container.encode() in _cmdline(p)]
    assert leftovers == [], "processes of the hung container survived the harness"


def _cmdline(process: Path) -> bytes:
    try:
        return (process / "cmdline").read_bytes()
    except OSError:
        return b""
