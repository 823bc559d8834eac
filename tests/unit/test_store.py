"""manager.store: objects created, read, versioned, deleted and found by index.

The store's contract: every test taking `store` or `backend` runs on SQLite and on etcd."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from common.errors import Conflict, NotFound
from common.model import Cluster, Meta, Node, Service, Task, TaskState
from manager.store import (
    Delete,
    StateStore,
)
from tests.unit.builders import T0
from tests.unit.store_objects import (
    fresh_node,
    fresh_service,
    fresh_task,
    put,
    put_one,
)
from tests.unit.stores import Backend


class TestCreateAndRead:
    async def test_create_then_get(self, store: StateStore) -> None:
        """A created object is readable by kind and ID, with version 1."""
        await put(store, fresh_node("n1"))
        got = store.get(Node, "n1")
        assert got is not None
        assert got.id == "n1"
        assert got.meta.version == 1

    async def test_get_missing(self, store: StateStore) -> None:
        """get() of an unknown ID is None; kinds do not mix."""
        await put(store, fresh_node("x"))
        assert store.get(Node, "nope") is None
        assert store.get(Service, "x") is None

    async def test_objects_by_kind(self, store: StateStore) -> None:
        """objects(kind) lists every object of that kind and no other."""
        await put(store, fresh_node("n1"), fresh_node("n2"), fresh_service("s1"))
        assert sorted(n.id for n in store.objects(Node)) == ["n1", "n2"]
        assert [s.id for s in store.objects(Service)] == ["s1"]
        assert store.objects(Task) == []
        assert store.objects(Cluster) == []

    async def test_commit_returns_the_stored_objects(self, store: StateStore) -> None:
        """commit() returns the objects as stored, with their new meta."""
        stored = await put(store, fresh_node("n1"), fresh_service("s1"))
        assert [o.id for o in stored] == ["n1", "s1"]
        assert all(o.meta.version == 1 for o in stored)
        assert stored[0] == store.get(Node, "n1")

    async def test_empty_commit_is_a_no_op(self, store: StateStore) -> None:
        """Committing nothing writes nothing and leaves the revision alone."""
        start = store.revision
        assert await store.commit([]) == []
        assert store.revision == start


class TestVersions:
    async def test_each_write_increments_the_version(self, store: StateStore) -> None:
        """Version 1 on create, then +1 on every update."""
        first = await put_one(store, fresh_node("n1"))
        second = await put_one(store, replace(first, message="a"))
        third = await put_one(store, replace(second, message="b"))
        assert [o.meta.version for o in (first, second, third)] == [1, 2, 3]

    async def test_meta_timestamps(self, store: StateStore) -> None:
        """created_at is set once; updated_at moves with each write; both timezone-aware."""
        first = await put_one(store, fresh_node("n1"))
        assert first.meta.created_at == first.meta.updated_at
        assert first.meta.created_at.utcoffset() == timedelta(0)
        second = await put_one(store, replace(first, message="x"))
        assert second.meta.created_at == first.meta.created_at
        assert second.meta.updated_at >= first.meta.updated_at

    async def test_caller_timestamps_are_ignored(self, store: StateStore) -> None:
        """A new object's timestamps are the store's clock, whatever the caller put in meta."""
        claimed = Meta(version=0, created_at=T0, updated_at=T0)  # T0 lies in the future
        stored = await put_one(store, replace(fresh_node("n1"), meta=claimed))
        assert stored.meta.created_at < T0
        assert stored.meta.updated_at < T0

    async def test_revision_counts_commits(self, store: StateStore) -> None:
        """The store revision grows with each commit, however many objects it holds."""
        start = store.revision
        await put(store, fresh_node("n1"), fresh_node("n2"))
        first = store.revision
        await put(store, fresh_node("n3"))
        assert start < first < store.revision


class TestDelete:
    async def test_delete_removes(self, store: StateStore, backend: Backend) -> None:
        """A deleted object is gone from reads and from disk."""
        n1 = await put_one(store, fresh_node("n1"))
        await store.commit([Delete(n1)])
        assert store.get(Node, "n1") is None
        assert store.objects(Node) == []
        assert await backend.persisted() == {}

    async def test_delete_of_a_missing_object(self, store: StateStore) -> None:
        """Deleting what is not there is NotFound."""
        with pytest.raises(NotFound):
            await store.commit([Delete(fresh_node("ghost"))])

    async def test_stale_delete_conflicts(self, store: StateStore) -> None:
        """A delete carrying an old version fails with Conflict; the object stays."""
        v1 = await put_one(store, fresh_node("n1"))
        v2 = await put_one(store, replace(v1, message="newer"))
        with pytest.raises(Conflict):
            await store.commit([Delete(v1)])
        assert store.get(Node, "n1") == v2

    async def test_unversioned_delete(self, store: StateStore) -> None:
        """A delete with version 0 removes whatever version is stored."""
        v1 = await put_one(store, fresh_node("n1"))
        await put(store, replace(v1, message="newer"))
        await store.commit([Delete(fresh_node("n1"))])
        assert store.get(Node, "n1") is None


class TestIndexes:
    async def test_tasks_of_service_and_on_node(self, store: StateStore) -> None:
        """Tasks are indexed by service and by node."""
        await put(
            store,
            fresh_task("a", 1, "n1", "s1"),
            fresh_task("b", 2, "n2", "s1"),
            fresh_task("c", 1, "n1", "s2"),
        )
        assert sorted(t.id for t in store.tasks_of_service("s1")) == ["a", "b"]
        assert sorted(t.id for t in store.tasks_of_service("s2")) == ["c"]
        assert sorted(t.id for t in store.tasks_on_node("n1")) == ["a", "c"]
        assert sorted(t.id for t in store.tasks_on_node("n2")) == ["b"]
        assert store.tasks_of_service("nope") == []
        assert store.tasks_on_node("nope") == []

    async def test_index_returns_the_current_version(self, store: StateStore) -> None:
        """After an update, the indexes hold the new object, not the old one."""
        [t] = await put(store, fresh_task("a", 1, "n1"))
        assert isinstance(t, Task)
        updated = await put_one(store, replace(t, desired_state=TaskState.SHUTDOWN))
        assert store.tasks_of_service("s1") == [updated]
        assert store.tasks_on_node("n1") == [updated]

    async def test_node_move(self, store: StateStore) -> None:
        """A task assigned to another node leaves the old node's index and joins the new one."""
        [t] = await put(store, fresh_task("a", 1, ""))
        assert isinstance(t, Task)
        moved = await put_one(store, replace(t, node_id="n1"))
        assert [x.id for x in store.tasks_on_node("n1")] == ["a"]
        assert store.tasks_on_node("") == []
        assert isinstance(moved, Task)
        await put(store, replace(moved, node_id="n2"))
        assert store.tasks_on_node("n1") == []
        assert [x.id for x in store.tasks_on_node("n2")] == ["a"]

    async def test_delete_leaves_the_indexes(self, store: StateStore) -> None:
        """A deleted task is in neither index."""
        [t] = await put(store, fresh_task("a", 1, "n1"))
        await store.commit([Delete(t)])
        assert store.tasks_of_service("s1") == []
        assert store.tasks_on_node("n1") == []

    async def test_indexes_are_rebuilt_on_reopen(self, backend: Backend) -> None:
        """After close and reopen, the indexes answer as before."""
        store = await backend.open()
        await put(store, fresh_task("a", 1, "n1"), fresh_task("b", 2, "n2"))
        await store.close()
        reopened = await backend.open()
        try:
            assert [t.id for t in reopened.tasks_on_node("n1")] == ["a"]
            assert sorted(t.id for t in reopened.tasks_of_service("s1")) == ["a", "b"]
        finally:
            await reopened.close()
