"""One scenario run against a system: create P profiles, change each, delete them, measuring every phase the same way
for every system (files on disk, status, the API server's counters)."""

from __future__ import annotations

import time
from typing import Any

from bench import apiserver
from bench.disk import DiskObserver
from bench.profiles import profile_spec
from bench.systems import System, wait_for
from bench.util import load, parallel

SETTLE_SECONDS = 1.5  # after convergence, let debounced and coalesced writes land before reading the counters


def profile_names(profiles: int, run: int) -> list[str]:
    """Unique in the whole benchmark: SPO's profiles are cluster-scoped and files are matched by name."""
    return [f"p{profiles}-r{run}-{i:03d}" for i in range(profiles)]


def run_scenario(
    system: System,
    observer: DiskObserver,
    *,
    profiles: int,
    run: int,
    status_timeout: float,
    steady_seconds: float = 0.0,
    log: Any,
    between: Any = None,
    counters: Any = None,
) -> dict[str, Any]:
    """`between(namespace, names)` runs after the apply phase; `counters()` returns numbers whose change over each
    phase is recorded (the simulated agents' watch events)."""
    nodes = len(system.nodes)
    namespace = f"bench-p{profiles}-r{run}"
    system.new_namespace(namespace)
    names = profile_names(profiles, run)
    files_timeout = 120 + nodes * profiles * 0.05

    def converge(revision: int) -> Any:
        def done(t0: float) -> dict[str, Any]:
            out: dict[str, Any] = {}
            try:
                out["files_s"] = observer.wait_installed(names, revision, nodes, files_timeout) - t0
            except TimeoutError as exc:
                out["files_s"], out["files_error"] = None, str(exc)
            if system.installed_everywhere(namespace, names, revision) is None:
                out["status_s"], out["status_note"] = None, "status does not track revisions"
                return out
            try:
                installed = wait_for(
                    lambda: system.installed_everywhere(namespace, names, revision), status_timeout, "status"
                )
                out["status_s"] = installed - t0
            except TimeoutError:
                out["status_s"], out["status_error"] = None, f"not installed everywhere after {status_timeout:.0f}s"
            return out

        return done

    def removed(t0: float) -> dict[str, Any]:
        out: dict[str, Any] = {}
        try:
            out["files_s"] = observer.wait_removed(names, nodes, files_timeout) - t0
        except TimeoutError as exc:
            out["files_s"], out["files_error"] = None, str(exc)
        try:
            out["status_s"] = wait_for(lambda: system.gone(namespace, names), status_timeout, "objects gone") - t0
        except TimeoutError:
            out["status_s"], out["status_error"] = None, f"objects still there after {status_timeout:.0f}s"
        return out

    phases = [
        phase(
            system,
            "apply",
            lambda: parallel(system.create, [(namespace, n, profile_spec(i, 0)) for i, n in enumerate(names)]),
            converge(0),
            counters,
        )
    ]
    steady = measure_steady(system, steady_seconds) if steady_seconds else None
    if between is not None:
        between(namespace, names)
    phases.append(
        phase(
            system,
            "update",
            lambda: parallel(system.update, [(namespace, n, profile_spec(i, 1)) for i, n in enumerate(names)]),
            converge(1),
            counters,
        )
    )
    phases.append(
        phase(system, "delete", lambda: parallel(system.delete, [(namespace, n) for n in names]), removed, counters)
    )
    for p in phases:
        p["writes_per_node_per_change"] = p["api"]["writes"] / (nodes * profiles)
        log(
            f"    {system.name} N={nodes} P={profiles} run {run} {p['phase']}: files {_s(p['files_s'])} "
            f"status {_s(p['status_s'])} writes/node/change {p['writes_per_node_per_change']:.2f}"
        )
    return {"system": system.name, "nodes": nodes, "profiles": profiles, "run": run, "phases": phases, "steady": steady}


def _s(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}s"


def phase(system: System, name: str, act: Any, done: Any, counters: Any = None) -> dict[str, Any]:
    counted = counters() if counters else {}
    before = apiserver.snapshot(system.cp)
    own_before = dict(system.own_requests)
    load_1m = load()[0]
    t0 = time.time()
    act()
    sent = time.time() - t0
    result: dict[str, Any] = {"phase": name, "load": load_1m, **done(t0), "requests_sent_s": sent}
    result.update(system.timeline(t0))
    time.sleep(SETTLE_SECONDS)
    delta = apiserver.snapshot(system.cp).minus(before)
    own = {k: v - own_before.get(k, 0.0) for k, v in system.own_requests.items() if v - own_before.get(k, 0.0) > 0}
    result["api"] = apiserver.summary(delta, own)
    if counters:
        after = counters()
        result["counters"] = {k: v - counted[k] for k, v in after.items() if isinstance(v, int | float)}
    return result


def measure_steady(system: System, seconds: float) -> dict[str, Any]:
    """Writes per minute with nothing changing (profiles installed, no user request), leases included and apart."""
    time.sleep(5)  # the tail of the apply phase
    before = apiserver.snapshot(system.cp)
    own_before = dict(system.own_requests)
    time.sleep(seconds)
    delta = apiserver.snapshot(system.cp).minus(before)
    own = {k: v - own_before.get(k, 0.0) for k, v in system.own_requests.items() if v - own_before.get(k, 0.0) > 0}
    requests = apiserver.subtract(delta.requests, own)
    all_writes, by_resource = apiserver.writes(requests, exclude_resources=())
    reads = sum(v for k, v in requests.items() if k.split("|")[0] in ("GET", "LIST"))
    return {
        "seconds": seconds,
        "writes_per_minute": all_writes * 60 / seconds,
        "writes_by_resource_per_minute": {k: v * 60 / seconds for k, v in by_resource.items()},
        "reads_per_minute": reads * 60 / seconds,
        "apiserver_cpu_s_per_minute": delta.cpu_s.get("kube-apiserver", 0.0) * 60 / seconds,
    }
