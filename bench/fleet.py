"""Simulated nodes spread over several processes: each process runs up to AGENTS_PER_PROCESS real `NodeAgent`s
(`seccomp_operator.testing.simulation.Simulation`: one asyncio loop, one HTTP pool, one root directory per node),
because one Python process cannot hold 5,000 agents' watch streams and file writes on one core.

The driver (`Fleet`) creates the Node objects, starts the processes and waits until every agent has finished its
first sync. A worker process is `python -m bench.fleet KUBECONFIG SIM_WORKDIR DRIFT_WATCHED NODE...` and answers
one JSON request per stdin line:  {"op": "stats"} -> {"published_events", "node_events", "vmhwm_kib", "agents"}.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench.util import REPO, parallel, proc_status_kib, reap

AGENTS_PER_PROCESS = 500


def node_body(name: str) -> dict[str, Any]:
    labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}, "spec": {}}


class Fleet:
    """N simulated nodes in ceil(N / AGENTS_PER_PROCESS) processes; node roots under `sim_workdir/nodes`."""

    def __init__(self, cp: Any, nodes: list[str], sim_workdir: Path, drift_watched: int, log: Any) -> None:
        from kubernetes import client

        self.nodes = nodes
        self.sim_workdir = sim_workdir
        core = client.CoreV1Api(cp.api_client())
        started = time.monotonic()
        parallel(lambda name: core.create_node(node_body(name)), [(n,) for n in nodes], width=16)
        log(f"  {len(nodes)} Node objects created in {time.monotonic() - started:.1f}s")
        self.processes: list[subprocess.Popen[str]] = []
        self._lock = threading.Lock()
        per = math.ceil(len(nodes) / max(1, math.ceil(len(nodes) / AGENTS_PER_PROCESS))) if nodes else 0
        started = time.monotonic()
        for index in range(0, len(nodes), per or 1):
            group = nodes[index : index + per]
            watched = max(0, min(len(group), drift_watched - index))
            argv = [sys.executable, "-m", "bench.fleet", str(cp.kubeconfig_path), str(sim_workdir), str(watched)]
            argv.extend(group)
            self.processes.append(
                subprocess.Popen(
                    argv,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    cwd=REPO,
                    text=True,
                )
            )
        for process in self.processes:
            answer = self._read(process)
            if not answer.get("ready"):
                raise RuntimeError(f"a fleet process failed to start its agents: {answer}")
        if nodes:
            log(
                f"  {len(nodes)} agents in {len(self.processes)} process(es) synced in "
                f"{time.monotonic() - started:.1f}s"
            )

    @property
    def nodes_dir(self) -> Path:
        return self.sim_workdir / "nodes"

    @staticmethod
    def root_of(sim_workdir: Path, node: str) -> Path:
        return sim_workdir / "nodes" / node / "var-lib-kubelet-seccomp"

    def _read(self, process: subprocess.Popen[str]) -> dict[str, Any]:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"a fleet process exited (code {process.poll()})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def stats(self) -> dict[str, Any]:
        """Watch events the agents' informers received so far, and each process's peak RSS."""
        totals: dict[str, Any] = {"published_events": 0, "node_events": 0, "agents": 0, "process_vmhwm_kib": []}
        with self._lock:
            for process in self.processes:
                assert process.stdin is not None
                process.stdin.write(json.dumps({"op": "stats"}) + "\n")
                process.stdin.flush()
                answer = self._read(process)
                totals["published_events"] += answer["published_events"]
                totals["node_events"] += answer["node_events"]
                totals["agents"] += answer["agents"]
                totals["process_vmhwm_kib"].append(answer["vmhwm_kib"])
        return totals

    def close(self) -> None:
        for process in self.processes:
            if process.stdin is not None:
                process.stdin.close()
        reap(self.processes, 60)


def worker(kubeconfig: str, sim_workdir: str, drift_watched: int, nodes: list[str]) -> int:
    import os

    from seccomp_operator.agent.agent import AgentSettings
    from seccomp_operator.testing.simulation import Simulation, wait_until

    sim = Simulation(kubeconfig, sim_workdir)
    try:
        for i, node in enumerate(nodes):
            sim.start_agent(node, AgentSettings(drift_watch=i < drift_watched))
        wait_until(
            lambda: all(a.ready.is_set() for a in sim.agents.values()),
            timeout=120 + len(nodes) * 0.5,
            what="agents' first sync",
        )
        print(json.dumps({"ready": True}), flush=True)
        for line in sys.stdin:
            if not line.strip():
                continue
            agents = list(sim.agents.values())
            print(
                json.dumps(
                    {
                        "published_events": sum(a.published.stats.events for a in agents),
                        "node_events": sum(a.node.stats.events for a in agents),
                        "agents": len(agents),
                        "vmhwm_kib": proc_status_kib(os.getpid(), "VmHWM"),
                    }
                ),
                flush=True,
            )
    finally:
        sim.close()
    return 0


if __name__ == "__main__":
    sys.exit(worker(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]))
