"""A node's pending assignment changes, coalesced per task until the session sends them."""

from __future__ import annotations

import asyncio

from common.errors import ShoalError
from common.model import Task

# How long a first change waits for others, so a burst reaches the agent as one message.
BATCH_WINDOW = 0.02


class Outbox:
    def __init__(self, start_revision: int, worker: bool = True) -> None:
        # Events at or before this revision are already in the full set the session sent.
        self.start_revision = start_revision
        # The session holds a worker's certificate (not a manager's own node's).
        self.worker = worker
        self._changes: dict[str, Task | None] = {}
        self._ready = asyncio.Event()
        self._closed: ShoalError | None = None

    def close(self, reason: ShoalError) -> None:
        """End the session this outbox feeds: its next take() raises reason."""
        self._closed = reason
        self._ready.set()

    def put(self, revision: int, task_id: str, task: Task | None) -> None:
        if revision <= self.start_revision:
            return
        self._changes[task_id] = task
        self._ready.set()

    async def take(self) -> dict[str, Task | None]:
        await self._ready.wait()
        if self._closed is None:
            await asyncio.sleep(BATCH_WINDOW)
        if self._closed is not None:
            raise self._closed
        self._ready.clear()
        changes, self._changes = self._changes, {}
        return changes
