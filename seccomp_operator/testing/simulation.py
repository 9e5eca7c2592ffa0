"""The controller and many node agents in one process, against a real API server: for tests, the demo and the
benchmark. Everything runs on one asyncio loop in a background thread; the calling thread drives and observes."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import yaml

from seccomp_operator.agent.agent import AgentSettings, NodeAgent
from seccomp_operator.api import NODE_REPORTS
from seccomp_operator.controller.operator import Controller, WebhookSettings
from seccomp_operator.controller.reconciler import ControllerSettings
from seccomp_operator.kube.client import NODES, ApiError, KubeClient
from seccomp_operator.kube.config import load_config
from seccomp_operator.profile import build_manifest
from seccomp_operator.testing.controlplane import ControlPlane

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], *, timeout: float, interval: float = 0.05, what: str = "condition") -> T:
    """Poll `predicate` until it returns something truthy; raise TimeoutError naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        threading.Event().wait(interval)


class Simulation:
    def __init__(
        self,
        kubeconfig: str | Path,
        workdir: str | Path,
        *,
        agent_settings: AgentSettings | None = None,
        controller_settings: ControllerSettings | None = None,
        webhook: WebhookSettings | None = None,
        namespace: str = "seccomp-operator",
    ) -> None:
        self.config = load_config(str(kubeconfig))
        self.workdir = Path(workdir)
        self.agent_settings = agent_settings or AgentSettings()
        self.controller_settings = controller_settings or ControllerSettings(aggregation_delay_seconds=0.2)
        self.webhook = webhook
        self.namespace = namespace
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="simulation", daemon=True)
        self._thread.start()
        # One HTTP connection pool shared by all simulated agents, as separate processes would each have their own.
        self.agent_client = KubeClient(self.config, user_agent="seccomp-operator-agent", pool_size=0)
        self.admin = KubeClient(self.config, user_agent="seccomp-operator-sim")
        self.agents: dict[str, NodeAgent] = {}
        self.created_nodes: set[str] = set()
        self._agent_tasks: dict[str, asyncio.Task[None]] = {}
        self.controllers: list[Controller] = []
        self._controller_threads: list[tuple[threading.Event, threading.Thread]] = []

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    # --- nodes -----------------------------------------------------------------------------------------------
    def root_of(self, node: str) -> Path:
        return self.workdir / "nodes" / node / "var-lib-kubelet-seccomp"

    def create_node(
        self, node: str, labels: dict[str, str] | None = None, taints: list[dict[str, str]] | None = None
    ) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": node,
                "labels": {
                    "kubernetes.io/hostname": node,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    **(labels or {}),
                },
            },
            "spec": {"taints": taints or []},
        }

        async def create() -> None:
            try:
                await self.admin.create(NODES, body)
            except ApiError as exc:
                if exc.status != 409:
                    raise

        self.call(create())
        self.created_nodes.add(node)

    def delete_node(self, node: str) -> None:
        self.call(self.admin.delete(NODES, node))
        self.created_nodes.discard(node)

    async def _forget_nodes(self) -> None:
        """Delete the Nodes (and their reports) this simulation created, so later users of the same API server
        do not wait for nodes nobody runs an agent on."""
        for node in sorted(self.created_nodes):
            for resource in (NODES, NODE_REPORTS):
                try:
                    await self.admin.delete(resource, node)
                except ApiError as exc:
                    if exc.status != 404:
                        raise
        self.created_nodes.clear()

    # --- agents ----------------------------------------------------------------------------------------------
    def start_agent(self, node: str, settings: AgentSettings | None = None) -> NodeAgent:
        root = self.root_of(node)
        root.mkdir(parents=True, exist_ok=True)

        async def start() -> NodeAgent:
            agent = NodeAgent(self.agent_client, node, str(root), settings or self.agent_settings)
            self.agents[node] = agent
            self._agent_tasks[node] = asyncio.create_task(agent.run(), name=f"agent-{node}")
            return agent

        return self.call(start())

    def stop_agent(self, node: str) -> None:
        task = self._agent_tasks.pop(node, None)
        self.agents.pop(node, None)
        if task is None:
            return

        async def stop() -> None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

        self.call(stop())

    def add_nodes(self, nodes: list[str], labels: dict[str, str] | None = None) -> None:
        for node in nodes:
            self.create_node(node, labels)
            self.start_agent(node)

    # --- controller ------------------------------------------------------------------------------------------
    def start_controller(self, **kwargs: Any) -> Controller:
        """Each controller runs on its own loop and thread: kopf cancels every task of its loop when it exits."""
        controller = Controller(
            self.config,
            namespace=self.namespace,
            settings=self.controller_settings,
            webhook=self.webhook,
            lease_seconds=kwargs.pop("lease_seconds", 4),
            renew_seconds=kwargs.pop("renew_seconds", 1.0),
            **kwargs,
        )
        stop = threading.Event()
        thread = threading.Thread(
            target=lambda: asyncio.run(controller.run(stop)), name=f"controller-{len(self.controllers)}", daemon=True
        )
        self.controllers.append(controller)
        self._controller_threads.append((stop, thread))
        thread.start()
        wait_until(controller.ready.is_set, timeout=60, what="the controller to start")
        return controller

    def stop_controller(self, controller: Controller) -> None:
        index = self.controllers.index(controller)
        stop, thread = self._controller_threads.pop(index)
        self.controllers.pop(index)
        stop.set()
        thread.join(timeout=30)

    # --- lifecycle -------------------------------------------------------------------------------------------
    def close(self) -> None:
        for controller in list(self.controllers):
            self.stop_controller(controller)
        for node in list(self._agent_tasks):
            self.stop_agent(node)
        self.call(self._forget_nodes())
        self.call(self.agent_client.close())
        self.call(self.admin.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)

    def __enter__(self) -> Simulation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def apply_profile(cp: ControlPlane, namespace: str, name: str, spec: dict[str, Any]) -> None:
    """`kubectl apply` a SeccompProfile, as a platform engineer would (the webhook and CRD rules apply)."""
    manifest = build_manifest(name=name, namespace=namespace, spec=spec)
    cp.kubectl("apply", "-f", "-", input=yaml.safe_dump(manifest))
