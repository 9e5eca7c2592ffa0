"""The README's main command: `seccomp-operator demo` runs the whole product and exits 0 on its own; with
`--keep` it leaves a cluster that kubectl can use (the README's Pod example included) until Ctrl-C or SIGTERM, and
then stops everything it started."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from seccomp_operator.testing.simulation import wait_until

REPO = Path(__file__).resolve().parents[2]


def test_demo_runs_to_completion(binaries_dir: Path, tmp_path: Path) -> None:
    env = {**os.environ, "KUBEBUILDER_ASSETS": str(binaries_dir)}
    result = subprocess.run(
        [sys.executable, "-m", "seccomp_operator", "demo", "--nodes", "2", "--workdir", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert re.search(r"deny-dangerous\s+Ready\s+2\s+2", out), out
    assert "denied the request" in out and "ptrcae" in out
    assert "restored in" in out
    assert "demo finished" in out


def processes_mentioning(text: str) -> list[str]:
    """Command lines of live processes that name `text` (the demo's workdir is in etcd's and the API server's)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # not a process, or gone meanwhile
            continue
        if text in argv:
            found.append(f"{entry.name}: {argv[:200]}")
    return found


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_demo_keep_leaves_a_usable_cluster(binaries_dir: Path, tmp_path: Path, stop: signal.Signals) -> None:
    env = {**os.environ, "KUBEBUILDER_ASSETS": str(binaries_dir)}
    workdir = tmp_path / "demo"
    proc = subprocess.Popen(
        [sys.executable, "-m", "seccomp_operator", "demo", "--nodes", "1", "--keep", "--workdir", str(workdir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        found = wait_until(
            lambda: next((m for line in lines if (m := re.search(r"export KUBECONFIG=(\S+)", line))), None),
            timeout=180,
            what="the demo to print its KUBECONFIG",
        )
        kubectl = [str(binaries_dir / "kubectl"), f"--kubeconfig={found.group(1)}"]
        listing = subprocess.run(
            [*kubectl, "get", "seccompprofiles", "-A"], capture_output=True, text=True, timeout=60, check=True
        ).stdout
        assert "deny-dangerous" in listing and "Ready" in listing
        # The README's workload example applies as written: the demo made the `default` ServiceAccount.
        applied = subprocess.run(
            [*kubectl, "apply", "--server-side", "-f", str(REPO / "examples" / "pod-web-server.yaml")],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert applied.returncode == 0, applied.stderr
        assert "pod/web-server serverside-applied" in applied.stdout
    finally:
        proc.send_signal(stop)
        try:
            code = proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            # Never leave it running: its control plane dies with it (PR_SET_PDEATHSIG).
            proc.kill()
            proc.wait(timeout=30)
            raise AssertionError(f"the demo ignored {stop.name}:\n" + "".join(lines)[-3000:]) from None
    assert code == 0, "".join(lines)[-3000:]
    assert "stopping the control plane" in "".join(lines)
    wait_until(lambda: not processes_mentioning(str(workdir)), timeout=30, what="the demo's processes to exit")
