"""Which sessions fell silent: one watch over every session, rather than a timer set and
cancelled at each message. At 10,000 nodes those timers (and the waits around them) were a
quarter of the manager's busy event loop, with no task to place.

A session's reader notes when each message came, and how long the manager's own loop had been
held up by then (LoopLag). The watch ends the read of a session silent for MISSED_BEATS of its
period, not counting the time the loop was held up since its last message: beats that had come
but could not be read yet are not the node's silence.

Nor, while a restarted manager's nodes are still coming back, is the silence of one of those
nodes (Liveness.returning): with 10,000 sessions opening at once, beats were held up outside
the loop LoopLag times (in the hollow processes sharing the machine, at least: one queued a
coroutine for each of its 100,000 tasks as its nodes' sessions opened), and 3-5 % of the nodes
were marked down while healthy. Such a silence counts from the moment that wait for them ends.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from manager.dispatcher.liveness import MISSED_BEATS, Period
from manager.dispatcher.loop_lag import LoopLag


@dataclass(eq=False)
class Heard:
    """One session's reader, as the watch sees it."""

    node_id: str
    period: Period
    reader: asyncio.Task[bool] | None
    # When the last message came (monotonic), or when the node stopped being spared if that
    # came later, and LoopLag.stalled() then.
    last: float
    stalled: float
    silent: bool = field(default=False)


class Silence:
    def __init__(self, lag: LoopLag, spared: Callable[[], Collection[str]]) -> None:
        self._lag = lag
        # The nodes whose silence does not count yet.
        self._spared = spared
        self._heard: set[Heard] = set()

    def listen(self, node_id: str, period: Period) -> Heard:
        """Watch the current task, node_id's session reader, from now."""
        heard = Heard(
            node_id, period, asyncio.current_task(), time.monotonic(), self._lag.stalled()
        )
        self._heard.add(heard)
        return heard

    def heard(self, heard: Heard) -> None:
        heard.last = time.monotonic()
        heard.stalled = self._lag.stalled()

    def forget(self, heard: Heard) -> None:
        self._heard.discard(heard)

    async def watch(self, tick: float) -> None:
        spared_before: frozenset[str] = frozenset()
        while True:
            await asyncio.sleep(tick)
            now, stalled = time.monotonic(), self._lag.stalled()
            spared = frozenset(self._spared())
            if released := spared_before - spared:
                # Their silence counts from here, not from their last message: the 990 nodes
                # of one hollow process, too busy taking in their task sets to beat, were all
                # taken for lost at the first tick after the wait ended.
                for heard in self._heard:
                    if heard.node_id in released:
                        heard.last, heard.stalled = now, stalled
            spared_before = spared
            quiet = [h for h in self._heard if h.node_id not in spared and _quiet(h, now, stalled)]
            for heard in quiet:
                heard.silent = True
                self._heard.discard(heard)
                if heard.reader is not None:
                    heard.reader.cancel()


def _quiet(heard: Heard, now: float, stalled: float) -> bool:
    waited = now - heard.last - (stalled - heard.stalled)
    return waited > MISSED_BEATS * heard.period.seconds
