"""The embedded store: every object in memory for reads, SQLite on disk for durability.

Writes are serialized by one asyncio lock; the SQLite transaction runs on a dedicated thread so
the fsync never blocks the event loop, and memory changes only after the disk commit succeeded.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import structlog
from google.protobuf.message import Message

from common import convert
from common.api import types_pb2
from common.errors import Conflict, NotFound, Unavailable
from common.model import Cluster, Meta, Network, Node, Service, StoredObject, Task, now
from manager.store.base import Action, Delete, Event, Op, ReadView, T, Watch

log = structlog.get_logger("store")

SCHEMA_VERSION = 1
# How many past events a watch can resume from.
HISTORY = 10_000

_Codec = tuple[str, Callable[[Any], Message], Callable[[bytes], StoredObject]]


def _decoder(
    msg_type: type[Message], from_pb: Callable[[Any], StoredObject]
) -> Callable[[bytes], StoredObject]:
    def decode(data: bytes) -> StoredObject:
        msg = msg_type()
        msg.ParseFromString(data)
        return from_pb(msg)

    return decode


_CODECS: dict[type, _Codec] = {
    Node: ("node", convert.node_to_pb, _decoder(types_pb2.Node, convert.node_from_pb)),
    Service: (
        "service",
        convert.service_to_pb,
        _decoder(types_pb2.Service, convert.service_from_pb),
    ),
    Task: ("task", convert.task_to_pb, _decoder(types_pb2.Task, convert.task_from_pb)),
    Cluster: (
        "cluster",
        convert.cluster_to_pb,
        _decoder(types_pb2.Cluster, convert.cluster_from_pb),
    ),
    Network: (
        "network",
        convert.network_to_pb,
        _decoder(types_pb2.Network, convert.network_from_pb),
    ),
}
_KIND_TYPES = {name: cls for cls, (name, _, _) in _CODECS.items()}

# Each migration takes the database from version i to i + 1; a newer release appends to this list.
_MIGRATIONS: list[str] = [
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE objects (
        kind TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL, data BLOB NOT NULL,
        PRIMARY KEY (kind, id)
    );
    INSERT INTO meta VALUES ('revision', '0');
    """,
]


class _Overlay:
    """The state as a plan sees it while it stages several ops in one transaction."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store
        self.staged: dict[tuple[type, str], StoredObject | None] = {}

    def current(self, kind: type, obj_id: str) -> StoredObject | None:
        key = (kind, obj_id)
        if key in self.staged:
            return self.staged[key]
        return self._store._objects[kind].get(obj_id)


class SqliteStore:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-sqlite")
        self._db: sqlite3.Connection | None = None
        self._objects: dict[type, dict[str, StoredObject]] = {cls: {} for cls in _CODECS}
        self._by_service: dict[str, dict[str, Task]] = {}
        self._by_node: dict[str, dict[str, Task]] = {}
        self._revision = 0
        self._lock = asyncio.Lock()
        self._watches: set[Watch] = set()
        self._history: deque[Event] = deque(maxlen=HISTORY)
        # The newest revision that has lost an event to the history limit: a watch cannot
        # resume from before it without missing part of a revision.
        self._forgotten = 0
        # The oldest moment every event since is still held for: the open (history is kept in
        # memory only), then just after the newest event the history limit dropped.
        self._kept_from = now()
        # Told (seconds on disk, objects written) after each commit: the manager's metrics.
        self.on_commit: Callable[[float, int], None] | None = None

    @classmethod
    async def open(cls, path: Path) -> SqliteStore:
        store = cls(path)
        try:
            await asyncio.get_running_loop().run_in_executor(store._io, store._load)
        except BaseException:
            await store.close()
            raise
        return store

    # -- reads --------------------------------------------------------------------------------

    @property
    def revision(self) -> int:
        return self._revision

    def get(self, kind: type[T], obj_id: str) -> T | None:
        return cast(T | None, self._objects[kind].get(obj_id))

    def objects(self, kind: type[T]) -> list[T]:
        return cast(list[T], list(self._objects[kind].values()))

    def tasks_of_service(self, service_id: str) -> list[Task]:
        return list(self._by_service.get(service_id, {}).values())

    def tasks_on_node(self, node_id: str) -> list[Task]:
        return list(self._by_node.get(node_id, {}).values())

    # -- writes -------------------------------------------------------------------------------

    async def commit(self, ops: Sequence[Op]) -> list[StoredObject]:
        return await self.transact(lambda _view: ops)

    async def transact(self, plan: Callable[[ReadView], Sequence[Op]]) -> list[StoredObject]:
        # Shielded: a caller cancelled mid-commit (a client's deadline) must not leave the disk
        # ahead of memory and the watchers; the commit runs to its end either way.
        return await asyncio.shield(asyncio.ensure_future(self._transact(plan)))

    async def _transact(self, plan: Callable[[ReadView], Sequence[Op]]) -> list[StoredObject]:
        async with self._lock:
            ops = plan(self)
            if not ops:
                return []
            events = self._stage(ops)
            rows = [(e.action, e.obj) for e in events]
            revision = self._revision + 1
            started = time.monotonic()
            try:
                await asyncio.get_running_loop().run_in_executor(
                    self._io, self._write, rows, revision
                )
            except (sqlite3.Error, OSError) as exc:
                # Memory is left as it was, so the next write can succeed once there is room.
                log.error("store write failed", error=str(exc), revision=revision)
                raise Unavailable(f"the manager could not save the change: {exc}") from None
            if self.on_commit is not None:
                self.on_commit(time.monotonic() - started, len(rows))
            self._revision = revision
            stored: list[StoredObject] = []
            for event in events:
                self._apply(event.action, event.obj)
                stored.append(event.obj)
                event = replace(event, revision=revision)
                if len(self._history) == self._history.maxlen:
                    self._forgotten = self._history[0].revision
                    self._kept_from = self._history[0].time + timedelta(microseconds=1)
                self._history.append(event)
                for watch in self._watches:
                    watch.push(event)
            return stored

    def _stage(self, ops: Sequence[Op]) -> list[Event]:
        overlay = _Overlay(self)
        events: list[Event] = []
        stamp = now()
        for op in ops:
            obj = op.obj
            kind = type(obj)
            old = overlay.current(kind, obj.id)
            stored_version = old.meta.version if old is not None else 0
            name = _CODECS[kind][0]
            if isinstance(op, Delete):
                if old is None:
                    raise NotFound(f"{name} {obj.id} not found")
                if obj.meta.version not in (0, stored_version):
                    raise Conflict(f"{name} {obj.id} changed since it was read; try again")
                overlay.staged[(kind, obj.id)] = None
                events.append(Event(0, Action.DELETE, old, old, stamp))
                continue
            if obj.meta.version != stored_version:
                if old is None:
                    raise NotFound(f"{name} {obj.id} not found")
                raise Conflict(f"{name} {obj.id} changed since it was read; try again")
            created = old.meta.created_at if old is not None else stamp
            meta = Meta(version=stored_version + 1, created_at=created, updated_at=stamp)
            new = replace(obj, meta=meta)
            overlay.staged[(kind, obj.id)] = new
            events.append(Event(0, Action.UPDATE if old else Action.CREATE, new, old, stamp))
        return events

    def _apply(self, action: Action, obj: StoredObject) -> None:
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

    # -- watches ------------------------------------------------------------------------------

    def watch(self, since: int | None = None) -> Watch:
        watch = Watch(self._watches.discard)
        if since is not None and since < self._revision:
            if (
                since < self._forgotten
                or not self._history
                or self._history[0].revision > since + 1
            ):
                raise Conflict(f"revision {since} is no longer in the store's history")
            for event in self._history:
                if event.revision > since:
                    watch.push(event)
        self._watches.add(watch)
        return watch

    def revision_at(self, moment: datetime) -> int:
        if moment < self._kept_from:
            kept = self._kept_from.isoformat().replace("+00:00", "Z")
            raise Conflict(
                f"events before {kept} are no longer kept (the manager keeps those since it"
                f" started, at most the last {HISTORY}): ask for a later time"
            )
        for event in self._history:
            if event.time >= moment:
                return event.revision - 1
        return self._revision

    async def close(self) -> None:
        async with self._lock:
            await asyncio.get_running_loop().run_in_executor(self._io, self._close_db)
        self._io.shutdown(wait=True)

    # -- disk (runs on the store's own thread) ------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        # FULL: a write is acknowledged only once it survives a power cut, not just a crash.
        db.execute("PRAGMA synchronous=FULL")
        return db

    def _load(self) -> None:
        db = self._db = self._connect()
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise Conflict(
                f"state dir schema {version} is newer than this release's {SCHEMA_VERSION}"
            )
        for target in range(version, SCHEMA_VERSION):
            db.executescript(
                f"BEGIN; {_MIGRATIONS[target]} PRAGMA user_version={target + 1}; COMMIT;"
            )
        self._revision = int(
            db.execute("SELECT value FROM meta WHERE key='revision'").fetchone()[0]
        )
        for kind_name, data in db.execute("SELECT kind, data FROM objects"):
            cls = _KIND_TYPES[kind_name]
            obj = _CODECS[cls][2](data)
            self._apply(Action.CREATE, obj)

    def _write(self, rows: list[tuple[Action, StoredObject]], revision: int) -> None:
        db = self._db
        assert db is not None
        db.execute("BEGIN IMMEDIATE")
        try:
            for action, obj in rows:
                name, to_pb, _ = _CODECS[type(obj)]
                if action is Action.DELETE:
                    db.execute("DELETE FROM objects WHERE kind=? AND id=?", (name, obj.id))
                else:
                    db.execute(
                        "INSERT OR REPLACE INTO objects VALUES (?, ?, ?, ?)",
                        (name, obj.id, obj.meta.version, to_pb(obj).SerializeToString()),
                    )
            db.execute("UPDATE meta SET value=? WHERE key='revision'", (str(revision),))
            db.execute("COMMIT")
        except BaseException:
            # SQLite may have rolled back by itself (a full disk does that); a second ROLLBACK
            # would then raise and hide the real error.
            if db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
            raise

    def _close_db(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
