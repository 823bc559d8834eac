"""A node's pending assignment changes, coalesced per task until the session sends them."""

from __future__ import annotations

import asyncio

from common.model import Task

# How long a first change waits for others, so a burst reaches the agent as one message.
BATCH_WINDOW = 0.02


class Outbox:
    def __init__(self, start_revision: int) -> None:
        # Events at or before this revision are already in the full set the session sent.
        self.start_revision = start_revision
        self._changes: dict[str, Task | None] = {}
        self._ready = asyncio.Event()

    def put(self, revision: int, task_id: str, task: Task | None) -> None:
        if revision <= self.start_revision:
            return
        self._changes[task_id] = task
        self._ready.set()

    async def take(self) -> dict[str, Task | None]:
        await self._ready.wait()
        await asyncio.sleep(BATCH_WINDOW)
        self._ready.clear()
        changes, self._changes = self._changes, {}
        return changes
