"""Node processes of either system, each in a network and mount namespace of its own, as on a node of its own.

SPO's daemon binds fixed ports (:8085 health, :9443 metrics) and the socket /var/run/grpc/metrics.sock, so several on
one machine need one network and mount namespace each; seccomp-operator's agents are run the same way (with their
health port on, as in a cluster), so the two systems' node processes reach the API server by the same path:

  process -> 127.0.0.1:<API port> inside its namespace (socat) -> a unix socket in the work directory
          -> socat on the host -> the API server on the host's 127.0.0.1:<API port>

The inner listener uses the API server's own port, so the control plane's kubeconfig works unchanged inside. Each
namespace gets loopback up and a tmpfs on /run (so /var/run/grpc and /run/secrets are private). Only loopback and
unix sockets are involved. A PID namespace as well: the process is its init, so when it ends (or unshare is killed,
`--kill-child`, or the benchmark dies, parent-death signal) the kernel ends the inner socat with it.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from seccomp_operator.testing.controlplane import child_setup_factory, terminate


class ApiForwarder:
    """socat on the host: the unix socket every namespace's inner socat connects to, forwarded to the API server."""

    def __init__(self, workdir: Path, port: int) -> None:
        self.port = port
        self.socket = workdir / "api.sock"
        with open(workdir / "api-forwarder.log", "ab") as log:  # connections cut at shutdown log "Broken pipe"
            self.process = subprocess.Popen(
                ["socat", f"UNIX-LISTEN:{self.socket},fork,reuseaddr,mode=600", f"TCP:127.0.0.1:{port}"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=child_setup_factory(),  # noqa: PLW1509 - one prctl call, resolved before the fork
            )

    def close(self) -> None:
        terminate(self.process, 5)


def spawn_isolated(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    forwarder: ApiForwarder,
    log_path: Path,
    setup: Sequence[str] = (),
) -> subprocess.Popen[bytes]:
    """Run `argv` in new network, mount and PID namespaces. The returned process is `unshare`; `argv` is its only
    child (the shell execs it): see `main_pid`."""
    port = forwarder.port
    script = "\n".join(
        [
            "set -e",
            "ip link set lo up",
            "mount -t tmpfs -o mode=755 tmpfs /run",
            "mkdir -p /run/grpc",
            *setup,
            f"socat TCP-LISTEN:{port},bind=127.0.0.1,fork,reuseaddr UNIX-CONNECT:{forwarder.socket} &",
            # Exec only once the inner listener answers, so the process never starts without its API server.
            "i=0",
            f"until socat -u OPEN:/dev/null TCP:127.0.0.1:{port} 2>/dev/null; do",
            '  i=$((i+1)); [ "$i" -lt 200 ] || { echo "inner API forwarder did not start" >&2; exit 1; }; sleep 0.05',
            "done",
            'exec "$@"',
        ]
    )
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            ["unshare", "--mount", "--net", "--pid", "--fork", "--kill-child", "--", "sh", "-c", script, "sh", *argv],
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=child_setup_factory(),  # noqa: PLW1509
        )


def main_pid(process: subprocess.Popen[bytes]) -> int:
    """The pid of the command itself (unshare's child), for its memory figures; 0 when it is not running."""
    try:
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
    except OSError:
        return 0
    return int(children[0]) if children else 0


def stop(process: subprocess.Popen[bytes], timeout: float = 10.0) -> int | None:
    """SIGTERM the process group, SIGKILL after `timeout`; the exit code (SPO exits by panicking on SIGTERM)."""
    terminate(process, timeout)
    return process.returncode


def base_environment() -> dict[str, str]:
    """The benchmark's environment without KUBECONFIG (each process is told its own)."""
    return {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
