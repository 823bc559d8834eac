"""What both backends keep in memory: the objects and their indexes, how a commit's ops are
checked against them, and the recent events watchers can resume from."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import cast

from common.errors import Conflict, NotFound
from common.model import Meta, StoredObject, Task, now, stamped
from manager.store.base import Action, Delete, Event, Op, T, Watch
from manager.store.codec import CODECS


class MemoryState:
    """Every object by kind and ID, and tasks by service and by node: the ReadView's reads."""

    def __init__(self) -> None:
        self._objects: dict[type, dict[str, StoredObject]] = {cls: {} for cls in CODECS}
        self._by_service: dict[str, dict[str, Task]] = {}
        self._by_node: dict[str, dict[str, Task]] = {}

    def get(self, kind: type[T], obj_id: str) -> T | None:
        # The casts' types are strings: `T | None` is built anew at each call otherwise, and the
        # store's reads are called a million times in a burst.
        return cast("T | None", self._objects[kind].get(obj_id))

    def objects(self, kind: type[T]) -> list[T]:
        return cast("list[T]", list(self._objects[kind].values()))

    def tasks_of_service(self, service_id: str) -> list[Task]:
        return list(self._by_service.get(service_id, {}).values())

    def tasks_on_node(self, node_id: str) -> list[Task]:
        return list(self._by_node.get(node_id, {}).values())

    def current(self, kind: type, obj_id: str) -> StoredObject | None:
        return self._objects[kind].get(obj_id)

    def apply(self, action: Action, obj: StoredObject) -> None:
        table = self._objects[type(obj)]
        if isinstance(obj, Task):
            old = table.get(obj.id)
            if isinstance(old, Task):
                self._by_service.get(old.service_id, {}).pop(obj.id, None)
                self._by_node.get(old.node_id, {}).pop(obj.id, None)
            if action is not Action.DELETE:
                self._by_service.setdefault(obj.service_id, {})[obj.id] = obj
                self._by_node.setdefault(obj.node_id, {})[obj.id] = obj
        if action is Action.DELETE:
            table.pop(obj.id, None)
        else:
            table[obj.id] = obj


def stage(state: MemoryState, ops: Sequence[Op]) -> list[Event]:
    """The events ops make against state (revision 0 until committed); Conflict or NotFound
    for an op whose version is not the stored one. Later ops see the earlier ones."""
    staged: dict[tuple[type, str], StoredObject | None] = {}
    events: list[Event] = []
    stamp = now()
    for op in ops:
        obj = op.obj
        kind = type(obj)
        key = (kind, obj.id)
        old = staged[key] if key in staged else state.current(kind, obj.id)
        stored_version = old.meta.version if old is not None else 0
        name = CODECS[kind][0]
        if isinstance(op, Delete):
            if old is None:
                raise NotFound(f"{name} {obj.id} not found")
            if obj.meta.version not in (0, stored_version):
                raise Conflict(f"{name} {obj.id} changed since it was read; try again")
            staged[key] = None
            events.append(Event(0, Action.DELETE, old, old, stamp))
            continue
        if obj.meta.version != stored_version:
            if old is None:
                raise NotFound(f"{name} {obj.id} not found")
            raise Conflict(f"{name} {obj.id} changed since it was read; try again")
        created = old.meta.created_at if old is not None else stamp
        meta = Meta(version=stored_version + 1, created_at=created, updated_at=stamp)
        new = stamped(obj, meta)
        staged[key] = new
        events.append(Event(0, Action.UPDATE if old else Action.CREATE, new, old, stamp))
    return events


class EventLog:
    """The last `limit` events, and the watches they go to."""

    def __init__(self, limit: int, revision: int) -> None:
        self.watches: set[Watch] = set()
        self._limit = limit
        self._history: deque[Event] = deque(maxlen=limit)
        # Below it a watch cannot resume without missing part of a revision: the revision the
        # store was opened at (history is kept in memory only), or the newest revision that has
        # lost an event to the limit.
        self._floor = revision
        # The oldest moment every event since is still held for: the open, then just after the
        # newest event the limit dropped.
        self._kept_from = now()

    @property
    def kept_from(self) -> datetime:
        return self._kept_from

    def publish(self, event: Event) -> None:
        if len(self._history) == self._history.maxlen:
            self._floor = self._history[0].revision
            self._kept_from = self._history[0].time + timedelta(microseconds=1)
        self._history.append(event)
        for watch in self.watches:
            watch.push(event)

    def watch(self, since: int | None, revision: int) -> Watch:
        watch = Watch(self.watches.discard)
        if since is not None and since < revision:
            if since < self._floor:
                raise Conflict(f"revision {since} is no longer in the store's history")
            for event in self._history:
                if event.revision > since:
                    watch.push(event)
        self.watches.add(watch)
        return watch

    def revision_at(self, moment: datetime, revision: int) -> int:
        if moment < self._kept_from:
            kept = self._kept_from.isoformat().replace("+00:00", "Z")
            raise Conflict(
                f"events before {kept} are no longer kept (the manager keeps those since it"
                f" started, at most the last {self._limit}): ask for a later time"
            )
        for event in self._history:
            if event.time >= moment:
                return event.revision - 1
        return revision
