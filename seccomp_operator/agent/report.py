"""This node's NodeProfileReport: the only object the agent writes.

Changes are coalesced over a short window and sent as one merge patch holding only what changed, so a burst of
installs costs one write, and nothing is written when nothing changed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from seccomp_operator.api import API_VERSION, FIELD_MANAGER_AGENT, NODE_REPORTS, STATE_FAILED, STATE_INSTALLED
from seccomp_operator.kube.client import ApiError, KubeClient

log = logging.getLogger(__name__)


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Entry:
    hash: str
    state: str
    message: str
    since: str

    def as_json(self) -> dict[str, str]:
        return {"hash": self.hash, "state": self.state, "message": self.message, "since": self.since}

    def same_as(self, other: Entry | None) -> bool:
        return other is not None and (self.hash, self.state, self.message) == (
            other.hash,
            other.state,
            other.message,
        )


class ReportWriter:
    def __init__(
        self,
        client: KubeClient,
        node_name: str,
        *,
        coalesce_seconds: float = 0.2,
        on_write: Callable[[], None] | None = None,
        on_write_failure: Callable[[], None] | None = None,
    ) -> None:
        self.client = client
        self.node_name = node_name
        self.coalesce_seconds = coalesce_seconds
        self.entries: dict[str, Entry] = {}
        self._sent: dict[str, Entry] | None = None  # None: the server copy is unknown (start, or it vanished)
        self._dirty = asyncio.Event()
        self._on_write = on_write or (lambda: None)
        self._on_write_failure = on_write_failure or (lambda: None)
        # The Node's uid, once known: the report is created owned by its Node, so the garbage collector removes it
        # with the Node and reports never outlive the nodes they describe.
        self.owner_uid: str | None = None

    def set(self, key: str, hash_: str, state: str, message: str = "") -> None:
        old = self.entries.get(key)
        candidate = Entry(hash_, state, message, "")
        if candidate.same_as(old):
            return
        self.entries[key] = Entry(hash_, state, message, utc_now())
        self._dirty.set()

    def drop(self, key: str) -> None:
        if self.entries.pop(key, None) is not None:
            self._dirty.set()

    def touch(self) -> None:
        """Make sure the report exists even with nothing installed: an idle agent must differ from a missing one."""
        if self._sent is None:
            self._dirty.set()

    @staticmethod
    def _counts(entries: dict[str, Entry]) -> dict[str, int]:
        # Counted from the snapshot being sent, not from `self.entries`, which may change during an await.
        states = [e.state for e in entries.values()]
        return {"installedCount": states.count(STATE_INSTALLED), "failedCount": states.count(STATE_FAILED)}

    def _owner(self) -> dict[str, Any]:
        if not self.owner_uid:
            return {}
        ref = {"apiVersion": "v1", "kind": "Node", "name": self.node_name, "uid": self.owner_uid}
        return {"ownerReferences": [ref]}

    async def _write(self) -> bool:
        snapshot = dict(self.entries)
        if self._sent is None:
            try:
                current = await self.client.get(NODE_REPORTS, self.node_name)
            except ApiError as exc:
                if exc.status != 404:
                    raise
                body = {
                    "apiVersion": API_VERSION,
                    "kind": "NodeProfileReport",
                    "metadata": {"name": self.node_name, **self._owner()},
                    "status": {
                        "nodeName": self.node_name,
                        "profiles": {k: e.as_json() for k, e in snapshot.items()},
                        **self._counts(snapshot),
                    },
                }
                await self.client.create(NODE_REPORTS, body)
                self._sent = snapshot
                return True
            server = ((current.get("status") or {}).get("profiles")) or {}
            self._sent = {
                k: Entry(
                    str(v.get("hash", "")),
                    str(v.get("state", "")),
                    str(v.get("message", "")),
                    str(v.get("since", "")),
                )
                for k, v in server.items()
            }
        changes: dict[str, Any] = {k: e.as_json() for k, e in snapshot.items() if not e.same_as(self._sent.get(k))}
        changes.update({k: None for k in self._sent if k not in snapshot})
        if not changes:
            return False
        patch = {"status": {"nodeName": self.node_name, "profiles": changes, **self._counts(snapshot)}}
        try:
            await self.client.patch(NODE_REPORTS, self.node_name, patch, field_manager=FIELD_MANAGER_AGENT)
        except ApiError as exc:
            if exc.status == 404:
                self._sent = None  # someone deleted the report: recreate it whole
            raise
        self._sent = snapshot
        return True

    async def run(self) -> None:
        failures = 0
        while True:
            await self._dirty.wait()
            # Let a burst of changes accumulate into one write.
            await asyncio.sleep(self.coalesce_seconds)
            self._dirty.clear()
            try:
                if await self._write():
                    self._on_write()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                self._on_write_failure()
                log.warning("node %s: report write failed (%s), retrying", self.node_name, exc)
                self._dirty.set()
                await asyncio.sleep(min(10.0, 0.2 * 2**failures))
