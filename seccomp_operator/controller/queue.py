"""A keyed work queue with delays: each key is queued at most once and processed by one worker at a time.

Report events for a profile arrive from every node during a rollout; adding the key with a small delay coalesces
them into one status computation and one status write.
"""

from __future__ import annotations

import asyncio
import time


class WorkQueue:
    def __init__(self) -> None:
        self._due: dict[str, float] = {}
        self._active: set[str] = set()
        self._again: dict[str, float] = {}  # re-added while active: queued when done
        self._changed = asyncio.Event()
        self.failures: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._due)

    def add(self, key: str, delay: float = 0.0) -> None:
        due = time.monotonic() + delay
        if key in self._active:
            self._again[key] = min(due, self._again.get(key, due))
            return
        if due < self._due.get(key, float("inf")):
            self._due[key] = due
            self._changed.set()

    async def get(self) -> str:
        while True:
            now = time.monotonic()
            if self._due:
                key = min(self._due, key=self._due.__getitem__)
                wait = self._due[key] - now
                if wait <= 0:
                    del self._due[key]
                    self._active.add(key)
                    return key
            else:
                wait = None
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), timeout=wait)
            except TimeoutError:
                pass

    def done(self, key: str, *, failed: bool = False) -> None:
        self._active.discard(key)
        if failed:
            self.failures[key] = self.failures.get(key, 0) + 1
            self.add(key, min(30.0, 0.25 * 2 ** self.failures[key]))
        else:
            self.failures.pop(key, None)
        if key in self._again:
            due = self._again.pop(key)
            self.add(key, max(0.0, due - time.monotonic()))
