"""What the manager has for one client, bounded: a slow client slows the agents' streams
(through gRPC flow control) instead of filling the manager's memory."""

from __future__ import annotations

import asyncio
from collections import deque

from common.logs import ServiceLogs

LIMIT = 64


class Feed:
    def __init__(self, limit: int = LIMIT) -> None:
        self._items: deque[ServiceLogs] = deque()
        self._limit = limit
        self._readable = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()
        self.ended = False

    async def put(self, message: ServiceLogs) -> bool:
        """Wait for room, then queue message; False once the feed has ended."""
        while len(self._items) >= self._limit and not self.ended:
            self._writable.clear()
            await self._writable.wait()
        if self.ended:
            return False
        self.put_nowait(message)
        return True

    def put_nowait(self, message: ServiceLogs) -> None:
        """Past the limit: for the few messages that say a node failed."""
        self._items.append(message)
        self._readable.set()

    def end(self) -> None:
        """Nothing more will come; what is queued is still read."""
        self.ended = True
        self._readable.set()
        self._writable.set()

    async def get(self) -> ServiceLogs | None:
        """The next message; None once the feed has ended and is empty."""
        while not self._items:
            if self.ended:
                return None
            self._readable.clear()
            await self._readable.wait()
        message = self._items.popleft()
        if len(self._items) < self._limit:
            self._writable.set()
        return message
