"""The floor: how fast this API server, on this machine, delivers a change to N plain watch clients.

N watch clients (`bench.watchers`, up to CLIENTS_PER_PROCESS per process) watch the ConfigMaps of one namespace and
do nothing else. The benchmark then does to P ConfigMaps, each holding one rendered profile of the profile set, what
it does to P profiles: create them in a burst, change every one, delete them. Each phase's figure is the time from
the first request until the last client has received the last event. No controller, no agent, no file: what any
node-side design pays at least, so every system's figure can be read as a multiple of it.
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from typing import Any

from bench.profiles import profile_name, profile_spec
from bench.util import REPO, parallel, reap, wait_until
from seccomp_operator.testing.controlplane import ControlPlane

CLIENTS_PER_PROCESS = 500
SENTINEL = "floor-sentinel"


class Floor:
    def __init__(self, cp: ControlPlane, clients: int, namespace: str = "bench-floor") -> None:
        from kubernetes import client

        self.cp = cp
        self.clients = clients
        self.namespace = namespace
        self.core = client.CoreV1Api(cp.api_client())
        cp.kubectl("create", "namespace", namespace, check=False)
        self.arrived: dict[tuple[str, str], list[float]] = defaultdict(list)  # (type, name) -> per process
        self._lock = threading.Lock()
        self.processes: list[subprocess.Popen[str]] = []
        remaining = clients
        for _ in range(math.ceil(clients / CLIENTS_PER_PROCESS)):
            count = min(CLIENTS_PER_PROCESS, remaining)
            remaining -= count
            process = subprocess.Popen(
                [sys.executable, "-m", "bench.watchers", str(cp.kubeconfig_path), namespace, str(count)],
                stdout=subprocess.PIPE,
                cwd=REPO,
                text=True,
            )
            self.processes.append(process)
            threading.Thread(target=self._read, args=(process,), daemon=True).start()
        # Every client is watching once each process has seen a sentinel change on all its clients.
        for attempt in range(120):
            self._write("create" if attempt == 0 else "patch", SENTINEL, {"attempt": str(attempt)})
            try:
                self._wait("ADDED" if attempt == 0 else "MODIFIED", [SENTINEL], timeout=1.0)
                break
            except TimeoutError:
                continue
        else:
            raise TimeoutError(f"{clients} watch clients did not start")
        self._write("delete", SENTINEL, {})
        self._wait("DELETED", [SENTINEL], timeout=60)

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            event = json.loads(line)
            with self._lock:
                self.arrived[(event["type"], event["name"])].append(float(event["t"]))

    def _write(self, verb: str, name: str, data: dict[str, str]) -> None:
        body = {"metadata": {"name": name}, "data": data}
        if verb == "create":
            self.core.create_namespaced_config_map(self.namespace, body)
        elif verb == "patch":
            self.core.patch_namespaced_config_map(name, self.namespace, {"data": data})
        else:
            self.core.delete_namespaced_config_map(name, self.namespace)

    def _wait(self, kind: str, names: list[str], timeout: float) -> float:
        def done() -> float | None:
            with self._lock:
                got = [self.arrived.get((kind, name), []) for name in names]
                if all(len(times) >= len(self.processes) for times in got):
                    for name in names:
                        self.arrived.pop((kind, name), None)
                    return max(max(times) for times in got)
            return None

        return wait_until(done, timeout=timeout, interval=0.01, what=f"{kind} on {self.clients} watch clients")

    def measure(self, profiles: int, revision_base: int = 0) -> dict[str, float]:
        """Seconds from the first request to the last client's last event, per phase (create, change, delete)."""
        names = [f"floor-{profile_name(i)}" for i in range(profiles)]
        timeout = 60 + self.clients * profiles * 0.01
        out: dict[str, float] = {}
        for phase, verb, kind, revision in (
            ("apply", "create", "ADDED", revision_base),
            ("update", "patch", "MODIFIED", revision_base + 1),
            ("delete", "delete", "DELETED", 0),
        ):
            data = [{"profile.json": json.dumps(profile_spec(i, revision))} for i in range(profiles)]
            started = time.time()
            parallel(self._write, [(verb, name, data[i]) for i, name in enumerate(names)])
            out[f"{phase}_s"] = self._wait(kind, names, timeout) - started
        return out

    def close(self) -> None:
        for process in self.processes:
            process.terminate()
        reap(self.processes, 10)


def measure_floor(cp: ControlPlane, clients: int, profile_counts: list[int], runs: int) -> dict[str, Any]:
    """The floor for each P at N = `clients`, median over `runs` (each run a fresh set of ConfigMaps)."""
    floor = Floor(cp, clients)
    try:
        result: dict[str, Any] = {"clients": clients, "processes": len(floor.processes), "by_profiles": {}}
        for p in profile_counts:
            samples = [floor.measure(p) for _ in range(runs)]
            result["by_profiles"][str(p)] = {
                phase: statistics.median(s[phase] for s in samples) for phase in samples[0]
            }
        return result
    finally:
        floor.close()
