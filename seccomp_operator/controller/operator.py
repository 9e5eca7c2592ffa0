"""Wiring of the controller: list+watch informers feed a compact cluster state, a leader-gated work queue
reconciles profiles, kopf serves the admission webhooks.

kopf is used for its admission webhook server and login. Its change handlers would keep a diff base and progress in
annotations on the objects (kopf#1087: a large spec overflows the annotation limit and blocks deletion), its peering
freezes on equal priorities, and its watches queue every event body per object, which was the largest item in the
controller's memory at 500 profiles x 500 nodes. So the watches are the project's own paged, cache-less informers
that fold each event into `ClusterState`, and a Lease elects the active replica. Standby replicas keep warm caches
and take over as soon as the lease expires.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kopf
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from seccomp_operator.api import GROUP, NODE_REPORTS, PUBLISHED_PROFILES, SECCOMP_PROFILES, VERSION
from seccomp_operator.controller.admission import review_pod, review_profile
from seccomp_operator.controller.certs import write_self_signed
from seccomp_operator.controller.events import EventRecorder
from seccomp_operator.controller.leader import LeaderElector
from seccomp_operator.controller.metrics import ControllerMetrics
from seccomp_operator.controller.queue import WorkQueue
from seccomp_operator.controller.reconciler import ControllerSettings, Reconciler
from seccomp_operator.controller.state import JSON, ClusterState
from seccomp_operator.kube.client import NODES, KubeClient, Resource
from seccomp_operator.kube.config import ClusterConfig
from seccomp_operator.kube.informer import Informer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WebhookSettings:
    addr: str = "0.0.0.0"
    port: int = 9443
    # Name the API server uses to reach us; with `managed`, kopf writes it into the webhook configuration.
    host: str | None = None
    certfile: str | None = None
    keyfile: str | None = None
    # Name of a ValidatingWebhookConfiguration that kopf creates and keeps (development and tests). In production
    # the manifests own the configuration (with a Service reference and a cert-manager CA bundle).
    managed: str | None = None
    # Where to write a self-signed certificate when no certfile is given.
    selfsigned_dir: str | None = None


def _stub(key: str) -> JSON:
    """The least of an object that `_key` and the DELETED paths need."""
    namespace, _, name = key.rpartition("/")
    return {"metadata": {"name": name, **({"namespace": namespace} if namespace else {})}}


def _key(body: Any) -> str:
    meta = body.get("metadata") or {}
    namespace = meta.get("namespace")
    return f"{namespace}/{meta['name']}" if namespace else str(meta["name"])


class Controller:
    def __init__(
        self,
        config: ClusterConfig,
        *,
        namespace: str = "seccomp-operator",
        identity: str | None = None,
        settings: ControllerSettings | None = None,
        webhook: WebhookSettings | None = None,
        workers: int = 4,
        health_addr: str | None = None,
        lease_seconds: int = 15,
        renew_seconds: float = 5.0,
    ) -> None:
        self.config = config
        self.client = KubeClient(config, user_agent="seccomp-operator-controller")
        self.state = ClusterState()
        self.queue = WorkQueue()
        self.metrics = ControllerMetrics()
        self.settings = settings or ControllerSettings()
        self.events = EventRecorder(self.client)
        self.reconciler = Reconciler(
            self.client, self.state, self.queue, settings=self.settings, metrics=self.metrics, events=self.events
        )
        self.identity = identity or f"{socket.gethostname()}-{os.getpid()}-{id(self):x}"
        self.leader = LeaderElector(
            self.client,
            namespace,
            "seccomp-operator-controller",
            self.identity,
            lease_seconds=lease_seconds,
            renew_seconds=renew_seconds,
        )
        self.webhook = webhook
        self.workers = workers
        self.health_addr = health_addr
        self.ready = threading.Event()
        # Every watch is a paged, cache-less informer folding each event into `ClusterState`: no whole bodies are
        # held anywhere else (kopf's watches queued them per object: the largest item in the 500 x 500 memory trace).
        # Reports are the large objects (one entry per profile), so they are listed in smaller pages. Nodes too:
        # `synced` tells when the picture is complete, and a deletion must never be released before it is.
        self.profiles = self._watch(SECCOMP_PROFILES, self._on_profile, lambda: self.state.profiles, 100)
        self.published = self._watch(PUBLISHED_PROFILES, self._on_published, lambda: self.state.published, 100)
        self.reports = self._watch(NODE_REPORTS, self._on_report, lambda: self.state.reports, 50)
        self.nodes = self._watch(NODES, self._on_node, lambda: self.state.node_labels, 100)

    def _watch(
        self,
        resource: Resource,
        handle: Callable[[str | None, Any], None],
        known: Callable[[], Mapping[str, object]],
        page_size: int,
    ) -> Informer:
        """An informer feeding `handle`; after a (re)list, whatever `known` holds but the list lacks is deleted."""

        async def on_event(kind: str, key: str, obj: JSON) -> None:
            handle(kind, obj)

        async def on_sync(listed: dict[str, JSON]) -> None:
            for key in [k for k in known() if k not in listed]:
                handle("DELETED", _stub(key))

        return Informer(
            self.client,
            resource,
            on_sync=on_sync,
            on_event=on_event,
            keep_cache=False,
            page_size=page_size,
            name=resource.plural,
        )

    # --- watch event intake (runs on every replica, leader or not) ------------------------------------------
    def _on_profile(self, kind: str | None, body: Any) -> None:
        key = _key(body)
        previous_base = ((self.state.profiles.get(key) or {}).get("spec") or {}).get("baseProfileName")
        self.state.set_profile(key, None if kind == "DELETED" else dict(body))
        self.queue.add(key)
        for child in self.state.children_of(key):
            self.queue.add(child)
        # The base this profile names (before and after the change) lists it in status.referencedBy.
        current_base = ((self.state.profiles.get(key) or {}).get("spec") or {}).get("baseProfileName")
        namespace = key.partition("/")[0]
        for base in {previous_base, current_base} - {None, ""}:
            self.queue.add(f"{namespace}/{base}")

    def _on_published(self, kind: str | None, body: Any) -> None:
        key = _key(body)
        self.state.set_published(key, None if kind == "DELETED" else dict(body))
        self.queue.add(key)

    def _on_report(self, kind: str | None, body: Any) -> None:
        changed = self.state.set_report(_key(body), None if kind == "DELETED" else dict(body))
        for key in changed:
            self.queue.add(key, self.settings.aggregation_delay_seconds)

    def _on_node(self, kind: str | None, body: Any) -> None:
        if self.state.set_node(_key(body), None if kind == "DELETED" else dict(body)):
            for key in list(self.state.profiles):
                self.queue.add(key, self.settings.aggregation_delay_seconds)

    def build_registry(self) -> kopf.OperatorRegistry:
        registry = kopf.OperatorRegistry()
        controller = self

        @kopf.on.login(registry=registry)
        def login(**_: Any) -> kopf.ConnectionInfo:
            cfg = controller.config
            token = None
            if cfg.token_file is not None:
                token = cfg.token_file.read_text().strip()
            elif "Authorization" in cfg.headers:
                token = cfg.headers["Authorization"].removeprefix("Bearer ")
            return kopf.ConnectionInfo(
                server=cfg.server,
                ca_path=cfg.ca_file,
                insecure=cfg.ssl_context is False,
                certificate_path=cfg.cert_file,
                private_key_path=cfg.key_file,
                token=token,
            )

        if self.webhook is not None:

            @kopf.on.validate(
                GROUP,
                VERSION,
                "seccompprofiles",
                id="validate-profile",
                operations=["CREATE", "UPDATE"],
                registry=registry,
            )
            def validate_profile(body: Any, warnings: list[str], **kwargs: Any) -> None:
                old = kwargs.get("old")
                refusal, found = review_profile(dict(body), dict(old) if old else None, controller.state.profiles)
                warnings.extend(found)
                if refusal:
                    raise kopf.AdmissionError(refusal, code=422)

            @kopf.on.validate(
                "v1", "pods", id="warn-pod-profile", operations=["CREATE"], ignore_failures=True, registry=registry
            )
            def warn_pod(body: Any, warnings: list[str], **_: Any) -> None:
                warnings.extend(review_pod(dict(body), controller.state.profiles))

        return registry

    def _settings(self) -> kopf.OperatorSettings:
        settings = kopf.OperatorSettings()
        settings.scanning.disabled = True
        settings.posting.enabled = False
        if self.webhook is not None:
            certfile, keyfile = self.webhook.certfile, self.webhook.keyfile
            host = self.webhook.host or "127.0.0.1"
            if certfile is None:
                directory = Path(self.webhook.selfsigned_dir or "/tmp/seccomp-operator-webhook")
                cert_path, key_path = write_self_signed(directory, [host, "localhost", "127.0.0.1"])
                certfile, keyfile = str(cert_path), str(key_path)
            settings.admission.server = kopf.WebhookServer(
                addr=self.webhook.addr,
                port=self.webhook.port,
                host=host,
                certfile=certfile,
                pkeyfile=keyfile,
                cafile=certfile,
            )
            if self.webhook.managed:
                settings.admission.managed = self.webhook.managed
        return settings

    # --- reconciliation (leader only) ------------------------------------------------------------------------
    def _update_phase_gauge(self) -> None:
        counts: dict[str, int] = {}
        for obj in self.state.profiles.values():
            phase = (obj.get("status") or {}).get("phase") or "Pending"
            counts[phase] = counts.get(phase, 0) + 1
        for phase in ("Pending", "Installing", "Ready", "Degraded", "Invalid", "Terminating"):
            self.metrics.profiles.labels(phase).set(counts.get(phase, 0))

    async def _worker(self) -> None:
        while True:
            key = await self.queue.get()
            await self.leader.is_leader.wait()
            # Status and deletion decisions need every node and every report: never act on a partial picture.
            for informer in (self.profiles, self.published, self.reports, self.nodes):
                await informer.synced.wait()
            try:
                await self.reconciler.reconcile(key)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.metrics.reconcile_errors.inc()
                log.warning("reconcile %s failed, will retry: %s", key, exc)
                self.queue.done(key, failed=True)
            else:
                self.queue.done(key)
                self._update_phase_gauge()

    async def _track_leadership(self) -> None:
        while True:
            await self.leader.is_leader.wait()
            self.metrics.leader.set(1)
            for key in list(self.state.profiles):  # anything may have changed while we were standby
                self.queue.add(key)
            await self.leader.is_follower.wait()
            self.metrics.leader.set(0)

    async def _serve_health(self) -> web.AppRunner | None:
        if not self.health_addr:
            return None

        async def healthz(_: web.Request) -> web.Response:
            return web.Response(text="ok\n")

        async def readyz(_: web.Request) -> web.Response:
            return web.Response(text="ready\n") if self.ready.is_set() else web.Response(status=503, text="starting\n")

        async def metrics(_: web.Request) -> web.Response:
            return web.Response(
                body=generate_latest(self.metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
            )

        app = web.Application()
        app.router.add_get("/healthz", healthz)
        app.router.add_get("/readyz", readyz)
        app.router.add_get("/metrics", metrics)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        host, _, port = self.health_addr.rpartition(":")
        await web.TCPSite(runner, host or "0.0.0.0", int(port)).start()
        return runner

    async def run(self, stop_flag: asyncio.Event | threading.Event | None = None) -> None:
        runner = await self._serve_health()
        background = [
            asyncio.create_task(self.leader.run(), name="leader"),
            asyncio.create_task(self._track_leadership(), name="leadership"),
            asyncio.create_task(self.profiles.run(), name="profiles"),
            asyncio.create_task(self.published.run(), name="published"),
            asyncio.create_task(self.reports.run(), name="reports"),
            asyncio.create_task(self.nodes.run(), name="nodes"),
            *(asyncio.create_task(self._worker(), name=f"worker-{i}") for i in range(self.workers)),
        ]
        try:
            await kopf.operator(
                registry=self.build_registry(),
                settings=self._settings(),
                standalone=True,
                clusterwide=True,
                stop_flag=stop_flag,
                ready_flag=self.ready,
            )
        finally:
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            await self.leader.release()
            if runner is not None:
                await runner.cleanup()
            await self.client.close()
