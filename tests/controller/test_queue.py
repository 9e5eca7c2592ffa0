"""The work queue coalesces repeated keys and never hands one key to two workers at once."""

from __future__ import annotations

import asyncio

from seccomp_operator.controller.queue import WorkQueue


def test_repeated_adds_coalesce() -> None:
    async def scenario() -> list[str]:
        queue = WorkQueue()
        for _ in range(100):
            queue.add("ns/a")
        queue.add("ns/b")
        got = [await queue.get(), await queue.get()]
        assert len(queue) == 0
        return got

    assert sorted(asyncio.run(scenario())) == ["ns/a", "ns/b"]


def test_key_readded_while_active_is_processed_again_after_done() -> None:
    async def scenario() -> None:
        queue = WorkQueue()
        queue.add("k")
        key = await queue.get()
        queue.add("k")  # an event arrives while the key is being reconciled
        assert len(queue) == 0  # not handed to a second worker
        queue.done(key)
        assert await asyncio.wait_for(queue.get(), 1) == "k"

    asyncio.run(scenario())


def test_failed_key_is_retried_with_backoff() -> None:
    async def scenario() -> None:
        queue = WorkQueue()
        queue.add("k")
        queue.done(await queue.get(), failed=True)
        assert queue.failures["k"] == 1
        assert await asyncio.wait_for(queue.get(), 2) == "k"

    asyncio.run(scenario())
