"""One `shoal events` subscriber: the store's watch turned into filtered events, with a bounded
buffer between the two so a client that reads slowly costs the manager a fixed amount of memory.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from datetime import datetime

from common.errors import ResourceExhausted
from common.model import Node, now
from manager.events import Change, changes, matches
from manager.store import Action, StateStore

BUFFER = 1000
"""Events a subscriber may have waiting for its client before its stream is ended."""


class FellBehind(ResourceExhausted):
    """The client read more slowly than the cluster changed, for longer than the buffer lasts."""


@dataclass(frozen=True)
class Record:
    change: Change
    time: datetime


class Subscription:
    """Subscribes at once, so nothing committed after the constructor returns is missed. The
    owner closes it, also when batches() was never started."""

    def __init__(
        self,
        store: StateStore,
        filters: Mapping[str, frozenset[str]],
        since: datetime | None = None,
    ) -> None:
        self._store = store
        self._filters = filters
        self._limit = BUFFER
        # Set when since is older than the store's history: the stream starts where the history
        # does (what the manager kept is still worth having), and the client is told so.
        self.history_from: datetime | None = None
        if since is not None and since < store.history_from():
            since = self.history_from = store.history_from()
        self._watch = store.watch(None if since is None else store.revision_at(since))
        self._pending: deque[Record] = deque()
        self._ready = asyncio.Event()
        self._overflowed = False
        # Where a client that fell behind can resume from with --since.
        self._resume_from = since or now()

    async def batches(self) -> AsyncGenerator[list[Record], None]:
        """Records in commit order, as many at a time as have waited; FellBehind when the
        buffer overflowed."""
        pump = asyncio.create_task(self._pump())
        try:
            while True:
                await self._ready.wait()
                if self._overflowed:
                    stamp = self._resume_from.isoformat().replace("+00:00", "Z")
                    raise FellBehind(
                        f"the client fell behind by more than {self._limit} events;"
                        f" resume with --since {stamp}"
                    )
                if pump.done():
                    pump.result()  # short of an overflow, the pump only ends by failing
                self._ready.clear()
                batch = list(self._pending)
                self._pending.clear()
                self._resume_from = batch[-1].time
                yield batch
        finally:
            pump.cancel()
            self.close()

    def close(self) -> None:
        self._watch.close()

    async def _pump(self) -> None:
        def hostname(node_id: str) -> str | None:
            node = self._store.get(Node, node_id)
            return node.description.hostname if node is not None else None

        try:
            while True:
                for event in await self._watch.next_batch():
                    new = None if event.action is Action.DELETE else event.obj
                    for change in changes(event.action, event.old, new, hostname):
                        if not matches(self._filters, change):
                            continue
                        if len(self._pending) >= self._limit:
                            # Nothing more is kept for this client: its stream ends once it
                            # reads again.
                            self._overflowed = True
                            self.close()
                            return
                        self._pending.append(Record(change, event.time))
                        self._ready.set()
        finally:
            # Whatever ended the pump, the reader must not wait for it any longer.
            self._ready.set()
