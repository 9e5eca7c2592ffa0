"""Long-running child processes of a test harness: each in its own process group, logging to a file, killed by the
kernel if the harness dies (PDEATHSIG), stopped with SIGTERM then SIGKILL. Used by the real-node harness."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from seccomp_operator.testing.controlplane import child_setup_factory, log_tail, terminate

__all__ = ["ProcessGroup"]


class ProcessGroup:
    """Named children whose output goes to ``<log_dir>/<name>.log``; see the module docstring.

    Start children from a thread that lives as long as they should (PDEATHSIG follows the forking thread).
    """

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: dict[str, IO[bytes]] = {}

    def spawn(
        self,
        name: str,
        argv: Sequence[str],
        *,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        stdout_pipe: bool = False,
    ) -> subprocess.Popen[bytes]:
        """Starts ``argv`` as ``name`` (stderr, and stdout unless ``stdout_pipe``, appended to its log)."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path(name).open("ab")
        log.write(f"\n===== starting {name}: {' '.join(argv)}\n".encode())
        log.flush()
        if env is None:
            env = {k: v for k, v in os.environ.items() if not k.startswith("CONTAINERD_") and k != "KUBECONFIG"}
        try:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if stdout_pipe else log,
                stderr=log,
                cwd=cwd,
                env=dict(env),
                # Own process group: Ctrl-C reaches only Python, which stops the children in order.
                process_group=0,
                preexec_fn=child_setup_factory(),  # noqa: PLW1509 (see controlplane.child_setup_factory)
            )
        except BaseException:
            log.close()
            raise
        self.procs[name] = proc
        self._logs[name] = log
        return proc

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def alive(self, name: str) -> bool:
        proc = self.procs.get(name)
        return proc is not None and proc.poll() is None

    def exited(self, name: str) -> int | None:
        """The exit code of ``name`` if it was started and has exited, else None."""
        proc = self.procs.get(name)
        return None if proc is None else proc.poll()

    def tail(self, name: str) -> str:
        return f"--- last lines of {self.log_path(name)}:\n{log_tail(self.log_path(name))}"

    def stop(self, name: str, timeout: float = 15.0) -> None:
        """SIGTERM (SIGKILL after ``timeout``; at once if 0) and reap; a no-op for an unknown or stopped name."""
        proc = self.procs.pop(name, None)
        if proc is not None:
            terminate(proc, timeout)
            if proc.stdout is not None:
                proc.stdout.close()
        log = self._logs.pop(name, None)
        if log is not None:
            log.close()

    def stop_all(self, timeout: float = 15.0) -> None:
        for name in reversed(list(self.procs)):
            self.stop(name, timeout)
