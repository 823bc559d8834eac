"""The StateStore contract, independent of where the objects are kept."""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

from common.model import (
    EPOCH,
    Cluster,
    Config,
    Network,
    Node,
    Secret,
    Service,
    StoredObject,
    Task,
)

T = TypeVar("T", Node, Service, Task, Cluster, Network, Secret, Config)


@dataclass(frozen=True)
class Put:
    """Create (meta.version 0) or replace the object; its meta.version must be the stored one."""

    obj: StoredObject


@dataclass(frozen=True)
class Delete:
    obj: StoredObject


Op = Put | Delete


class Action(enum.Enum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


@dataclass(frozen=True)
class Event:
    revision: int
    action: Action
    obj: StoredObject
    old: StoredObject | None
    # When the write was staged: the same for every event of a revision, and never earlier
    # than the time of an event of an older revision while the clock does not go back.
    time: datetime = EPOCH

    def committed(self, revision: int) -> Event:
        """This staged event as committed at revision: built directly, as dataclasses.replace
        would cost three times as much for every event of every write."""
        return Event(revision, self.action, self.obj, self.old, self.time)


class ReadView(Protocol):
    """Reads from memory: cheap, synchronous, and consistent between two awaits."""

    @property
    def revision(self) -> int: ...

    def get(self, kind: type[T], obj_id: str) -> T | None: ...

    def objects(self, kind: type[T]) -> list[T]: ...

    def tasks_of_service(self, service_id: str) -> list[Task]: ...

    def tasks_on_node(self, node_id: str) -> list[Task]: ...


class Watch:
    """A subscriber's queue of events, in revision order.

    A list and a flag, not an asyncio.Queue: every commit's events go to each of some fifteen
    watches, and a Queue's put and get cost 1.8 us an event against 0.1 here (timeit), for the
    several events each of a burst's 100,000 tasks makes."""

    def __init__(self, on_close: Callable[[Watch], None]) -> None:
        self._events: list[Event] = []
        self._pushed = asyncio.Event()
        self._on_close = on_close

    def push(self, event: Event) -> None:
        self._events.append(event)
        self._pushed.set()

    async def next_batch(self) -> list[Event]:
        """Wait for one event, then take every event already queued behind it."""
        while not self._events:
            self._pushed.clear()
            await self._pushed.wait()
        return self.queued()

    def queued(self) -> list[Event]:
        """Every event already queued, without waiting: inside a transaction's plan, the events
        of every write the view shows."""
        batch, self._events = self._events, []
        return batch

    def close(self) -> None:
        self._on_close(self)


class StateStore(ReadView, Protocol):
    async def transact(
        self, plan: Callable[[ReadView], Sequence[Op]], urgent: bool = False
    ) -> list[StoredObject]:
        """Run plan against the current state and commit what it returns, atomically.

        plan runs with every other writer excluded, so reads it makes cannot go stale before the
        commit. The commit is on disk when this returns. Returns the objects as stored. An urgent
        write (a client waits on it) goes ahead of the queued writes that are not.
        """
        ...

    async def commit(self, ops: Sequence[Op]) -> list[StoredObject]:
        """transact() for ops computed elsewhere: a stale version fails with Conflict."""
        ...

    def watch(self, since: int | None = None) -> Watch:
        """Events after revision since (default: from now on)."""
        ...

    def revision_at(self, moment: datetime) -> int:
        """The revision to watch from for every event at or after moment; Conflict when the
        store no longer holds them all."""
        ...

    def history_from(self) -> datetime:
        """The oldest moment from which the store still holds every event (revision_at takes
        any moment from it on)."""
        ...

    async def close(self) -> None: ...
