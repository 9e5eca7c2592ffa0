"""Scale benchmark: the controller (its own process) and N simulated node agents against a real API server.

See bench/README.md for what is measured and how. Entry point: `python -m bench` (bench/__main__.py).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from bench.stats import percentile
from seccomp_operator.agent.agent import AgentSettings, NodeAgent
from seccomp_operator.api import GROUP, STATE_INSTALLED, VERSION
from seccomp_operator.testing.controlplane import ControlPlane, find_binaries
from seccomp_operator.testing.net import free_port
from seccomp_operator.testing.simulation import Simulation, wait_until

REPO = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
WRITE_VERBS = ("POST", "PUT", "PATCH", "DELETE", "APPLY")
DRIFT_SAMPLE_AGENTS = 8  # agents with inotify drift watching; the rest run with drift_watch=False
MEMORY_REPORT_COALESCE_SECONDS = 2.0

# Names known to libseccomp on both x86_64 and aarch64 (no legacy x86-only calls such as open/stat).
SYSCALLS = (  # noqa: SIM905
    "read write close fstat lseek mmap mprotect munmap brk rt_sigaction rt_sigprocmask rt_sigreturn ioctl "
    "pread64 pwrite64 readv writev sched_yield mremap msync mincore madvise dup dup3 nanosleep getpid "
    "socket connect accept sendto recvfrom sendmsg recvmsg shutdown bind listen getsockname getpeername "
    "socketpair setsockopt getsockopt clone execve exit wait4 kill uname fcntl flock fsync fdatasync "
    "truncate ftruncate getcwd chdir fchdir fchmod fchown umask gettimeofday getrlimit getrusage sysinfo "
    "times getuid getgid setuid setgid geteuid getegid setpgid getppid setsid futex epoll_ctl epoll_pwait "
    "openat newfstatat unlinkat exit_group set_tid_address clock_gettime clock_nanosleep tgkill prlimit64 "
    "getrandom eventfd2 pipe2 statx"
).split()


def profile_spec(index: int, revision: int) -> dict[str, Any]:
    allowed = SYSCALLS[: len(SYSCALLS) - (index % 7) - revision]
    return {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"],
        "syscalls": [
            {"names": allowed, "action": "SCMP_ACT_ALLOW"},
            {"names": ["mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1 + revision},
        ],
    }


# --- measurements helpers ---------------------------------------------------------------------------------------
def uptime_load() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def proc_status_kib(pid: int, field_name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    return 0


Counts = dict[tuple[str, ...], float]


def scrape(cp: ControlPlane) -> tuple[Counts, Counts]:
    """(apiserver_request_total by (verb, group, resource, subresource), watch events by (group, resource))."""
    requests: Counts = defaultdict(float)
    events: Counts = defaultdict(float)
    for family in text_string_to_metric_families(cp.apiserver_metrics()):
        for sample in family.samples:
            labels = sample.labels
            if sample.name == "apiserver_request_total":
                key = (labels.get("verb", ""), labels.get("group", ""), labels.get("resource", ""))
                requests[(*key, labels.get("subresource", ""))] += sample.value
            elif sample.name == "apiserver_watch_events_total":
                events[(labels.get("group", ""), labels.get("resource", labels.get("kind", "")))] += sample.value
    return requests, events


def delta(after: Counts, before: Counts) -> Counts:
    return {k: v - before.get(k, 0.0) for k, v in after.items() if v - before.get(k, 0.0) > 0}


# --- hooks into the simulated agents ----------------------------------------------------------------------------
class Tracker:
    """Hooks every agent's ReportWriter: the report entry is set right after the file is written (or removed)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.installed: dict[str, dict[str, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
        self.removed: dict[str, dict[str, float]] = defaultdict(dict)

    def hook(self, agent: NodeAgent) -> None:
        report, node = agent.report, agent.node_name
        original_set, original_drop = report.set, report.drop

        def set_(key: str, hash_: str, state: str, message: str = "") -> None:
            if state == STATE_INSTALLED and hash_:
                with self.lock:
                    self.installed[key][hash_].setdefault(node, time.monotonic())
            original_set(key, hash_, state, message)

        def drop(key: str) -> None:
            if key in report.entries:
                with self.lock:
                    self.removed[key].setdefault(node, time.monotonic())
            original_drop(key)

        report.set = set_  # type: ignore[method-assign]
        report.drop = drop  # type: ignore[method-assign]

    def installed_everywhere(self, keys: list[str], nodes: int, exclude: dict[str, str]) -> float | None:
        """Latest install time over keys, once each key has one hash (not `exclude[key]`) on every node."""
        latest = 0.0
        with self.lock:
            for key in keys:
                done = [
                    times
                    for hash_, times in self.installed[key].items()
                    if hash_ != exclude.get(key) and len(times) >= nodes
                ]
                if not done:
                    return None
                latest = max(latest, *done[0].values())
        return latest

    def hash_of(self, key: str, exclude: str | None = None) -> str:
        with self.lock:
            return next(h for h in self.installed[key] if h != exclude)

    def removed_everywhere(self, keys: list[str], nodes: int) -> float | None:
        with self.lock:
            if any(len(self.removed[k]) < nodes for k in keys):
                return None
            return max(max(self.removed[k].values()) for k in keys)


# --- the benchmark ----------------------------------------------------------------------------------------------
def parallel(function: Any, calls: list[tuple[Any, ...]]) -> None:
    """Send the user's requests as a burst (like `kubectl apply -f dir/`), 8 at a time."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        for future in [pool.submit(function, *args) for args in calls]:
            future.result()


@dataclass
class Env:
    cp: ControlPlane
    sim: Simulation
    api: Any  # kubernetes.client.CustomObjectsApi (own connection pool: does not queue behind the agents' loop)
    controller: subprocess.Popen[bytes]
    nodes: list[str]
    tracker: Tracker
    workdir: Path
    bench_requests: Counts = field(default_factory=lambda: defaultdict(float))

    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, verb: str, resource: str) -> None:
        with self.lock:
            self.bench_requests[(verb, GROUP, resource, "")] += 1


def start_env(n_nodes: int, workdir: Path, log: Any) -> Env:
    from kubernetes import client

    cp = ControlPlane(workdir=workdir / "cp", binaries_dir=find_binaries(build=False))
    cp.start()
    cp.kubectl("apply", "--server-side", f"--filename={REPO / 'crds'}")
    for crd in ("seccompprofiles", "publishedseccompprofiles", "nodeprofilereports"):
        cp.kubectl("wait", "--for=condition=Established", f"crd/{crd}.{GROUP}", "--timeout=60s")
    cp.kubectl("create", "namespace", "seccomp-operator", check=False)
    wait_until(lambda: cp.get(f"/apis/{GROUP}/{VERSION}")[0] == 200, timeout=30, what="discovery")
    port = free_port()
    controller_log = open(workdir / "controller.log", "wb")  # noqa: SIM115 - lives as long as the process
    # BENCH_CPROFILE_CONTROLLER=FILE: run the controller under cProfile (written when it exits on SIGTERM).
    profile_out = os.environ.get("BENCH_CPROFILE_CONTROLLER")
    command = [str(REPO / ".venv" / "bin" / "seccomp-operator")]
    if profile_out:
        command = [sys.executable, "-m", "cProfile", "-o", profile_out, "-m", "seccomp_operator"]
    controller = subprocess.Popen(
        [
            *command,
            "controller",
            f"--kubeconfig={cp.kubeconfig_path}",
            "--no-webhook",
            f"--health-addr=127.0.0.1:{port}",
            "--log-format=plain",
            f"--log-level={os.environ.get('BENCH_CONTROLLER_LOG_LEVEL', 'WARNING')}",
        ],
        stdout=controller_log,
        stderr=subprocess.STDOUT,
    )

    def controller_ready() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    wait_until(controller_ready, timeout=60, what="the controller process")
    # Node roots on tmpfs: each agent fsyncs every file and directory it writes, which a real node does on its own
    # disk in parallel with every other node; 500 simulated nodes on one shared disk would measure that disk instead.
    sim_dir = Path(tempfile.mkdtemp(prefix="bench-nodes-", dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
    sim = Simulation(cp.kubeconfig_path, sim_dir)
    tracker = Tracker()
    nodes = [f"node-{i:04d}" for i in range(n_nodes)]
    started = time.monotonic()
    for i, node in enumerate(nodes):
        sim.create_node(node)
        agent = sim.start_agent(node, AgentSettings(drift_watch=i < DRIFT_SAMPLE_AGENTS))
        tracker.hook(agent)
    wait_until(lambda: all(a.ready.is_set() for a in sim.agents.values()), timeout=300, what="agents' first sync")
    log(f"  {n_nodes} agents synced in {time.monotonic() - started:.1f}s")
    api = client.CustomObjectsApi(cp.api_client())
    return Env(cp, sim, api, controller, nodes, tracker, workdir)


def stop_env(env: Env) -> None:
    env.controller.terminate()
    try:
        env.controller.wait(timeout=20)
    except subprocess.TimeoutExpired:
        env.controller.kill()
    env.sim.close()
    env.cp.stop()
    shutil.rmtree(env.sim.workdir, ignore_errors=True)


def list_profiles(env: Env, namespace: str) -> list[dict[str, Any]]:
    env.count("LIST", "seccompprofiles")
    result = env.api.list_namespaced_custom_object(GROUP, VERSION, namespace, "seccompprofiles")
    return list(result.get("items") or [])


def agent_event_totals(env: Env) -> tuple[int, int]:
    agents = list(env.sim.agents.values())
    return sum(a.published.stats.events for a in agents), sum(a.node.stats.events for a in agents)


def wait_ready(env: Env, namespace: str, keys: list[str], hashes: dict[str, str], timeout: float) -> float:
    """Poll (every 100 ms, one LIST) until every profile is Ready with the expected hash; returns the time."""

    def ready() -> float | None:
        now = time.monotonic()
        items = {f"{namespace}/{o['metadata']['name']}": o for o in list_profiles(env, namespace)}
        for key in keys:
            status = (items.get(key) or {}).get("status") or {}
            if status.get("phase") != "Ready" or status.get("hash") != hashes[key]:
                return None
        return now

    return wait_until(ready, timeout=timeout, interval=0.1, what="Ready")


def run_phase(env: Env, name: str, act: Any, done: Any, settle: float = 1.5) -> dict[str, Any]:
    """Run `act`, wait for `done`, settle, and measure API traffic and agent events over the phase."""
    requests0, events0 = scrape(env.cp)
    bench0 = dict(env.bench_requests)
    agent0 = agent_event_totals(env)
    load = uptime_load()
    t0 = time.monotonic()
    if os.environ.get("BENCH_TRACE"):
        print(f"    {name} starts at {time.time():.3f}", flush=True)
    act()
    sent = time.monotonic()
    if os.environ.get("BENCH_TRACE"):
        print(f"    {name} requests sent at {time.time():.3f}", flush=True)
    times = done(t0)
    times["requests_sent_s"] = sent - t0
    time.sleep(settle)  # let debounced status writes and coalesced reports land
    requests1, events1 = scrape(env.cp)
    agent1 = agent_event_totals(env)
    requests = delta(requests1, requests0)
    bench = delta(dict(env.bench_requests), bench0)
    for key, value in bench.items():  # the benchmark's own requests are not the operator's
        requests[key] = requests.get(key, 0.0) - value
    return {
        "phase": name,
        "load": load,
        **times,
        "requests": {"|".join(k): v for k, v in sorted(requests.items()) if v},
        "watch_events": {"|".join(k): v for k, v in sorted(delta(events1, events0).items())},
        "agent_events_published": agent1[0] - agent0[0],
        "agent_events_node": agent1[1] - agent0[1],
    }


def operator_writes(requests: dict[str, float]) -> tuple[float, dict[str, float]]:
    """Writes by the operator (controller + agents), leases excluded (time-driven, not change-driven)."""
    by_resource: dict[str, float] = defaultdict(float)
    for key, value in requests.items():
        verb, _group, resource, subresource = key.split("|")
        if verb in WRITE_VERBS and resource != "leases":
            by_resource[resource + (f"/{subresource}" if subresource else "")] += value
    return sum(by_resource.values()), dict(by_resource)


def scenario_run(env: Env, n_profiles: int, run: int, log: Any) -> dict[str, Any]:
    n_nodes = len(env.nodes)
    namespace = f"bench-p{n_profiles}-r{run}"
    env.cp.kubectl("create", "namespace", namespace)
    names = [f"profile-{i:03d}" for i in range(n_profiles)]
    keys = [f"{namespace}/{n}" for n in names]
    timeout = 120 + n_nodes * n_profiles * 0.02

    def apply(revision: int) -> None:
        parallel(apply_one, [(i, name, revision) for i, name in enumerate(names)])

    def apply_one(i: int, name: str, revision: int) -> None:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "SeccompProfile",
            "metadata": {"name": name, "namespace": namespace},
            "spec": profile_spec(i, revision),
        }
        if revision == 0:
            env.count("POST", "seccompprofiles")
            env.api.create_namespaced_custom_object(GROUP, VERSION, namespace, "seccompprofiles", body)
        else:
            env.count("PATCH", "seccompprofiles")
            env.api.patch_namespaced_custom_object(
                GROUP, VERSION, namespace, "seccompprofiles", name, {"spec": body["spec"]}
            )

    old: dict[str, str] = {}

    def converged(t0: float) -> dict[str, float]:
        files = wait_until(lambda: env.tracker.installed_everywhere(keys, n_nodes, old), timeout=timeout, what="files")
        hashes = {k: env.tracker.hash_of(k, old.get(k)) for k in keys}
        ready = wait_ready(env, namespace, keys, hashes, timeout)
        return {"files_s": files - t0, "ready_s": ready - t0}

    phases = [run_phase(env, "apply", lambda: apply(0), converged)]
    objects = count_objects(env, namespace)
    drift = drift_samples(env, keys, samples=50)
    old.update({k: env.tracker.hash_of(k) for k in keys})
    phases.append(run_phase(env, "update", lambda: apply(1), converged))

    def delete_one(name: str) -> None:
        env.count("DELETE", "seccompprofiles")
        env.api.delete_namespaced_custom_object(GROUP, VERSION, namespace, "seccompprofiles", name)

    def delete() -> None:
        parallel(delete_one, [(name,) for name in names])

    def removed(t0: float) -> dict[str, float]:
        files = wait_until(lambda: env.tracker.removed_everywhere(keys, n_nodes), timeout=timeout, what="removal")
        gone = wait_until(lambda: not list_profiles(env, namespace) and time.monotonic(), timeout=timeout, what="gone")
        return {"files_s": files - t0, "ready_s": gone - t0}

    phases.append(run_phase(env, "delete", delete, removed))
    for phase in phases:
        writes, by_resource = operator_writes(phase["requests"])
        phase["operator_writes"] = writes
        phase["operator_writes_by_resource"] = by_resource
        phase["writes_per_node_per_change"] = writes / (n_nodes * n_profiles)
        phase["agent_events_per_agent_per_change"] = phase["agent_events_published"] / (n_nodes * n_profiles)
        log(
            f"  N={n_nodes} P={n_profiles} run={run} {phase['phase']}: files {phase['files_s']:.2f}s "
            f"ready/gone {phase['ready_s']:.2f}s writes/node/change {phase['writes_per_node_per_change']:.3f} "
            f"events/agent/change {phase['agent_events_per_agent_per_change']:.2f} load {phase['load'][0]:.2f}"
        )
    return {
        "nodes": n_nodes,
        "profiles": n_profiles,
        "run": run,
        "phases": phases,
        "objects": objects,
        "drift": drift,
        "controller_vmhwm_kib": proc_status_kib(env.controller.pid, "VmHWM"),
        "controller_vmrss_kib": proc_status_kib(env.controller.pid, "VmRSS"),
    }


def count_objects(env: Env, namespace: str) -> dict[str, Any]:
    env.count("LIST", "nodeprofilereports")
    reports = env.api.list_cluster_custom_object(GROUP, VERSION, "nodeprofilereports")["items"]
    env.count("LIST", "publishedseccompprofiles")
    published = env.api.list_cluster_custom_object(GROUP, VERSION, "publishedseccompprofiles")["items"]
    profiles = list_profiles(env, namespace)
    finalizers = [len(p["metadata"].get("finalizers") or []) for p in profiles]
    return {
        "nodeprofilereports": len(reports),
        "publishedseccompprofiles": len(published),
        "seccompprofiles": len(profiles),
        "max_finalizers_per_profile": max(finalizers, default=0),
    }


def drift_samples(env: Env, keys: list[str], samples: int) -> list[float]:
    """Overwrite a profile file on a node with drift watching on; time until the agent restores it."""
    watched = env.nodes[:DRIFT_SAMPLE_AGENTS]
    latencies: list[float] = []
    for i in range(samples):
        node, key = watched[i % len(watched)], keys[i % len(keys)]
        namespace, _, name = key.partition("/")
        path = env.sim.root_of(node) / "seccomp-operator" / namespace / f"{name}.json"
        want = path.read_bytes()
        digest = hashlib.sha256(want).hexdigest()
        t0 = time.monotonic()
        path.write_bytes(b'{"defaultAction": "SCMP_ACT_ALLOW"}\n')
        deadline = t0 + 10
        while time.monotonic() < deadline:
            try:
                if hashlib.sha256(path.read_bytes()).hexdigest() == digest:
                    break
            except OSError:
                pass
            time.sleep(0.002)
        latencies.append(time.monotonic() - t0)
        time.sleep(0.05)
    return latencies


def create_memory_profiles(env: Env, namespace: str, n_profiles: int) -> None:
    """Create `profile-000`... in a burst, as `kubectl apply -f dir/` would."""

    def create(i: int) -> None:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "SeccompProfile",
            "metadata": {"name": f"profile-{i:03d}", "namespace": namespace},
            "spec": profile_spec(i, 0),
        }
        env.count("POST", "seccompprofiles")
        env.api.create_namespaced_custom_object(GROUP, VERSION, namespace, "seccompprofiles", body)

    parallel(create, [(i,) for i in range(n_profiles)])


def memory_scenario(env: Env, n_profiles: int, log: Any) -> dict[str, Any]:
    """P profiles on every node, then one real agent process (node `agent-proc`): peak RSS of both processes."""
    n_nodes = len(env.nodes)
    namespace = "bench-memory"
    # Peak memory at P x N is the point here, not rollout speed: a longer report window means fewer (O(P)-sized)
    # report patches for the API server to validate while 500 profiles arrive one by one.
    for simulated in env.sim.agents.values():
        simulated.report.coalesce_seconds = MEMORY_REPORT_COALESCE_SECONDS
    env.cp.kubectl("create", "namespace", namespace)
    keys = [f"{namespace}/profile-{i:03d}" for i in range(n_profiles)]
    load = uptime_load()
    t0 = time.monotonic()

    create_memory_profiles(env, namespace, n_profiles)
    timeout = 900.0
    files = wait_until(lambda: env.tracker.installed_everywhere(keys, n_nodes, {}), timeout=timeout, what="files")
    hashes = {k: env.tracker.hash_of(k) for k in keys}
    ready = wait_ready(env, namespace, keys, hashes, timeout)
    log(f"  memory: {n_profiles} profiles on {n_nodes} nodes: files {files - t0:.1f}s, Ready {ready - t0:.1f}s")
    result: dict[str, Any] = {
        "nodes": n_nodes,
        "profiles": n_profiles,
        "report_coalesce_seconds": MEMORY_REPORT_COALESCE_SECONDS,
        "load": load,
        "files_s": files - t0,
        "ready_s": ready - t0,
        "controller_vmhwm_kib": proc_status_kib(env.controller.pid, "VmHWM"),
        "controller_vmrss_kib": proc_status_kib(env.controller.pid, "VmRSS"),
    }
    # One real agent process with all P profiles.
    result.update(agent_process(env, n_profiles))
    # The controller now aggregates N+1 nodes; give it the time to write status, then read its peak.
    time.sleep(3)
    result["controller_vmhwm_kib"] = proc_status_kib(env.controller.pid, "VmHWM")
    result["controller_vmrss_kib"] = proc_status_kib(env.controller.pid, "VmRSS")
    log(
        f"  memory: controller VmHWM {result['controller_vmhwm_kib'] / 1024:.0f} MiB, "
        f"agent VmHWM {result['agent_vmhwm_kib'] / 1024:.0f} MiB (load {uptime_load()[0]:.2f})"
    )
    return result


def memory_synthetic(workdir: Path, n_nodes: int, n_profiles: int, log: Any) -> dict[str, Any]:
    """Controller peak RSS at P profiles x N nodes without N simulated agents installing P x N files.

    N Node objects and P profiles are created; once the controller has published them, the benchmark writes each
    node's NodeProfileReport itself (every profile Installed with the published hash, as an agent would) and waits
    until all P profiles are Ready on all N nodes. Then one real agent process installs the P profiles on a new node.
    """
    env = start_env(0, workdir, log)
    try:
        nodes = [f"node-{i:04d}" for i in range(n_nodes)]
        parallel(env.sim.create_node, [(node,) for node in nodes])
        namespace = "bench-memory"
        env.cp.kubectl("create", "namespace", namespace)
        load = uptime_load()
        t0 = time.monotonic()

        create_memory_profiles(env, namespace, n_profiles)

        def published() -> dict[str, str] | None:
            items = env.api.list_namespaced_custom_object(GROUP, VERSION, namespace, "publishedseccompprofiles")
            hashes = {f"{namespace}/{o['metadata']['name']}": o["spec"]["hash"] for o in items["items"]}
            return hashes if len(hashes) == n_profiles else None

        hashes = wait_until(published, timeout=600, interval=0.5, what="published revisions")
        log(f"  memory: {n_profiles} profiles published in {time.monotonic() - t0:.1f}s")
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        entries = {k: {"hash": h, "state": "Installed", "message": "", "since": since} for k, h in hashes.items()}

        def report(node: str) -> None:
            body = {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "NodeProfileReport",
                "metadata": {"name": node},
                "status": {"nodeName": node, "profiles": entries, "installedCount": len(entries), "failedCount": 0},
            }
            env.api.create_cluster_custom_object(GROUP, VERSION, "nodeprofilereports", body)

        t1 = time.monotonic()
        parallel(report, [(node,) for node in nodes])
        log(f"  memory: {n_nodes} reports of {n_profiles} entries written in {time.monotonic() - t1:.1f}s")
        ready = wait_ready(env, namespace, list(hashes), hashes, 900)
        result: dict[str, Any] = {
            "nodes": n_nodes,
            "profiles": n_profiles,
            "method": "synthetic reports",
            "load": load,
            "reports_to_ready_s": ready - t1,
        }
        time.sleep(3)
        result["controller_vmhwm_kib"] = proc_status_kib(env.controller.pid, "VmHWM")
        result["controller_vmrss_kib"] = proc_status_kib(env.controller.pid, "VmRSS")
        log(
            f"  memory: controller VmHWM {result['controller_vmhwm_kib'] / 1024:.0f} MiB, Ready after reports "
            f"{result['reports_to_ready_s']:.1f}s"
        )
        result.update(agent_process(env, n_profiles))
        log(f"  memory: agent VmHWM {result['agent_vmhwm_kib'] / 1024:.0f} MiB (load {uptime_load()[0]:.2f})")
        return result
    finally:
        stop_env(env)


def agent_process(env: Env, n_profiles: int) -> dict[str, Any]:
    """One real agent process (node `agent-proc`) installing all P profiles: its peak RSS."""
    env.sim.create_node("agent-proc")
    root = env.workdir / "agent-proc-root"
    root.mkdir()
    agent_log = open(env.workdir / "agent.log", "wb")  # noqa: SIM115
    agent = subprocess.Popen(
        [
            str(REPO / ".venv" / "bin" / "seccomp-operator"),
            "agent",
            "--node-name=agent-proc",
            f"--root={root}",
            f"--kubeconfig={env.cp.kubeconfig_path}",
            "--health-addr=",
            "--log-format=plain",
            "--log-level=WARNING",
        ],
        stdout=agent_log,
        stderr=subprocess.STDOUT,
    )
    started = time.monotonic()

    def agent_done() -> bool:
        try:
            report = env.api.get_cluster_custom_object(GROUP, VERSION, "nodeprofilereports", "agent-proc")
        except Exception:
            return False
        return int((report.get("status") or {}).get("installedCount") or 0) >= n_profiles

    try:
        wait_until(agent_done, timeout=300, interval=0.2, what="the agent process")
        installed = time.monotonic() - started
        time.sleep(2)
        return {
            "agent_install_s": installed,
            "agent_vmhwm_kib": proc_status_kib(agent.pid, "VmHWM"),
            "agent_vmrss_kib": proc_status_kib(agent.pid, "VmRSS"),
        }
    finally:
        agent.terminate()
        agent.wait(timeout=20)


# --- reporting --------------------------------------------------------------------------------------------------
def summarize(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    groups: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    for r in runs:
        groups[(r["nodes"], r["profiles"])].append(r)
    for (n, p), group in sorted(groups.items()):
        row: dict[str, Any] = {"nodes": n, "profiles": p, "runs": len(group)}
        for phase in ("apply", "update", "delete"):
            ph = [next(x for x in r["phases"] if x["phase"] == phase) for r in group]
            files = [x["files_s"] for x in ph]
            ready = [x["ready_s"] for x in ph]
            row[phase] = {
                "files_median_s": statistics.median(files),
                "files_max_s": max(files),
                "ready_median_s": statistics.median(ready),
                "ready_max_s": max(ready),
                "writes_per_node_per_change": statistics.median(x["writes_per_node_per_change"] for x in ph),
                "agent_events_per_agent_per_change": statistics.median(
                    x["agent_events_per_agent_per_change"] for x in ph
                ),
                "load": [x["load"][0] for x in ph],
            }
        drift = [s for r in group for s in r["drift"]]
        row["drift_p50_s"] = percentile(drift, 0.5)
        row["drift_p99_s"] = percentile(drift, 0.99)
        row["drift_samples"] = len(drift)
        row["objects"] = group[-1]["objects"]
        row["controller_vmhwm_mib"] = max(r["controller_vmhwm_kib"] for r in group) / 1024
        rows.append(row)
    return rows


def markdown(summary: list[dict[str, Any]], memory: dict[str, Any] | None, machine: dict[str, Any]) -> str:
    lines = [
        "# Scale benchmark results",
        "",
        f"Machine: {machine['cpu']}, {machine['nproc']} CPUs, {machine['mem_gib']} GiB; "
        f"generated {machine['date']}. Times in seconds from the first API request of the phase.",
        "",
        "| N | P | phase | files med | files max | Ready/gone med | Ready/gone max | writes/node/change "
        "| agent events/agent/change | load (1 min) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in summary:
        for phase in ("apply", "update", "delete"):
            ph = row[phase]
            lines.append(
                f"| {row['nodes']} | {row['profiles']} | {phase} | {ph['files_median_s']:.2f} | "
                f"{ph['files_max_s']:.2f} | {ph['ready_median_s']:.2f} | {ph['ready_max_s']:.2f} | "
                f"{ph['writes_per_node_per_change']:.3f} | {ph['agent_events_per_agent_per_change']:.2f} | "
                f"{', '.join(f'{x:.1f}' for x in ph['load'])} |"
            )
    lines += [
        "",
        "| N | P | runs | NodeProfileReports | PublishedSeccompProfiles | finalizers/profile | drift p50 | drift p99 "
        "| drift samples | controller VmHWM MiB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in summary:
        o = row["objects"]
        lines.append(
            f"| {row['nodes']} | {row['profiles']} | {row['runs']} | {o['nodeprofilereports']} | "
            f"{o['publishedseccompprofiles']} | {o['max_finalizers_per_profile']} | {row['drift_p50_s'] * 1000:.0f} ms "
            f"| {row['drift_p99_s'] * 1000:.0f} ms | {row['drift_samples']} | {row['controller_vmhwm_mib']:.0f} |"
        )
    if memory:
        if memory.get("method") == "synthetic reports":
            how = (
                f"{memory['nodes']} Node objects, {memory['profiles']} profiles published by the controller, then "
                f"{memory['nodes']} NodeProfileReports of {memory['profiles']} Installed entries written by the "
                f"benchmark; all Ready {memory['reports_to_ready_s']:.1f} s after the reports"
            )
        else:
            how = (
                f"{memory['profiles']} profiles installed by {memory['nodes']} simulated agents: files on every node "
                f"{memory['files_s']:.1f} s, Ready {memory['ready_s']:.1f} s"
            )
        lines += [
            "",
            f"Memory at {memory['profiles']} profiles x {memory['nodes']} nodes ({how}): controller peak RSS (VmHWM) "
            f"{memory['controller_vmhwm_kib'] / 1024:.0f} MiB. One agent process with {memory['profiles']} profiles: "
            f"VmHWM {memory['agent_vmhwm_kib'] / 1024:.0f} MiB (installed all in {memory['agent_install_s']:.1f} s). "
            f"Load {memory['load'][0]:.2f}.",
        ]
    return "\n".join(lines) + "\n"


def plot(summary: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for p in sorted({r["profiles"] for r in summary}):
        rows = sorted((r for r in summary if r["profiles"] == p), key=lambda r: r["nodes"])
        xs = [r["nodes"] for r in rows]
        ax.plot(xs, [r["apply"]["files_median_s"] for r in rows], marker="o", label=f"P={p}: files on every node")
        ax.plot(xs, [r["apply"]["ready_median_s"] for r in rows], marker="s", ls="--", label=f"P={p}: Ready")
    ax.set_xlabel("simulated nodes N")
    ax.set_ylabel("seconds from apply (median)")
    ax.set_xscale("log")
    ax.set_title("Convergence after applying P profiles")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def machine_info() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        "unknown",
    )
    mem = int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024
    return {
        "cpu": cpu,
        "nproc": os.cpu_count(),
        "mem_gib": round(mem, 1),
        "python": sys.version.split()[0],
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def write_results(
    out: Path, machine: dict[str, Any], results: list[dict[str, Any]], memory: dict[str, Any] | None, runs: int
) -> None:
    summary = summarize(results)
    document = {
        "machine": machine,
        "settings": {
            "drift_watch_agents": DRIFT_SAMPLE_AGENTS,
            "runs": runs,
            "controller": "separate process, default ControllerSettings (aggregation delay 0.3 s), 4 workers",
            "agents": "in-process Simulation, report_coalesce_seconds 0.2",
        },
        "summary": summary,
        "memory": memory,
        "runs": results,
    }
    (out / "scale.json").write_text(json.dumps(document, indent=1) + "\n")
    (out / "scale.md").write_text(markdown(summary, memory, machine))
    plot(summary, out / "convergence.png")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--nodes", default="10,100,500", help="comma-separated node counts")
    parser.add_argument("--profiles", default="1,50", help="comma-separated profile counts")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="smoke matrix: N=10, P=1,5, one run, no memory scenario")
    parser.add_argument(
        "--memory-profiles",
        type=int,
        default=0,
        help="after the matrix, install this many profiles on all simulated agents of the largest N and measure "
        "memory (slow: P x N files and O(P)-sized report patches); 0 = off, see --memory-synthetic",
    )
    parser.add_argument(
        "--memory-synthetic",
        default="",
        metavar="NxP",
        help="instead of the matrix: controller memory at N nodes x P profiles with benchmark-written reports",
    )
    parser.add_argument("--out", default=str(RESULTS), help="results directory")
    parser.add_argument(
        "--append", action="store_true", help="keep the runs (and memory result) already in OUT/scale.json"
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the cleanup (controller, control plane, tmpfs)
    node_counts = [int(x) for x in args.nodes.split(",")]
    profile_counts = [int(x) for x in args.profiles.split(",")]
    runs, memory_profiles = args.runs, args.memory_profiles
    if args.quick:
        node_counts, profile_counts, runs, memory_profiles = [10], [1, 5], 1, 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    def log(message: str) -> None:
        print(message, flush=True)

    machine = machine_info()
    results: list[dict[str, Any]] = []
    memory: dict[str, Any] | None = None
    if args.append and (out / "scale.json").exists():
        previous = json.loads((out / "scale.json").read_text())
        results, memory = list(previous.get("runs") or []), previous.get("memory")
    if args.memory_synthetic:
        n, p = (int(x) for x in args.memory_synthetic.lower().split("x"))
        workdir = Path(tempfile.mkdtemp(prefix="bench-memory-"))
        try:
            memory = memory_synthetic(workdir, n, p, log)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        write_results(out, machine, results, memory, runs)
        return 0
    for n in node_counts:
        workdir = Path(tempfile.mkdtemp(prefix=f"bench-scale-{n}-"))
        log(f"N={n}: starting control plane, controller and agents (load {uptime_load()})")
        env = start_env(n, workdir, log)
        try:
            for p in profile_counts:
                for run in range(runs):
                    results.append(scenario_run(env, p, run, log))
            if memory_profiles and n == max(node_counts):
                memory = memory_scenario(env, memory_profiles, log)
        finally:
            stop_env(env)
            shutil.rmtree(workdir, ignore_errors=True)
            if results:
                write_results(out, machine, results, memory, runs)  # partial results survive a later failure
    write_results(out, machine, results, memory, runs)
    log(f"wrote {out / 'scale.json'}, {out / 'scale.md'}, {out / 'convergence.png'}")
    return 0
