"""seccomp-operator and security-profiles-operator side by side, on the same API server, with the floor.

For each node count N: one control plane (etcd + kube-apiserver, the same binaries and flags as every benchmark);
on it, in this order and one at a time: the floor (N plain watch clients), seccomp-operator (controller + N agent
processes), SPO (manager + N daemon processes). Each system gets the same Node objects, the same profile set
(`bench.profiles`), applied, changed and deleted the same way (`bench.phases`), and is stopped before the next starts.
Node files go to per-node directories on the disk file system (`bench.disk`), timed by one observer.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import apiserver
from bench.disk import NODES_PARENT, DiskObserver, nodes_dir_info
from bench.floor import measure_floor
from bench.phases import run_scenario
from bench.systems import PeerUnavailable, SeccompOperator, SecurityProfilesOperator, System, vmhwm_mib
from bench.util import REPO, log
from seccomp_operator.testing.controlplane import ControlPlane, find_binaries

STATUS_TIMEOUT = 600.0
COMMON_SETUP = [
    "one control plane per N, used in turn by the floor, seccomp-operator and SPO (each system stopped before the "
    "next starts): SPO runs second, on a warm API server whose etcd holds the first run's history",
    "node processes of both systems each in their own network, mount and PID namespaces, reaching the API server "
    "through the same two socat hops; seccomp-operator's controller runs on the host's loopback (its webhook must "
    "be reachable), SPO's manager behind the same hops as the daemons (it binds fixed ports): one hop fewer for ours",
    "all clients authenticate as cluster admin or a service account bound to cluster-admin: no RBAC or API "
    "Priority and Fairness queueing differences between the systems",
    "node files on one shared disk for all N nodes of a system (a real cluster has one disk per node)",
    "the same profile set without defaultErrnoRet (SPO's schema lacks it); SPO's profiles are cluster-scoped, "
    "seccomp-operator's namespaced: one namespace per run",
]


def find_spo() -> Path:
    """Build or find SPO (scripts/spo-binary.sh); a peer that cannot be had stops the benchmark with the reason."""
    log("peer: security-profiles-operator (scripts/spo-binary.sh builds it once, ~5 min; then cached)")
    result = subprocess.run([str(REPO / "scripts" / "spo-binary.sh")], stdout=subprocess.PIPE, text=True, check=False)
    if result.returncode != 0:
        raise PeerUnavailable(
            f"scripts/spo-binary.sh failed (exit {result.returncode}): the peer is missing. Fix it, or run "
            "`make bench ARGS='--peer none'` to measure seccomp-operator alone (the results then say so)."
        )
    return Path(result.stdout.strip().splitlines()[-1])


def run_peer(
    node_counts: list[int], profile_counts: list[int], runs: int, steady_seconds: float, spo_dir: Path
) -> dict[str, Any]:
    out: dict[str, Any] = {"floor": [], "runs": [], "memory": [], "setup": {}}
    for n in node_counts:
        workdir = Path(tempfile.mkdtemp(prefix=f"bench-peer-{n}-", dir=NODES_PARENT))
        try:
            log(f"peer N={n}: control plane")
            cp = ControlPlane(workdir=workdir / "cp", binaries_dir=find_binaries(build=False)).start()
            try:
                log(f"peer N={n}: floor ({n} plain watch clients)")
                floor = measure_floor(cp, n, profile_counts, runs)
                out["floor"].append(floor)
                systems: list[System] = [
                    SeccompOperator(cp, workdir / "seccomp-operator", nodes="processes"),
                    SecurityProfilesOperator(cp, workdir / "spo", spo_dir),
                ]
                for system in systems:
                    system.workdir.mkdir()
                    out["setup"][system.name] = system.notes()
                    out["runs"] += run_system(system, n, profile_counts, runs, steady_seconds, out["memory"])
                out["common_setup"] = COMMON_SETUP
                out.setdefault("nodes_dir", nodes_dir_info(workdir))
                out.setdefault("apiserver", []).append({"nodes": n, "memory": apiserver.memory(cp)})
            finally:
                cp.stop()
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    return out


def run_system(
    system: System, n: int, profile_counts: list[int], runs: int, steady_seconds: float, memory: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    log(f"peer N={n}: {system.name}: starting")
    started = time.monotonic()
    system.prepare()
    observer = DiskObserver(system.nodes_dir)
    results: list[dict[str, Any]] = []
    try:
        system.start([f"node-{i:04d}" for i in range(n)])
        log(f"peer N={n}: {system.name}: started in {time.monotonic() - started:.0f}s")
        for p in profile_counts:
            for run in range(runs):
                results.append(
                    run_scenario(
                        system,
                        observer,
                        profiles=p,
                        run=run,
                        status_timeout=STATUS_TIMEOUT,
                        steady_seconds=steady_seconds if run == 0 else 0.0,
                        log=log,
                    )
                )
            agents = vmhwm_mib(system.agent_pids())
            memory.append(
                {
                    "system": system.name,
                    "nodes": n,
                    "profiles_up_to": p,
                    "agent_vmhwm_mib_median": statistics.median(agents),
                    "agent_vmhwm_mib_max": max(agents),
                    "controller_vmhwm_mib": vmhwm_mib([system.controller_pid()])[0],
                }
            )
    finally:
        system.stop()
        observer.close()
    return results
