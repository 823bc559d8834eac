"""How long the manager's own event loop was held up. A node is found silent after so many
heartbeat periods; periods in which the manager could not read what had come (its loop busy
with a burst of 100,000 tasks) are not the node's silence, and counting them marked healthy
nodes down by the thousand, whose tasks then moved and made the manager busier still."""

from __future__ import annotations

import asyncio
import time

# How often the loop is timed, and the delay below which it counts as on time.
TICK = 0.1


class LoopLag:
    def __init__(self) -> None:
        self._stalled = 0.0
        self._due = float("inf")

    def stalled(self) -> float:
        """Seconds the loop was late since the watch began, a stall still under way included
        (a timer that fires as the loop comes back may be read before the watch's own)."""
        overdue = time.monotonic() - self._due
        return self._stalled + (overdue if overdue > TICK else 0.0)

    async def watch(self) -> None:
        while True:
            self._due = time.monotonic() + TICK
            await asyncio.sleep(TICK)
            late = time.monotonic() - self._due
            if late > TICK:
                self._stalled += late
