"""The README's main command: `seccomp-operator demo` runs the whole product and exits 0 on its own; with
`--keep` it leaves a cluster that kubectl can use until interrupted."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

from seccomp_operator.testing.simulation import wait_until


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


def test_demo_keep_leaves_a_usable_cluster(binaries_dir: Path, tmp_path: Path) -> None:
    env = {**os.environ, "KUBEBUILDER_ASSETS": str(binaries_dir)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "seccomp_operator", "demo", "--nodes", "1", "--keep", "--workdir", str(tmp_path)],
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
        kubeconfig = found.group(1)
        listing = subprocess.run(
            [str(binaries_dir / "kubectl"), f"--kubeconfig={kubeconfig}", "get", "seccompprofiles", "-A"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        assert "deny-dangerous" in listing and "Ready" in listing
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0, "".join(lines)[-3000:]
