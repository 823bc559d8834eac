"""Which sessions fell silent: one watch over every session, rather than a timer set and
cancelled at each message. At 10,000 nodes those timers (and the waits around them) were a
quarter of the manager's busy event loop, with no task to place.

A session's reader notes when each message came, and how long the manager's own loop had been
held up by then (LoopLag). The watch ends the read of a session silent for MISSED_BEATS of its
period, not counting the time the loop was held up since its last message: beats that had come
but could not be read yet are not the node's silence."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from manager.dispatcher.liveness import MISSED_BEATS, Period
from manager.dispatcher.loop_lag import LoopLag


@dataclass(eq=False)
class Heard:
    """One session's reader, as the watch sees it."""

    period: Period
    reader: asyncio.Task[bool] | None
    # When the last message came (monotonic), and LoopLag.stalled() then.
    last: float
    stalled: float
    silent: bool = field(default=False)


class Silence:
    def __init__(self, lag: LoopLag) -> None:
        self._lag = lag
        self._heard: set[Heard] = set()

    def listen(self, period: Period) -> Heard:
        """Watch the current task, a session's reader, from now."""
        heard = Heard(period, asyncio.current_task(), time.monotonic(), self._lag.stalled())
        self._heard.add(heard)
        return heard

    def heard(self, heard: Heard) -> None:
        heard.last = time.monotonic()
        heard.stalled = self._lag.stalled()

    def forget(self, heard: Heard) -> None:
        self._heard.discard(heard)

    async def watch(self, tick: float) -> None:
        while True:
            await asyncio.sleep(tick)
            now, stalled = time.monotonic(), self._lag.stalled()
            for heard in [h for h in self._heard if _quiet(h, now, stalled)]:
                heard.silent = True
                self._heard.discard(heard)
                if heard.reader is not None:
                    heard.reader.cancel()


def _quiet(heard: Heard, now: float, stalled: float) -> bool:
    waited = now - heard.last - (stalled - heard.stalled)
    return waited > MISSED_BEATS * heard.period.seconds
