"""The two StateStore backends as the store's contract tests see them: a store that can be
opened again on the same persisted state, and that state read without the store."""

from __future__ import annotations

import sqlite3
import types
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from manager.store import EtcdStore, SqliteStore, StateStore
from manager.store import etcd as etcd_store
from manager.store import sqlite as sqlite_store
from manager.store.codec import decode
from manager.store.etcd_client import EtcdClient
from manager.store.etcd_tls import EtcdTls

Persisted = dict[tuple[str, str], int]


@dataclass(frozen=True)
class Backend:
    name: str
    # Opens a store on the same persisted state every time it is called.
    open: Callable[[], Awaitable[StateStore]]
    # (kind, id) -> version of every object as persisted, read without the store.
    persisted: Callable[[], Awaitable[Persisted]]
    # The backend's module, whose HISTORY a test may shrink.
    module: types.ModuleType


def sqlite_backend(db_path: Path) -> Backend:
    async def open_() -> StateStore:
        return await SqliteStore.open(db_path)

    async def persisted() -> Persisted:
        db = sqlite3.connect(db_path)
        try:
            rows = db.execute("SELECT kind, id, version FROM objects")
            return {(k, i): v for k, i, v in rows}
        finally:
            db.close()

    return Backend("sqlite", open_, persisted, sqlite_store)


def etcd_backend(endpoint: str, tls: EtcdTls | None = None) -> Backend:
    prefix = f"/test-{uuid.uuid4().hex[:12]}"

    async def open_() -> StateStore:
        return await EtcdStore.open([endpoint], prefix, tls)

    async def persisted() -> Persisted:
        client = EtcdClient([endpoint], tls=tls)
        try:
            kvs, _ = await client.range_prefix(f"{prefix}/objects/".encode())
        finally:
            await client.close()
        found: Persisted = {}
        for kv in kvs:
            kind, _, obj_id = kv.key.decode().removeprefix(f"{prefix}/objects/").partition("/")
            found[(kind, obj_id)] = decode(kind, kv.value).meta.version
        return found

    return Backend("etcd-tls" if tls else "etcd", open_, persisted, etcd_store)
