"""manager.store: what survives a restart, and the SQLite schema version.

The store's contract: every test taking `store` or `backend` runs on SQLite and on etcd."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from common.errors import Conflict
from common.model import Cluster, Node, Service, Task
from manager.store import (
    Delete,
    Put,
    SqliteStore,
)
from manager.store import sqlite as sqlite_store
from tests.unit.store_objects import (
    fresh_node,
    fresh_service,
    fresh_task,
    put,
    put_one,
)
from tests.unit.stores import Backend


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "store.db"


class TestDurability:
    async def test_everything_survives_reopen(self, backend: Backend) -> None:
        """Every kind of object, its version and the revision are the same after a reopen."""
        store = await backend.open()
        stored = await put(
            store,
            fresh_node("n1"),
            fresh_service("s1"),
            fresh_task("t1", 1, "n1"),
            Cluster(
                id="c", digest="d" * 50, clear_worker_secret="w" * 25, clear_manager_secret="m" * 25
            ),
        )
        svc = store.get(Service, "s1")
        assert svc is not None
        svc2 = await put_one(store, replace(svc, previous_spec=svc.spec))
        t1 = store.get(Task, "t1")
        assert t1 is not None
        await store.commit([Delete(t1)])
        revision = store.revision
        await store.close()

        reopened = await backend.open()
        try:
            assert reopened.revision == revision
            assert reopened.get(Node, "n1") == stored[0]
            assert reopened.get(Service, "s1") == svc2
            assert reopened.get(Task, "t1") is None
            assert reopened.get(Cluster, "c") == stored[3]
            # Versions continue from where they were.
            again = await put_one(reopened, replace(svc2, spec=replace(svc2.spec, replicas=9)))
            assert again.meta.version == 3
            assert reopened.revision > revision
        finally:
            await reopened.close()

    async def test_deletes_and_puts_of_one_commit_land_in_their_order(
        self, backend: Backend
    ) -> None:
        """One commit deletes an object and makes it anew, and makes another and deletes it:
        after a reopen the first is there as made anew and the second is not (written out of
        order, the first would be gone and the second there)."""
        store = await backend.open()
        try:
            old = await put_one(store, fresh_node("n1"))
            await store.commit(
                [
                    Delete(old),
                    Put(replace(fresh_node("n1"), message="anew")),
                    Put(fresh_node("n2")),
                    Delete(fresh_node("n2")),
                ]
            )
        finally:
            await store.close()
        reopened = await backend.open()
        try:
            again = reopened.get(Node, "n1")
            assert again is not None
            assert (again.message, again.meta.version) == ("anew", 1)
            assert reopened.get(Node, "n2") is None
            assert await backend.persisted() == {("node", "n1"): 1}
        finally:
            await reopened.close()

    async def test_state_dir_is_created(self, tmp_path: Path) -> None:
        """Opening a store in a directory that does not exist yet creates it."""
        path = tmp_path / "a" / "b" / "store.db"
        store = await SqliteStore.open(path)
        await store.close()
        assert path.exists()

    async def test_schema_version_is_recorded(self, db_path: Path) -> None:
        """A new database carries the current schema version."""
        store = await SqliteStore.open(db_path)
        await store.close()
        db = sqlite3.connect(db_path)
        try:
            assert db.execute("PRAGMA user_version").fetchone()[0] == sqlite_store.SCHEMA_VERSION
        finally:
            db.close()

    async def test_newer_schema_is_refused(self, db_path: Path) -> None:
        """A database written by a newer release is refused with an error naming both versions."""
        store = await SqliteStore.open(db_path)
        await store.close()
        newer = sqlite_store.SCHEMA_VERSION + 1
        db = sqlite3.connect(db_path)
        db.execute(f"PRAGMA user_version={newer}")
        db.commit()
        db.close()
        with pytest.raises(Conflict, match="newer") as caught:
            await SqliteStore.open(db_path)
        message = str(caught.value)
        assert str(newer) in message
        assert str(sqlite_store.SCHEMA_VERSION) in message
