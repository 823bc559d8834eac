"""The store's write lock: one writer at a time, and a caller's write ahead of the loops'.

Under a burst the orchestrator, scheduler and dispatcher queue writes of thousands of objects
each, and an asyncio.Lock serves them in arrival order, so a one-object `service create` waited
behind every write queued before it (about 4 of 200 ms each at 1,000 nodes). An urgent write,
one a client is waiting on, is handed the lock as soon as the write under way ends. Clients
writing back to back cannot starve the loops: after URGENT_RUN urgent writes in a row, the
oldest routine writer waiting goes next.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator

URGENT_RUN = 4


class WriteLock:
    def __init__(self) -> None:
        self._held = False
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._routine: deque[asyncio.Future[None]] = deque()
        # Urgent writers handed the lock in a row while routine ones waited.
        self._run = 0

    @contextlib.asynccontextmanager
    async def hold(self, urgent: bool = False) -> AsyncIterator[None]:
        await self._acquire(urgent)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, urgent: bool) -> None:
        # While held is false nobody waits: a release hands the lock to a waiter if there is one.
        if not self._held:
            self._held = True
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # A waiter cancelled in the queue stays there until a release passes over it.
        (self._urgent if urgent else self._routine).append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                # Handed the lock just as it was cancelled: pass it on.
                self._release()
            raise

    def _release(self) -> None:
        # The lock passes straight to the next waiter, so nobody arriving meanwhile can take it.
        if self._run < URGENT_RUN:
            order = (self._urgent, self._routine)
        else:
            order = (self._routine, self._urgent)
        for queue in order:
            while queue:
                turn = queue.popleft()
                if not turn.done():
                    jumped = queue is self._urgent and bool(self._routine)
                    self._run = self._run + 1 if jumped else 0
                    turn.set_result(None)
                    return
        self._run = 0
        self._held = False
