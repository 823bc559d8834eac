"""The embedded store: every object in memory for reads, SQLite on disk for durability.

Writes are serialized by one asyncio lock; the SQLite transaction runs on a dedicated thread so
the fsync never blocks the event loop, and memory changes only after the disk commit succeeded.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import structlog

from common.errors import Conflict, Unavailable
from common.model import StoredObject, Task
from manager.store.base import Action, Op, ReadView, T, Watch
from manager.store.codec import decode, encode, kind_name
from manager.store.view import EventLog, MemoryState, stage
from manager.store.write_lock import WriteLock

log = structlog.get_logger("store")

SCHEMA_VERSION = 1
# How many past events a watch can resume from.
HISTORY = 10_000

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


class SqliteStore:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-sqlite")
        self._db: sqlite3.Connection | None = None
        self._state = MemoryState()
        self._revision = 0
        self._lock = WriteLock()
        self._events = EventLog(HISTORY, 0)
        # Told (seconds on disk, objects written) after each commit: the manager's metrics.
        self.on_commit: Callable[[float, int], None] | None = None

    @classmethod
    async def open(cls, path: Path) -> SqliteStore:
        store = cls(path)
        try:
            await asyncio.get_running_loop().run_in_executor(store._io, store._load)
            store._events = EventLog(HISTORY, store._revision)
        except BaseException:
            await store.close()
            raise
        return store

    # -- reads --------------------------------------------------------------------------------

    @property
    def revision(self) -> int:
        return self._revision

    def get(self, kind: type[T], obj_id: str) -> T | None:
        return self._state.get(kind, obj_id)

    def objects(self, kind: type[T]) -> list[T]:
        return self._state.objects(kind)

    def tasks_of_service(self, service_id: str) -> list[Task]:
        return self._state.tasks_of_service(service_id)

    def tasks_on_node(self, node_id: str) -> list[Task]:
        return self._state.tasks_on_node(node_id)

    # -- writes -------------------------------------------------------------------------------

    async def commit(self, ops: Sequence[Op]) -> list[StoredObject]:
        return await self.transact(lambda _view: ops)

    async def transact(
        self, plan: Callable[[ReadView], Sequence[Op]], urgent: bool = False
    ) -> list[StoredObject]:
        # Shielded: a caller cancelled mid-commit (a client's deadline) must not leave the disk
        # ahead of memory and the watchers; the commit runs to its end either way.
        return await asyncio.shield(asyncio.ensure_future(self._transact(plan, urgent)))

    async def _transact(
        self, plan: Callable[[ReadView], Sequence[Op]], urgent: bool
    ) -> list[StoredObject]:
        async with self._lock.hold(urgent):
            ops = plan(self)
            if not ops:
                return []
            events = stage(self._state, ops)
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
                self._state.apply(event.action, event.obj)
                stored.append(event.obj)
                self._events.publish(event.committed(revision))
            return stored

    # -- watches ------------------------------------------------------------------------------

    def watch(self, since: int | None = None) -> Watch:
        return self._events.watch(since, self._revision)

    def revision_at(self, moment: datetime) -> int:
        return self._events.revision_at(moment, self._revision)

    def history_from(self) -> datetime:
        return self._events.kept_from

    async def close(self) -> None:
        async with self._lock.hold():
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
        for name, data in db.execute("SELECT kind, data FROM objects"):
            self._state.apply(Action.CREATE, decode(name, data))

    def _write(self, rows: list[tuple[Action, StoredObject]], revision: int) -> None:
        db = self._db
        assert db is not None
        db.execute("BEGIN IMMEDIATE")
        try:
            # In order, each run of deletes or of puts in one call: a row per call was a tenth
            # of the disk thread's time, in Python.
            for deleting, run in itertools.groupby(rows, key=lambda row: row[0] is Action.DELETE):
                if deleting:
                    db.executemany(
                        "DELETE FROM objects WHERE kind=? AND id=?",
                        ((kind_name(obj), obj.id) for _, obj in run),
                    )
                else:
                    db.executemany(
                        "INSERT OR REPLACE INTO objects VALUES (?, ?, ?, ?)",
                        ((kind_name(obj), obj.id, obj.meta.version, encode(obj)) for _, obj in run),
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
