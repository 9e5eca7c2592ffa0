"""The scale benchmark: seccomp-operator alone, at N simulated nodes (up to 5,000), and its memory at 500 x 500.

For each N: a fresh control plane; the floor at N watch clients; the controller in its own process (webhooks on, as
deployed); N simulated node agents in ceil(N / 500) processes (`bench.fleet`), node directories on the disk file
system; then P profiles applied, changed and deleted, `runs` times (`bench.phases`). Drift repair is sampled between
apply and update. See bench/README.md for what each figure means.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import apiserver
from bench.disk import NODES_PARENT, DiskObserver
from bench.floor import measure_floor
from bench.phases import run_scenario
from bench.profiles import profile_spec
from bench.systems import OWN_GROUP, OWN_VERSION, SeccompOperator, wait_for
from bench.util import load, log, parallel, proc_status_kib, wait_until
from seccomp_operator.testing.controlplane import ControlPlane, find_binaries

DRIFT_SAMPLE_AGENTS = 8  # agents with inotify drift watching (a per-user kernel budget); the rest without
DRIFT_SAMPLES = 50
STATUS_TIMEOUT = 600.0


def start_control_plane(workdir: Path) -> ControlPlane:
    return ControlPlane(workdir=workdir / "cp", binaries_dir=find_binaries(build=False)).start()


def run_scale(node_counts: list[int], profile_counts: list[int], runs: int) -> list[dict[str, Any]]:
    """One entry per N: the floor, every run of every P, and the control plane's and controller's figures."""
    results = []
    for n in node_counts:
        workdir = Path(tempfile.mkdtemp(prefix=f"bench-scale-{n}-", dir=NODES_PARENT))
        try:
            results.append(scale_at(n, profile_counts, runs, workdir))
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    return results


def scale_at(n: int, profile_counts: list[int], runs: int, workdir: Path) -> dict[str, Any]:
    log(f"scale N={n}: control plane")
    cp = start_control_plane(workdir)
    try:
        log(f"scale N={n}: floor ({n} plain watch clients)")
        floor = measure_floor(cp, n, profile_counts, runs)
        system = SeccompOperator(cp, workdir / "seccomp-operator", nodes="simulated", drift_watched=DRIFT_SAMPLE_AGENTS)
        system.workdir.mkdir()
        system.prepare()
        observer = DiskObserver(system.nodes_dir)
        entry: dict[str, Any] = {"nodes": n, "floor": floor, "runs": []}
        try:
            started = time.monotonic()
            before = apiserver.snapshot(cp)
            system.start([f"node-{i:04d}" for i in range(n)])
            startup = apiserver.snapshot(cp).minus(before)
            entry["startup"] = {
                "seconds": time.monotonic() - started,
                "agent_processes": len(system.fleet.processes) if system.fleet else 0,
                "apiserver_cpu_s": startup.cpu_s.get("kube-apiserver", 0.0),
            }
            log(f"scale N={n}: {n} agents in {entry['startup']['agent_processes']} processes started")
            for p in profile_counts:
                for run in range(runs):
                    result = run_scenario(
                        system,
                        observer,
                        profiles=p,
                        run=run,
                        status_timeout=STATUS_TIMEOUT,
                        log=log,
                        between=lambda namespace, names: drift(system, namespace, names, entry),
                        counters=lambda: system.fleet.stats() if system.fleet else {},
                    )
                    result["controller_vmhwm_mib"] = proc_status_kib(system.controller_pid(), "VmHWM") / 1024
                    entry["runs"].append(result)
            entry["controller_vmhwm_mib"] = proc_status_kib(system.controller_pid(), "VmHWM") / 1024
            entry["apiserver_memory"] = apiserver.memory(cp)
            entry["agent_process_vmhwm_mib"] = [
                k / 1024 for k in (system.fleet.stats()["process_vmhwm_kib"] if system.fleet else [])
            ]
        finally:
            system.stop()
            observer.close()
        return entry
    finally:
        cp.stop()


def drift(system: SeccompOperator, namespace: str, names: list[str], entry: dict[str, Any]) -> None:
    """Overwrite a profile file on a drift-watched node; time until the agent has put the published bytes back."""
    watched = system.nodes[:DRIFT_SAMPLE_AGENTS]
    latencies: list[float] = []
    for i in range(DRIFT_SAMPLES):
        node, name = watched[i % len(watched)], names[i % len(names)]
        path = system.root_of(node) / "seccomp-operator" / namespace / f"{name}.json"
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        started = time.monotonic()
        path.write_bytes(b'{"defaultAction": "SCMP_ACT_ALLOW"}\n')
        deadline = started + 10
        while time.monotonic() < deadline:
            try:
                if hashlib.sha256(path.read_bytes()).hexdigest() == digest:
                    break
            except OSError:
                pass
            time.sleep(0.002)
        latencies.append(time.monotonic() - started)
        time.sleep(0.05)
    entry.setdefault("drift_s", []).extend(latencies)


# --- memory at P profiles x N nodes ------------------------------------------------------------------------------
def memory_synthetic(n_nodes: int, n_profiles: int) -> dict[str, Any]:
    """Controller peak RSS at P profiles x N nodes, webhooks on, without N agents installing P x N files.

    N Node objects and P profiles are created (through the webhook); once the controller has published them, the
    benchmark writes each node's NodeProfileReport itself (every profile Installed with the published hash, as an
    agent would: the controller cannot tell the difference) and waits until every profile is Ready on every node.
    Then one real agent process installs the P profiles on a new node: its peak RSS.
    """
    workdir = Path(tempfile.mkdtemp(prefix="bench-memory-", dir=NODES_PARENT))
    cp = start_control_plane(workdir)
    try:
        system = SeccompOperator(cp, workdir / "seccomp-operator", nodes="processes")
        system.workdir.mkdir()
        system.prepare()
        system.start_controller(webhook=True)
        nodes = [f"node-{i:04d}" for i in range(n_nodes)]
        system.create_nodes(nodes)
        namespace = "bench-memory"
        system.new_namespace(namespace)
        names = [f"memory-{i:03d}" for i in range(n_profiles)]
        load_1m = load()[0]
        t0 = time.time()
        parallel(system.create, [(namespace, name, profile_spec(i, 0)) for i, name in enumerate(names)])

        def published() -> dict[str, str] | None:
            items = system.api.list_namespaced_custom_object(
                OWN_GROUP, OWN_VERSION, namespace, "publishedseccompprofiles"
            )
            hashes = {f"{namespace}/{o['metadata']['name']}": o["spec"]["hash"] for o in items["items"]}
            return hashes if len(hashes) == n_profiles else None

        hashes = wait_until(published, timeout=900, interval=0.5, what="published revisions")
        log(f"memory: {n_profiles} profiles published in {time.time() - t0:.1f}s")
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        entries = {k: {"hash": h, "state": "Installed", "message": "", "since": since} for k, h in hashes.items()}

        def report(node: str) -> None:
            body = {
                "apiVersion": f"{OWN_GROUP}/{OWN_VERSION}",
                "kind": "NodeProfileReport",
                "metadata": {"name": node},
                "status": {"nodeName": node, "profiles": entries, "installedCount": len(entries), "failedCount": 0},
            }
            system.api.create_cluster_custom_object(OWN_GROUP, OWN_VERSION, "nodeprofilereports", body)

        t1 = time.time()
        parallel(report, [(node,) for node in nodes])
        log(f"memory: {n_nodes} reports of {n_profiles} entries written in {time.time() - t1:.1f}s")
        ready = wait_for(lambda: system.ready(namespace, names), 900, "Ready everywhere")
        time.sleep(3)
        result: dict[str, Any] = {
            "nodes": n_nodes,
            "profiles": n_profiles,
            "method": "synthetic reports",
            "webhooks": True,
            "load": load_1m,
            "reports_to_ready_s": ready - t1,
            "controller_vmhwm_mib": proc_status_kib(system.controller_pid(), "VmHWM") / 1024,
            "controller_vmrss_mib": proc_status_kib(system.controller_pid(), "VmRSS") / 1024,
        }
        log(f"memory: controller VmHWM {result['controller_vmhwm_mib']:.0f} MiB (webhooks on)")
        result.update(system.agent_memory(n_profiles))
        log(f"memory: one agent process with {n_profiles} profiles: VmHWM {result['agent_vmhwm_mib']:.0f} MiB")
        system.stop()
        return result
    finally:
        cp.stop()
        shutil.rmtree(workdir, ignore_errors=True)
