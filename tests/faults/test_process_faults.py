"""Process faults: the leading controller and node agents die at random moments of creates, updates and deletes.

Two controller replicas share a Lease; the leader is stopped mid-rollout either cleanly (it releases the Lease) or
as a crash (the Lease is left to expire), and a new replica is started so two are always running. Agents are
stopped and restarted and must resync. Targets: no partial file, no orphaned file, no stuck deletion, no lost update.
"""

from __future__ import annotations

import random
import threading
from pathlib import Path
from typing import Any

from faults.common import FaultBook, audit_node, cluster, is_current_and_ready, spec_with_errno
from faults.conftest import LONG
from seccomp_operator.controller.operator import Controller
from seccomp_operator.testing.controlplane import ControlPlane
from seccomp_operator.testing.simulation import Simulation, wait_until

NODES = 6
ROUNDS = 30 if LONG else 4
DELETE_DEADLINE = 60.0


def _leader(sim: Simulation) -> Controller | None:
    return next((c for c in sim.controllers if c.leader.is_leader.is_set()), None)


def _kill_leader(sim: Simulation, crash: bool) -> None:
    leader = wait_until(lambda: _leader(sim), timeout=30, what="a leader")
    if crash:
        # A crash never releases the Lease: the standby must wait for it to expire.
        async def no_release() -> None:
            return None

        leader.leader.release = no_release  # type: ignore[method-assign]
    sim.stop_controller(leader)
    sim.start_controller(health_addr=None)


def test_controller_and_agent_kills_during_create_update_delete(
    fault_plane: ControlPlane, fault_ns: str, tmp_path: Path, fault_book: FaultBook
) -> None:
    rng = random.Random(8)
    with cluster(fault_plane, tmp_path, NODES, controllers=2) as cl:
        sim = cl.sim
        live: dict[str, tuple[int, int]] = {}  # name -> (errnoRet, generation)
        deleted: set[str] = set()
        kills = {"controller-clean": 0, "controller-crash": 0, "agent": 0}
        serial = 0
        lost = stale = partial = orphaned = stuck = 0
        for round_ in range(ROUNDS):
            # A batch of operations: creates, updates and deletes.
            ops: list[tuple[str, str]] = []
            for _ in range(3):
                serial += 1
                ops.append(("create", f"p{serial}"))
            for name in rng.sample(sorted(live), k=min(2, len(live))):
                ops.append(("update", name))
            for name in rng.sample(sorted(set(live) - {n for _, n in ops}), k=min(1, len(live))):
                ops.append(("delete", name))
            rng.shuffle(ops)
            kill_at = rng.randrange(len(ops) + 1)
            victims = rng.sample(cl.nodes, k=2)
            for index, (op, name) in enumerate(ops):
                if index == kill_at:
                    kind = rng.choice(["controller-clean", "controller-crash", "agent"])
                    kills[kind] += 1
                    if kind == "agent":
                        for node in victims:
                            sim.stop_agent(node)
                    else:
                        _kill_leader(sim, crash=kind == "controller-crash")
                if op == "delete":
                    cl.api.delete(fault_ns, name)
                    live.pop(name, None)
                    deleted.add(name)
                else:
                    errno_ret = 1 + round_
                    obj = cl.api.apply(fault_ns, name, cl.spec(spec_with_errno(errno_ret)))
                    live[name] = (errno_ret, obj["metadata"]["generation"])
            threading.Event().wait(rng.uniform(0.0, 0.5))  # injection timing (seeded)
            for node in cl.nodes:
                if node not in sim.agents:
                    sim.start_agent(node)
            if kill_at == len(ops):  # the kill lands after the batch, while it rolls out
                kills["agent"] += 1
                node = rng.choice(cl.nodes)
                sim.stop_agent(node)
                sim.start_agent(node)

            def done() -> bool:
                if any(cl.api.get(fault_ns, name) is not None for name in deleted):
                    return False
                return all(is_current_and_ready(cl.api.get(fault_ns, n), g) for n, (_, g) in live.items())

            try:
                wait_until(done, timeout=DELETE_DEADLINE, interval=0.2, what="convergence")
            except TimeoutError:
                pass
            stuck += sum(cl.api.get(fault_ns, name) is not None for name in deleted)
            lost += sum(not is_current_and_ready(cl.api.get(fault_ns, n), g) for n, (_, g) in live.items())
            expected: dict[str, int | None] = {f"{fault_ns}/{n}": e for n, (e, _) in live.items()}
            for node in cl.nodes:
                audit = audit_node(sim.root_of(node), expected)
                partial += len(audit.partial)
                orphaned += len(audit.orphaned)
                stale += bool(audit.stale)
            deleted.clear()
        injections = sum(kills.values())
        fault_book.record(
            "process-kill",
            injections=injections,
            lost_updates=lost,
            stale_nodes=stale,
            partial_files=partial,
            orphaned_files=orphaned,
            stuck_deletions=stuck,
            notes=f"{NODES} nodes, 2 controller replicas; kills: {kills}; each round 3 creates, 2 updates, 1 delete.",
        )
        details: dict[str, Any] = {"lost": lost, "stale": stale, "partial": partial, "orphaned": orphaned}
        assert (lost, stale, partial, orphaned, stuck) == (0, 0, 0, 0, 0), details | {"stuck": stuck}
