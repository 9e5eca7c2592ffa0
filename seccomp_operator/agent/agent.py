"""The node agent: converge `<root>/<subdir>` to the published revisions that target this node, and report it.

Level-triggered: every trigger (a watch event, a relist, a drift notice, the periodic local check) only marks
profile keys dirty; one worker recomputes the desired state from the informer caches and converges the files.
Nothing is acted on before the first LIST completes, so a restart never removes a file it has not yet heard of.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from seccomp_operator.agent.desired import (
    DesiredProfile,
    PublishedContentError,
    desired_from_published,
    targets_node,
)
from seccomp_operator.agent.drift import DriftWatcher
from seccomp_operator.agent.metrics import AgentMetrics
from seccomp_operator.agent.report import ReportWriter
from seccomp_operator.agent.tree import EntryKind, ProfileTree, UnsafePathError, is_safe_component
from seccomp_operator.api import PUBLISHED_PROFILES, READINESS_TAINT, STATE_FAILED, STATE_INSTALLED
from seccomp_operator.kube.client import JSON, NODES, ApiError, KubeClient
from seccomp_operator.kube.informer import Informer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AgentSettings:
    subdir: str = "seccomp-operator"
    report_coalesce_seconds: float = 0.2
    drift_watch: bool = True
    # A local backstop for missed inotify events: re-hash every file, no API calls.
    verify_interval_seconds: float = 60.0
    watch_server_timeout: int = 300
    # Bookmarks arrive about once a minute but were seen later under load; a stream silent this long is dead.
    watch_inactivity_timeout: float = 150.0
    remove_readiness_taint: bool = False
    # Failed writes (full disk, read-only root, a planted path) are retried after 1 s, doubling up to this.
    retry_max_seconds: float = 30.0


@dataclass(frozen=True)
class Outcome:
    key: str
    action: str  # installed | repaired | removed | unchanged | failed
    hash: str = ""
    message: str = ""
    reason: str = ""


class NodeAgent:
    def __init__(
        self,
        client: KubeClient,
        node_name: str,
        root: str,
        settings: AgentSettings | None = None,
        metrics: AgentMetrics | None = None,
    ) -> None:
        self.client = client
        self.node_name = node_name
        self.settings = settings or AgentSettings()
        self.tree = ProfileTree(root, self.settings.subdir)
        self.metrics = metrics or AgentMetrics()
        self.ready = asyncio.Event()
        self.report = ReportWriter(
            client,
            node_name,
            coalesce_seconds=self.settings.report_coalesce_seconds,
            on_write=self.metrics.report_writes.inc,
            on_write_failure=self.metrics.report_write_failures.inc,
        )
        self.published = Informer(
            client,
            PUBLISHED_PROFILES,
            on_sync=self._on_published_sync,
            on_event=self._on_published_event,
            server_timeout=self.settings.watch_server_timeout,
            inactivity_timeout=self.settings.watch_inactivity_timeout,
            name=f"{node_name}/published",
        )
        self.node = Informer(
            client,
            NODES,
            on_sync=self._on_node_sync,
            on_event=self._on_node_event,
            field_selector=f"metadata.name={node_name}",
            server_timeout=self.settings.watch_server_timeout,
            inactivity_timeout=self.settings.watch_inactivity_timeout,
            name=f"{node_name}/node",
        )
        self.labels: dict[str, str] = {}
        self._pending: set[str] = set()
        self._full = True
        self._wake = asyncio.Event()
        self._retry_delays: dict[str, float] = {}  # failed profile key ("" for the scan) -> last retry delay
        self._loop: asyncio.AbstractEventLoop | None = None
        self._verified: dict[str, tuple[str, DesiredProfile | str]] = {}  # key -> (resourceVersion, result)

    # --- triggers -------------------------------------------------------------------------------------------
    def request(self, key: str | None = None) -> None:
        """Mark one profile (or, with None, everything) for reconciliation."""
        if key is None:
            self._full = True
        else:
            self._pending.add(key)
        self._wake.set()

    def _request_threadsafe(self, key: str | None) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.request, key)

    async def _on_published_sync(self, objects: dict[str, JSON]) -> None:
        self.metrics.relists.inc()
        self.request(None)

    async def _on_published_event(self, kind: str, key: str, obj: JSON) -> None:
        self.request(key)

    def _set_labels(self, node: JSON | None) -> None:
        meta = (node or {}).get("metadata") or {}
        self.report.owner_uid = meta.get("uid")
        labels = dict(meta.get("labels") or {})
        if labels != self.labels:
            self.labels = labels
            self.request(None)

    async def _on_node_sync(self, objects: dict[str, JSON]) -> None:
        self._set_labels(objects.get(self.node_name))

    async def _on_node_event(self, kind: str, key: str, obj: JSON) -> None:
        self._set_labels(None if kind == "DELETED" else obj)

    # --- reconciliation --------------------------------------------------------------------------------------
    def _desired(self, only: set[str] | None = None) -> tuple[dict[str, DesiredProfile], dict[str, str]]:
        """The desired state of every published profile, or with `only`, of those keys.

        Checking a revision's content against its hash is memoized by resourceVersion (a stored revision never
        changes), and a pass for a few dirty keys looks at only those: otherwise every watch event made every agent
        re-hash every published profile, O(P) per event and O(P^2) per rollout of P profiles.
        """
        cache = self.published.cache
        keys = list(cache) if only is None else [k for k in only if k in cache]
        desired: dict[str, DesiredProfile] = {}
        refused: dict[str, str] = {}
        for key in keys:
            obj = cache[key]
            if not targets_node(obj, self.labels):
                continue
            version = str((obj.get("metadata") or {}).get("resourceVersion") or "")
            memo = self._verified.get(key)
            if memo is not None and version and memo[0] == version:
                result = memo[1]
            else:
                try:
                    result = desired_from_published(obj)
                except (PublishedContentError, KeyError) as exc:
                    result = str(exc)
                self._verified[key] = (version, result)
            if isinstance(result, str):
                refused[key] = result
            else:
                desired[key] = result
        if only is None:  # forget revisions no longer published
            for key in set(self._verified) - set(cache):
                del self._verified[key]
        return desired, refused

    def _converge(
        self,
        desired: dict[str, DesiredProfile],
        keys: set[str],
        full: bool,
        installed: dict[str, str],
        keep: set[str],
    ) -> list[Outcome]:
        """Runs in a worker thread: blocking file I/O only, no shared mutable state."""
        outcomes: list[Outcome] = []
        if full:
            try:
                on_disk = self.tree.scan()
            except OSError as exc:
                # Still converge (and so report) every profile this node holds or should hold: each fails on its
                # own with the path, instead of the whole pass vanishing behind one unreported error.
                outcomes.append(Outcome("", "failed", message=f"cannot read {self.tree.root}: {exc}", reason="scan"))
                on_disk = {}
                keys = keys | set(installed)
            keys = keys | set(desired) | {f"{ns}/{name}" for ns, name in on_disk}
        # `keep`: profiles whose new revision was refused keep their last good file.
        for key in sorted(keys - keep):
            outcomes.append(self._converge_one(key, desired.get(key), installed.get(key)))
        return outcomes

    def _converge_one(self, key: str, want: DesiredProfile | None, installed_hash: str | None) -> Outcome:
        namespace, _, name = key.partition("/")
        if want is None and not (is_safe_component(namespace) and is_safe_component(name)):
            # A path no profile can have (say `<subtree>/.x/a.json`, reported by inotify): not ours to touch, and
            # ProfileTree would refuse it with a ValueError that, uncaught, used to end the agent's worker.
            return Outcome(key, "unchanged")
        try:
            state = self.tree.read(namespace, name)
            if want is None:
                if state.kind is EntryKind.MISSING:
                    return Outcome(key, "unchanged")
                self.tree.remove(namespace, name)
                return Outcome(key, "removed")
            if state.intact and state.sha256 == want.hash:
                return Outcome(key, "unchanged", want.hash)
            self.tree.write(namespace, name, want.content)
            # The file was ours and right before: whatever changed it on disk, this is a repair.
            action = "repaired" if installed_hash == want.hash else "installed"
            return Outcome(key, action, want.hash)
        except UnsafePathError as exc:
            return Outcome(key, "failed", want.hash if want else "", str(exc.strerror), reason="unsafe-path")
        except OSError as exc:
            reason = {28: "disk-full", 30: "read-only", 13: "permission", 1: "permission"}.get(exc.errno or 0, "io")
            # Name the path: "Read-only file system" alone does not tell an operator where to look.
            message = f"{self.tree.path_of(namespace, name)}: {exc.strerror or exc}"
            return Outcome(key, "failed", want.hash if want else "", message, reason=reason)

    def _record(self, outcome: Outcome) -> None:
        m = self.metrics
        if outcome.action == "failed":
            m.errors.labels(outcome.reason).inc()
            if outcome.key:
                self.report.set(outcome.key, outcome.hash, STATE_FAILED, outcome.message)
            log.warning("node %s: %s: %s", self.node_name, outcome.key or self.tree.root, outcome.message)
            return
        if outcome.action == "removed":
            m.removals.inc()
        elif outcome.action == "installed":
            m.installs.inc()
        elif outcome.action == "repaired":
            m.drift_repairs.inc()
            log.info("node %s: repaired %s after it changed on disk", self.node_name, outcome.key)
        if outcome.action == "removed" or (outcome.action == "unchanged" and not outcome.hash):
            self.report.drop(outcome.key)
        else:
            self.report.set(outcome.key, outcome.hash, STATE_INSTALLED)

    async def _worker(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not (self.published.synced.is_set() and self.node.synced.is_set()):
                continue  # never act on a partial picture; the first sync requests a full pass
            full, keys = self._full, self._pending
            self._full, self._pending = False, set()
            # A partial pass converges only `keys`, so it needs the desired state of only those.
            desired, refused = self._desired(None if full else keys)
            installed = {k: e.hash for k, e in self.report.entries.items() if e.state == STATE_INSTALLED}
            started = time.perf_counter()
            try:
                outcomes = await asyncio.to_thread(self._converge, desired, keys, full, installed, set(refused))
            except Exception:
                # Never let one unexpected error end the agent: count it, and try everything again shortly.
                log.exception("node %s: reconcile pass failed", self.node_name)
                self.metrics.errors.labels("internal").inc()
                asyncio.get_running_loop().call_later(self.settings.retry_max_seconds / 10, self.request, None)
                continue
            self.metrics.sync_seconds.observe(time.perf_counter() - started)
            for outcome in outcomes:
                self._record(outcome)
            self._schedule_retries(outcomes)
            for key, message in refused.items():
                self.metrics.errors.labels("bad-published-content").inc()
                self.report.set(key, "", STATE_FAILED, message)
            states = [e.state for e in self.report.entries.values()]
            self.metrics.profiles.labels(STATE_INSTALLED).set(states.count(STATE_INSTALLED))
            self.metrics.profiles.labels(STATE_FAILED).set(states.count(STATE_FAILED))
            if full and not self.ready.is_set():
                self.report.touch()
                self.ready.set()
                log.info("node %s: first full sync done (%d profiles)", self.node_name, len(desired))
                if self.settings.remove_readiness_taint:
                    await self._remove_readiness_taint()

    def _schedule_retries(self, outcomes: list[Outcome]) -> None:
        """A failed write is retried with backoff: a full disk or a read-only remount that clears up sends no
        inotify event, so without a retry the node would stay Failed until the next periodic check."""
        loop = asyncio.get_running_loop()
        for outcome in outcomes:
            if outcome.action != "failed":
                self._retry_delays.pop(outcome.key, None)
                continue
            delay = min(self.settings.retry_max_seconds, self._retry_delays.get(outcome.key, 0.5) * 2)
            self._retry_delays[outcome.key] = delay
            loop.call_later(delay, self.request, outcome.key or None)

    async def _remove_readiness_taint(self) -> None:
        for _attempt in range(5):
            try:
                node = await self.client.get(NODES, self.node_name)
            except ApiError as exc:
                log.warning("node %s: cannot read Node to remove the readiness taint: %s", self.node_name, exc)
                return
            taints: list[dict[str, Any]] = (node.get("spec") or {}).get("taints") or []
            kept = [t for t in taints if t.get("key") != READINESS_TAINT]
            if len(kept) == len(taints):
                return
            patch = [
                {
                    "op": "test",
                    "path": "/metadata/resourceVersion",
                    "value": node["metadata"]["resourceVersion"],
                },
                {"op": "replace", "path": "/spec/taints", "value": kept},
            ]
            try:
                await self.client.patch(NODES, self.node_name, patch, patch_type="json")
                log.info("node %s: removed readiness taint %s", self.node_name, READINESS_TAINT)
                return
            except ApiError as exc:
                if exc.status not in (409, 422):
                    log.warning("node %s: cannot remove readiness taint: %s", self.node_name, exc)
                    return

    async def _verify_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.settings.verify_interval_seconds)
            self.request(None)

    async def run(self) -> None:
        """Run until cancelled."""
        self._loop = asyncio.get_running_loop()
        watcher: DriftWatcher | None = None
        if self.settings.drift_watch:
            watcher = DriftWatcher(
                self.tree.root, f"{self.tree.root.rstrip('/')}/{self.tree.subdir}", self._request_threadsafe
            )
            watcher.start()
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self.published.run())
                group.create_task(self.node.run())
                group.create_task(self.report.run())
                group.create_task(self._worker())
                group.create_task(self._verify_periodically())
        finally:
            if watcher is not None:
                await asyncio.to_thread(watcher.stop)
