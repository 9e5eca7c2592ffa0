"""Control-plane faults in the middle of a rollout to many nodes: kube-apiserver crash, etcd crash, and watches
that expire (etcd compacted past every watcher's resourceVersion, then the API server restarted, so every resume
answers 410 Gone). Afterwards every node holds the latest revision and status says so."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import threading
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from faults.common import (
    Cluster,
    FaultBook,
    audit_node,
    cluster,
    errno_on_disk,
    is_current_and_ready,
    spec_with_errno,
)
from faults.conftest import LONG
from seccomp_operator.testing.controlplane import ControlPlane
from seccomp_operator.testing.simulation import wait_until

NODES = 20
PROFILES = 3
ROUNDS = 20 if LONG else 2


def etcd_compact(cp: ControlPlane) -> int:
    """Compacts etcd at its current revision through the gRPC gateway (plain HTTP on loopback here)."""

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            cp.etcd_url + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return dict(json.loads(response.read()))

    header = post("/v3/kv/range", {"key": base64.b64encode(b"/").decode(), "limit": 1})["header"]
    revision = int(header["revision"])
    post("/v3/kv/compaction", {"revision": revision, "physical": True})
    return revision


def converged(cl: Cluster, namespace: str, want: dict[str, tuple[int, int]]) -> tuple[list[str], list[str]]:
    """(profiles whose latest revision is not Ready with a matching status, nodes not holding it)."""
    lost, stale = [], []
    for name, (_errno_ret, generation) in want.items():
        obj = cl.api.get(namespace, name)
        status = (obj or {}).get("status") or {}
        summary = status.get("summary") or {}
        if not (is_current_and_ready(obj, generation) and summary.get("installed") == summary.get("targeted") == NODES):
            lost.append(name)
    for node in cl.nodes:
        if any(errno_on_disk(cl.file(node, namespace, name)) != e for name, (e, _) in want.items()):
            stale.append(node)
    return lost, stale


@pytest.mark.parametrize("fault", ["apiserver-crash", "etcd-crash", "watch-expired-410"])
def test_rollout_survives_control_plane_fault(
    fault: str, fault_plane: ControlPlane, fault_ns: str, tmp_path: Path, fault_book: FaultBook
) -> None:
    rng = random.Random(f"{fault}-8")
    cp = fault_plane
    with cluster(cp, tmp_path, NODES) as cl:
        want: dict[str, tuple[int, int]] = {}
        for i in range(PROFILES):
            obj = cl.api.apply(fault_ns, f"p{i}", cl.spec(spec_with_errno(1)))
            want[f"p{i}"] = (1, obj["metadata"]["generation"])
        wait_until(lambda: converged(cl, fault_ns, want) == ([], []), timeout=60, what="the first rollout")
        gone_before = sum(a.published.stats.gone + a.node.stats.gone for a in cl.sim.agents.values())
        lost_total, stale_total, partial, orphaned = 0, 0, 0, 0
        for round_ in range(ROUNDS):
            # An update per profile, then the fault while agents are still installing and reporting it.
            for i in range(PROFILES):
                errno_ret = 2 + round_ * 2
                obj = cl.api.apply(fault_ns, f"p{i}", cl.spec(spec_with_errno(errno_ret)))
                want[f"p{i}"] = (errno_ret, obj["metadata"]["generation"])
            threading.Event().wait(rng.uniform(0.0, 0.3))  # injection timing (seeded), not a wait for a state
            if fault == "apiserver-crash":
                cp.restart_apiserver(stop_timeout=0)
            elif fault == "etcd-crash":
                cp.restart_etcd(stop_timeout=0)
            else:
                etcd_compact(cp)
                cp.restart_apiserver(stop_timeout=0)
            # A second update right after recovery must not be lost behind the first.
            victim = f"p{rng.randrange(PROFILES)}"
            obj = cl.api.apply(fault_ns, victim, cl.spec(spec_with_errno(3 + round_ * 2)))
            want[victim] = (3 + round_ * 2, obj["metadata"]["generation"])
            try:
                wait_until(lambda: converged(cl, fault_ns, want) == ([], []), timeout=90, what="convergence")
            except TimeoutError:
                pass
            lost, stale = converged(cl, fault_ns, want)
            lost_total += len(lost)
            stale_total += len(stale)
            expected = {f"{fault_ns}/{name}": e for name, (e, _) in want.items()}
            for node in cl.nodes:
                audit = audit_node(cl.sim.root_of(node), expected)
                partial += len(audit.partial)
                orphaned += len(audit.orphaned)
            # Status hash equals what is on every node.
            for name in want:
                status = (cl.api.get(fault_ns, name) or {}).get("status") or {}
                for node in cl.nodes:
                    digest = hashlib.sha256(cl.file(node, fault_ns, name).read_bytes()).hexdigest()
                    if digest != status.get("hash"):
                        stale_total += 1
        gone = sum(a.published.stats.gone + a.node.stats.gone for a in cl.sim.agents.values()) - gone_before
        notes = (
            f"{NODES} nodes, {PROFILES} profiles updated then the fault (seeded delay 0-0.3 s), one more update after."
        )
        if fault == "watch-expired-410":
            notes += f" Agent watches answered 410 Gone and relisted {gone} times."
        fault_book.record(
            fault,
            injections=ROUNDS,
            lost_updates=lost_total,
            stale_nodes=stale_total,
            partial_files=partial,
            orphaned_files=orphaned,
            notes=notes,
        )
        assert (lost_total, stale_total, partial, orphaned) == (0, 0, 0, 0)
        if fault == "watch-expired-410":
            assert gone >= NODES, "the compaction did not expire the agents' watches"
