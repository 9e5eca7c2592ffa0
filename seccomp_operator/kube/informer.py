"""Level-triggered list + watch with a local cache.

LIST once, then WATCH from the list's resourceVersion with bookmarks. A stream that ends is resumed from the last
seen resourceVersion; a 410 Gone (the version was compacted away) triggers a full re-LIST and a full resync callback,
so consumers converge from current state rather than from remembered events. Connection errors back off with jitter.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp

from seccomp_operator.kube.client import JSON, ApiError, KubeClient, Resource

log = logging.getLogger(__name__)

SyncCallback = Callable[[dict[str, JSON]], Awaitable[None]]
EventCallback = Callable[[str, str, JSON], Awaitable[None]]


def object_key(obj: JSON) -> str:
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace")
    return f"{namespace}/{meta['name']}" if namespace else str(meta["name"])


@dataclass
class InformerStats:
    lists: int = 0
    watches: int = 0
    events: int = 0
    bookmarks: int = 0
    gone: int = 0
    errors: int = 0


class Informer:
    def __init__(
        self,
        client: KubeClient,
        resource: Resource,
        *,
        on_sync: SyncCallback,
        on_event: EventCallback,
        namespace: str | None = None,
        field_selector: str | None = None,
        label_selector: str | None = None,
        server_timeout: int = 300,
        inactivity_timeout: float = 90.0,
        max_backoff: float = 10.0,
        name: str = "",
        keep_cache: bool = True,
        page_size: int = 500,
    ) -> None:
        """`keep_cache=False` for large objects the consumer folds into its own compact state: `cache` then maps
        keys to empty dicts, `on_sync` gets those, and `on_event` gets every listed object (as ADDED) page by page,
        so at most one page of full objects is in memory."""
        self.client = client
        self.resource = resource
        self.namespace = namespace
        self.field_selector = field_selector
        self.label_selector = label_selector
        self.server_timeout = server_timeout
        self.inactivity_timeout = inactivity_timeout
        self.max_backoff = max_backoff
        self.name = name or resource.plural
        self.cache: dict[str, JSON] = {}
        self.stats = InformerStats()
        self.synced = asyncio.Event()
        self._on_sync = on_sync
        self._on_event = on_event
        self._resource_version: str | None = None
        self.keep_cache = keep_cache
        self.page_size = page_size

    async def _relist(self) -> None:
        cache: dict[str, JSON] = {}
        version = ""
        async for page in self.client.list_pages(
            self.resource,
            self.namespace,
            field_selector=self.field_selector,
            label_selector=self.label_selector,
            page_size=self.page_size,
        ):
            version = str(page["metadata"]["resourceVersion"])
            for item in page.get("items") or []:
                key = object_key(item)
                if self.keep_cache:
                    cache[key] = item
                else:
                    cache[key] = {}
                    await self._on_event("ADDED", key, item)
        self.stats.lists += 1
        self.cache = cache
        self._resource_version = version
        await self._on_sync(dict(self.cache))
        self.synced.set()

    async def _watch_once(self) -> None:
        assert self._resource_version is not None
        self.stats.watches += 1
        async for event in self.client.watch(
            self.resource,
            self._resource_version,
            self.namespace,
            field_selector=self.field_selector,
            label_selector=self.label_selector,
            server_timeout=self.server_timeout,
            inactivity_timeout=self.inactivity_timeout,
        ):
            kind, obj = str(event["type"]), event["object"]
            self._resource_version = str(obj["metadata"]["resourceVersion"])
            if kind == "BOOKMARK":
                self.stats.bookmarks += 1
                continue
            self.stats.events += 1
            key = object_key(obj)
            if kind == "DELETED":
                self.cache.pop(key, None)
            else:
                self.cache[key] = obj if self.keep_cache else {}
            await self._on_event(kind, key, obj)

    async def run(self) -> None:
        """Run until cancelled."""
        failures = 0
        while True:
            try:
                if self._resource_version is None:
                    await self._relist()
                await self._watch_once()
                failures = 0  # the server closed a healthy stream (timeoutSeconds): resume at once
            except asyncio.CancelledError:
                raise
            except ApiError as exc:
                if exc.status == 410:
                    self.stats.gone += 1
                    log.info("%s: watch expired (410 Gone), relisting", self.name)
                    self._resource_version = None
                    continue
                failures += 1
                self.stats.errors += 1
                log.warning("%s: API error %s, retrying", self.name, exc)
            except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
                failures += 1
                self.stats.errors += 1
                log.warning("%s: watch interrupted (%s: %s), reconnecting", self.name, type(exc).__name__, exc)
            delay = min(self.max_backoff, 0.2 * 2 ** min(failures, 8)) * (0.5 + random.random() / 2)
            await asyncio.sleep(delay)
