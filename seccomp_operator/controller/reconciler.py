"""One reconcile of one SeccompProfile: validate, publish, aggregate node reports into status, delete safely.

Idempotent and level-triggered: it reads the current cached state and writes only what differs (the published
revision by hash, the status by value), so reconciling twice costs no writes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from seccomp_operator.agent.desired import selector_matches
from seccomp_operator.api import API_VERSION, FIELD_MANAGER_CONTROLLER, FINALIZER, PUBLISHED_PROFILES, SECCOMP_PROFILES
from seccomp_operator.controller.events import EventRecorder
from seccomp_operator.controller.metrics import ControllerMetrics
from seccomp_operator.controller.queue import WorkQueue
from seccomp_operator.controller.resolve import MAX_BASE_DEPTH, Resolution, resolve
from seccomp_operator.controller.state import JSON, ClusterState
from seccomp_operator.controller.status import Validity, compute_status
from seccomp_operator.kube.client import PODS, ApiError, KubeClient
from seccomp_operator.profile import localhost_profile

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ControllerSettings:
    # Coalesce report events of a rollout into few status writes.
    aggregation_delay_seconds: float = 0.3
    # Keep a profile that running Pods still reference until they are gone.
    block_deletion_on_pods: bool = True
    pod_recheck_seconds: float = 10.0
    # A node whose agent never confirms removal stops blocking deletion after this long (with a Warning Event).
    deletion_timeout_seconds: float = 300.0


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_ts(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def pod_references(pod: JSON, path: str) -> bool:
    spec = pod.get("spec") or {}
    contexts = [spec.get("securityContext") or {}]
    for group in ("containers", "initContainers", "ephemeralContainers"):
        contexts.extend((c.get("securityContext") or {}) for c in spec.get(group) or [])
    for ctx in contexts:
        profile = ctx.get("seccompProfile") or {}
        if profile.get("type") == "Localhost" and profile.get("localhostProfile") == path:
            return True
    return False


class Reconciler:
    def __init__(
        self,
        client: KubeClient,
        state: ClusterState,
        queue: WorkQueue,
        *,
        settings: ControllerSettings,
        metrics: ControllerMetrics,
        events: EventRecorder,
    ) -> None:
        self.client = client
        self.state = state
        self.queue = queue
        self.settings = settings
        self.metrics = metrics
        self.events = events
        # key -> (signature of the spec chain, resolution): validation compiles BPF, so it runs only when a spec in
        # the chain changed, not on every status event.
        self.resolutions: dict[str, tuple[tuple[Any, ...], Resolution]] = {}
        # One validation thread: validations are CPU-bound (no gain from more on two cores) and every extra thread
        # that allocates gets its own malloc arena, which showed in the controller's resident memory.
        self._validator = ThreadPoolExecutor(max_workers=1, thread_name_prefix="validate")

    def _chain_signature(self, key: str) -> tuple[Any, ...]:
        namespace = key.partition("/")[0]
        signature: list[Any] = []
        current: str | None = key
        while current is not None and len(signature) <= MAX_BASE_DEPTH + 1:
            obj = self.state.profiles.get(current)
            if obj is None:
                signature.append((current, None, None))
                break
            meta = obj["metadata"]
            signature.append((current, meta.get("uid"), meta.get("generation")))
            base = (obj.get("spec") or {}).get("baseProfileName")
            current = f"{namespace}/{base}" if base and all(s[0] != f"{namespace}/{base}" for s in signature) else None
        return tuple(signature)

    async def _resolve(self, key: str) -> tuple[Resolution, Resolution | None]:
        """(current resolution, the previous one or None)."""
        signature = self._chain_signature(key)
        cached = self.resolutions.get(key)
        if cached is not None and cached[0] == signature:
            return cached[1], cached[1]
        # Validation compiles BPF with libseccomp (milliseconds, up to seconds for huge profiles): off the event
        # loop, over a snapshot of the chain so watch events can keep arriving meanwhile.
        chain = {member: self.state.profiles[member] for member, uid, _ in signature if uid is not None}
        loop = asyncio.get_running_loop()
        resolution = await loop.run_in_executor(self._validator, resolve, key, chain)
        self.resolutions[key] = (signature, resolution)
        return resolution, cached[1] if cached else None

    # --- entry point ------------------------------------------------------------------------------------------
    async def reconcile(self, key: str) -> None:
        obj = self.state.profiles.get(key)
        if obj is None:
            await self._delete_published(key)
            self.resolutions.pop(key, None)
            return
        if obj["metadata"].get("deletionTimestamp"):
            await self._finalize(key, obj)
            return
        if FINALIZER not in (obj["metadata"].get("finalizers") or []):
            obj = await self._add_finalizer(key, obj)
        resolution, previous = await self._resolve(key)
        if resolution.ok:
            assert resolution.rendered is not None
            await self._publish(key, obj, resolution)
        elif previous is None or previous.ok or previous.message != resolution.message:
            self.metrics.validation_failures.inc()
            kept = " The last valid revision stays installed." if key in self.state.published else ""
            await self.events.emit(obj, "Warning", "Invalid", resolution.message + kept)
        await self._write_status(key, obj, resolution)

    # --- publishing ------------------------------------------------------------------------------------------
    async def _publish(self, key: str, obj: JSON, resolution: Resolution) -> None:
        assert resolution.rendered is not None
        namespace, _, name = key.partition("/")
        spec: dict[str, Any] = {
            "localhostProfile": localhost_profile(namespace, name),
            "hash": resolution.rendered.sha256,
            "content": resolution.rendered.content,
            "nodeSelector": dict((obj.get("spec") or {}).get("nodeSelector") or {}),
            "sourceGeneration": int(obj["metadata"].get("generation") or 0),
        }
        current = self.state.published.get(key)
        if current is not None:
            have = current.get("spec") or {}
            if have.get("hash") == spec["hash"] and (have.get("nodeSelector") or {}) == spec["nodeSelector"]:
                return
        body = {
            "apiVersion": API_VERSION,
            "kind": "PublishedSeccompProfile",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "ownerReferences": [
                    {
                        "apiVersion": API_VERSION,
                        "kind": "SeccompProfile",
                        "name": name,
                        "uid": obj["metadata"]["uid"],
                        "controller": True,
                        "blockOwnerDeletion": False,
                    }
                ],
            },
            "spec": spec,
        }
        # Server-side apply: one request whether the object exists or not.
        written = await self.client.patch(
            PUBLISHED_PROFILES,
            name,
            body,
            namespace,
            patch_type="apply",
            field_manager=FIELD_MANAGER_CONTROLLER,
            force=True,
        )
        self.state.set_published(key, written)
        self.metrics.publishes.inc()
        log.info("published %s hash %s", key, spec["hash"][:12])
        await self.events.emit(obj, "Normal", "Published", f"published revision with hash {spec['hash'][:12]}")
        for child in self.state.children_of(key):
            self.queue.add(child)

    async def _delete_published(self, key: str) -> None:
        if key not in self.state.published:
            return
        namespace, _, name = key.partition("/")
        try:
            await self.client.delete(PUBLISHED_PROFILES, name, namespace)
        except ApiError as exc:
            if exc.status != 404:
                raise
        self.state.set_published(key, None)

    # --- status ----------------------------------------------------------------------------------------------
    def targeted_nodes(self, key: str, obj: JSON) -> list[str]:
        published = self.state.published.get(key)
        selector = ((published or obj).get("spec") or {}).get("nodeSelector") or {}
        return sorted(n for n, labels in self.state.node_labels.items() if selector_matches(selector, labels))

    async def _write_status(
        self, key: str, obj: JSON, resolution: Resolution | None, terminating_message: str = ""
    ) -> None:
        started = time.perf_counter()
        namespace, _, name = key.partition("/")
        published = self.state.published.get(key)
        published_hash = str(((published or {}).get("spec") or {}).get("hash") or "")
        if resolution is None:
            validity = Validity(True, "Deleting", "profile is being deleted")
        else:
            validity = Validity(resolution.ok, resolution.reason, resolution.message)
        previous = obj.get("status") or {}
        status = compute_status(
            generation=int(obj["metadata"].get("generation") or 0),
            validity=validity,
            published_hash=published_hash,
            localhost_profile=localhost_profile(namespace, name),
            targeted=self.targeted_nodes(key, obj),
            reports=self.state.reports,
            key=key,
            previous=previous,
            now=_now(),
            terminating=resolution is None,
            terminating_message=terminating_message,
            referenced_by=[child.partition("/")[2] for child in self.state.children_of(key)],
        )
        if status == previous:
            return
        patch: dict[str, Any] = {"status": {**{k: None for k in previous if k not in status}, **status}}
        try:
            written = await self.client.patch(SECCOMP_PROFILES, name, patch, namespace, subresource="status")
        except ApiError as exc:
            if exc.status == 404:
                return
            raise
        self.metrics.status_writes.inc()
        self.metrics.aggregation_seconds.observe(time.perf_counter() - started)
        # Keep the cache current so the next reconcile compares against what we wrote.
        if key in self.state.profiles:
            self.state.set_profile(key, written)
        if previous.get("phase") != status["phase"]:
            kind = "Warning" if status["phase"] in ("Degraded", "Invalid") else "Normal"
            summary = status["summary"]
            await self.events.emit(
                obj,
                kind,
                status["phase"],
                f"phase {status['phase']}: installed on {summary['installed']}/{summary['targeted']} nodes",
            )

    # --- finalizer -------------------------------------------------------------------------------------------
    async def _add_finalizer(self, key: str, obj: JSON) -> JSON:
        namespace, _, name = key.partition("/")
        finalizers = list(obj["metadata"].get("finalizers") or [])
        patch = [
            {"op": "test", "path": "/metadata/resourceVersion", "value": obj["metadata"]["resourceVersion"]},
            {"op": "add", "path": "/metadata/finalizers", "value": [*finalizers, FINALIZER]},
        ]
        written = await self.client.patch(SECCOMP_PROFILES, name, patch, namespace, patch_type="json")
        self.state.set_profile(key, written)
        return self.state.profiles[key]

    async def _remove_finalizer(self, key: str, obj: JSON) -> None:
        namespace, _, name = key.partition("/")
        finalizers = list(obj["metadata"].get("finalizers") or [])
        if FINALIZER not in finalizers:
            return
        patch = [
            {"op": "test", "path": "/metadata/resourceVersion", "value": obj["metadata"]["resourceVersion"]},
            {"op": "replace", "path": "/metadata/finalizers", "value": [f for f in finalizers if f != FINALIZER]},
        ]
        try:
            await self.client.patch(SECCOMP_PROFILES, name, patch, namespace, patch_type="json")
        except ApiError as exc:
            if exc.status != 404:
                raise

    async def _referencing_pods(self, key: str) -> list[str]:
        namespace, _, name = key.partition("/")
        path = localhost_profile(namespace, name)
        pods = await self.client.list(PODS)
        return sorted(
            f"{p['metadata']['namespace']}/{p['metadata']['name']}"
            for p in pods.get("items") or []
            if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed") and pod_references(p, path)
        )

    async def _finalize(self, key: str, obj: JSON) -> None:
        if FINALIZER not in (obj["metadata"].get("finalizers") or []):
            return
        if self.settings.block_deletion_on_pods:
            pods = await self._referencing_pods(key)
            if pods:
                shown = ", ".join(pods[:10]) + (f" and {len(pods) - 10} more" if len(pods) > 10 else "")
                message = f"waiting for {len(pods)} pods that use this profile to go away: {shown}"
                if (obj.get("status") or {}).get("conditions") is None or not any(
                    c.get("type") == "Terminating" and c.get("message") == message
                    for c in (obj.get("status") or {}).get("conditions") or []
                ):
                    await self.events.emit(obj, "Warning", "InUse", message)
                await self._write_status(key, obj, None, message)
                self.queue.add(key, self.settings.pod_recheck_seconds)
                return
        await self._delete_published(key)
        holders = sorted(
            node for node, entries in self.state.reports.items() if key in entries and node in self.state.node_labels
        )
        if holders:
            age = time.time() - _parse_ts(obj["metadata"]["deletionTimestamp"])
            if age < self.settings.deletion_timeout_seconds:
                shown = ", ".join(holders[:10]) + (f" and {len(holders) - 10} more" if len(holders) > 10 else "")
                await self._write_status(
                    key, obj, None, f"waiting for {len(holders)} nodes to remove the file: {shown}"
                )
                self.queue.add(key, self.settings.deletion_timeout_seconds - age + 0.5)
                return
            await self.events.emit(
                obj,
                "Warning",
                "RemovalUnconfirmed",
                f"released after {int(age)}s although {len(holders)} nodes never confirmed removal: "
                + ", ".join(holders[:10]),
            )
        await self._remove_finalizer(key, obj)
        log.info("released %s: files removed from every node", key)
