"""manager.store: versioned objects, atomic commits, indexes, watches and durability.

The store's contract: every test taking `store` or `backend` runs on SQLite and on etcd."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import pytest

from common.errors import Conflict, NotFound
from common.model import Cluster, Meta, Node, NodeState, Service, StoredObject, Task, TaskState
from manager.store import (
    Action,
    Delete,
    Event,
    Op,
    Put,
    ReadView,
    SqliteStore,
    StateStore,
    Watch,
)
from manager.store import sqlite as sqlite_store
from tests.unit.builders import T0, node, service, task
from tests.unit.stores import Backend

DEADLINE = 2.0
Obj = TypeVar("Obj", Node, Service, Task, Cluster)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "store.db"


def fresh_task(task_id: str, slot: int = 1, node_id: str = "", service_id: str = "s1") -> Task:
    """A task never stored yet (version 0)."""
    return replace(task(task_id, slot, node_id=node_id, service_id=service_id), meta=Meta())


def fresh_node(node_id: str) -> Node:
    return node(node_id)


def fresh_service(service_id: str = "s1", replicas: int = 1) -> Service:
    return replace(service(replicas, service_id=service_id), meta=Meta())


async def put(store: StateStore, *objs: StoredObject) -> list[StoredObject]:
    return await store.commit([Put(o) for o in objs])


async def put_one(store: StateStore, obj: Obj) -> Obj:
    """Store one object; the object as stored, of the same type."""
    [stored] = await put(store, obj)
    assert isinstance(stored, type(obj))
    return stored


async def next_events(watch: Watch, count: int) -> list[Event]:
    """Collect count events from watch, failing if they do not arrive within DEADLINE."""
    events: list[Event] = []
    async with asyncio.timeout(DEADLINE):
        while len(events) < count:
            events.extend(await watch.next_batch())
    return events


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


class TestConflicts:
    async def test_stale_put_is_refused(self, store: StateStore, backend: Backend) -> None:
        """A write carrying an old version fails with Conflict and changes nothing."""
        v1 = await put_one(store, fresh_node("n1"))
        v2 = await put_one(store, replace(v1, message="first writer"))
        revision = store.revision
        with pytest.raises(Conflict):
            await put(store, replace(v1, message="second writer"))
        assert store.get(Node, "n1") == v2
        assert store.revision == revision
        assert (await backend.persisted())[("node", "n1")] == 2

    async def test_stale_put_changes_nothing_on_disk(self, backend: Backend) -> None:
        """After a refused stale write and a reopen, the stored object is the last good one."""
        store = await backend.open()
        v1 = await put_one(store, fresh_node("n1"))
        v2 = await put_one(store, replace(v1, message="kept"))
        with pytest.raises(Conflict):
            await put(store, replace(v1, message="lost"))
        await store.close()
        reopened = await backend.open()
        try:
            assert reopened.get(Node, "n1") == v2
        finally:
            await reopened.close()

    async def test_creating_an_existing_object_conflicts(self, store: StateStore) -> None:
        """Putting version 0 (a create) over an existing object is a Conflict, not an overwrite."""
        await put(store, fresh_node("n1"))
        with pytest.raises(Conflict):
            await put(store, replace(fresh_node("n1"), message="again"))
        got = store.get(Node, "n1")
        assert got is not None
        assert got.message == ""

    async def test_update_of_a_missing_object_is_not_found(self, store: StateStore) -> None:
        """Putting version > 0 for an object that does not exist is NotFound."""
        with pytest.raises(NotFound):
            await put(store, replace(fresh_node("ghost"), meta=Meta(version=3)))
        assert store.get(Node, "ghost") is None

    async def test_multi_op_commit_is_atomic(self, store: StateStore, backend: Backend) -> None:
        """One bad op in a commit means none of its ops apply, in memory or on disk."""
        n1 = await put_one(store, fresh_node("n1"))
        revision = store.revision
        stale = replace(n1, meta=Meta(version=7))
        with pytest.raises(Conflict):
            await store.commit(
                [
                    Put(fresh_node("n2")),
                    Put(replace(n1, message="changed")),
                    Put(stale),
                ]
            )
        assert store.get(Node, "n2") is None
        assert store.get(Node, "n1") == n1
        assert store.revision == revision
        assert await backend.persisted() == {("node", "n1"): 1}

    async def test_no_event_for_a_refused_commit(self, store: StateStore) -> None:
        """Watchers see nothing of a commit that failed."""
        n1 = await put_one(store, fresh_node("n1"))
        watch = store.watch()
        with pytest.raises(Conflict):
            await store.commit([Put(fresh_node("n2")), Put(replace(n1, meta=Meta(version=9)))])
        await put(store, fresh_node("n3"))
        [event] = await next_events(watch, 1)
        assert event.obj.id == "n3"
        watch.close()

    async def test_two_writes_to_one_object_in_one_commit(self, store: StateStore) -> None:
        """Within a commit, a second Put of an object must carry the version the first gave."""
        [first, second] = await store.commit(
            [Put(fresh_node("n1")), Put(replace(fresh_node("n1"), message="x", meta=Meta(1)))]
        )
        assert (first.meta.version, second.meta.version) == (1, 2)
        got = store.get(Node, "n1")
        assert got is not None
        assert got.message == "x"


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


class TestTransact:
    async def test_plan_sees_current_state(self, store: StateStore) -> None:
        """The plan reads the state as of the transaction and its ops are committed."""
        await put(store, fresh_service("s1", replicas=2))

        def plan(view: ReadView) -> Sequence[Op]:
            svc = view.get(Service, "s1")
            assert svc is not None
            return [
                Put(fresh_task(f"t{i}", i, service_id=svc.id))
                for i in range(1, svc.spec.replicas + 1)
            ]

        stored = await store.transact(plan)
        assert sorted(o.id for o in stored) == ["t1", "t2"]
        assert len(store.tasks_of_service("s1")) == 2

    async def test_plan_can_abort(self, store: StateStore) -> None:
        """An exception raised by the plan propagates and nothing is written."""
        await put(store, fresh_node("n1"))
        revision = store.revision

        def plan(view: ReadView) -> Sequence[Op]:
            raise Conflict("changed my mind")

        with pytest.raises(Conflict, match="changed my mind"):
            await store.transact(plan)
        assert store.revision == revision
        # The store is still usable afterwards (the write lock was released).
        await put(store, fresh_node("n2"))
        assert store.get(Node, "n2") is not None

    async def test_concurrent_read_modify_write_loses_nothing(self, store: StateStore) -> None:
        """Twenty concurrent transactions incrementing one field all land: plans are serialized."""
        n = await put_one(store, fresh_node("n1"))
        assert isinstance(n, Node)

        def bump(view: ReadView) -> Sequence[Op]:
            current = view.get(Node, "n1")
            assert current is not None
            return [Put(replace(current, message=str(int(current.message or "0") + 1)))]

        await asyncio.gather(*(store.transact(bump) for _ in range(20)))
        got = store.get(Node, "n1")
        assert got is not None
        assert got.message == "20"
        assert got.meta.version == 21


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


class TestWatch:
    async def test_events_in_revision_order_with_old_and_new(self, store: StateStore) -> None:
        """Create, update and delete arrive in order, each with its revision and old object."""
        watch = store.watch()
        created = await put_one(store, fresh_node("n1"))
        revisions = [store.revision]
        updated = await put_one(store, replace(created, state=NodeState.READY))
        revisions.append(store.revision)
        await store.commit([Delete(updated)])
        revisions.append(store.revision)
        events = await next_events(watch, 3)
        watch.close()
        assert [(e.revision, e.action) for e in events] == list(
            zip(revisions, [Action.CREATE, Action.UPDATE, Action.DELETE], strict=True)
        )
        assert events[0].obj == created
        assert events[0].old is None
        assert events[1].obj == updated
        assert events[1].old == created
        assert events[2].obj == updated
        assert events[2].old == updated

    async def test_one_commit_one_revision(self, store: StateStore) -> None:
        """All events of one commit share its revision, in the order of the ops."""
        watch = store.watch()
        await put(store, fresh_node("a"), fresh_node("b"), fresh_node("c"))
        events = await next_events(watch, 3)
        watch.close()
        assert [e.obj.id for e in events] == ["a", "b", "c"]
        assert {e.revision for e in events} == {store.revision}

    async def test_watch_starts_from_now(self, store: StateStore) -> None:
        """A watch without since sees only what is committed after it was opened."""
        await put(store, fresh_node("before"))
        watch = store.watch()
        await put(store, fresh_node("after"))
        [event] = await next_events(watch, 1)
        watch.close()
        assert event.obj.id == "after"

    async def test_every_watcher_gets_every_event(self, store: StateStore) -> None:
        """Two watches both receive the same events."""
        first, second = store.watch(), store.watch()
        await put(store, fresh_node("n1"))
        assert [e.obj.id for e in await next_events(first, 1)] == ["n1"]
        assert [e.obj.id for e in await next_events(second, 1)] == ["n1"]
        first.close()
        second.close()

    async def test_closed_watch_gets_nothing(self, store: StateStore) -> None:
        """After close(), a watch receives no more events."""
        closed, open_ = store.watch(), store.watch()
        closed.close()
        await put(store, fresh_node("n1"))
        await next_events(open_, 1)
        open_.close()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await closed.next_batch()

    async def test_since_replays_missed_events(self, store: StateStore) -> None:
        """watch(since=r) first delivers every event after revision r, then live ones."""
        await put(store, fresh_node("n1"))
        mark = store.revision
        await put(store, fresh_node("n2"))
        second = store.revision
        await put(store, fresh_node("n3"), fresh_node("n4"))
        third = store.revision
        watch = store.watch(since=mark)
        await put(store, fresh_node("n5"))
        events = await next_events(watch, 4)
        watch.close()
        assert [(e.revision, e.obj.id) for e in events] == [
            (second, "n2"),
            (third, "n3"),
            (third, "n4"),
            (store.revision, "n5"),
        ]

    async def test_since_current_revision_replays_nothing(self, store: StateStore) -> None:
        """watch(since=current revision) behaves like a watch from now on."""
        await put(store, fresh_node("n1"))
        watch = store.watch(since=store.revision)
        await put(store, fresh_node("n2"))
        [event] = await next_events(watch, 1)
        watch.close()
        assert event.obj.id == "n2"

    async def test_since_beyond_history_is_refused(self, backend: Backend) -> None:
        """Resuming from a revision the store no longer remembers is a Conflict, not a gap."""
        store = await backend.open()
        start = store.revision
        await put(store, fresh_node("n1"))
        await put(store, fresh_node("n2"))
        await store.close()
        reopened = await backend.open()
        try:
            with pytest.raises(Conflict):
                reopened.watch(since=start)
        finally:
            await reopened.close()

    async def test_since_never_delivers_part_of_a_revision(
        self, backend: Backend, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """When history has dropped some events of a revision, resuming before it is refused.

        Otherwise a watcher would silently miss the dropped events. (HISTORY is shrunk to 3
        events so that the second commit evicts one event of the first.)
        """
        monkeypatch.setattr(backend.module, "HISTORY", 3)
        store = await backend.open()
        try:
            start = store.revision
            await put(store, fresh_node("a"), fresh_node("b"))  # 2 events
            await put(store, fresh_node("c"), fresh_node("d"))  # evicts "a"
            try:
                watch = store.watch(since=start)
            except Conflict:
                return  # refusing to resume is a correct answer
            replayed = await next_events(watch, 1)
            watch.close()
            ids = [e.obj.id for e in replayed]
            # The only other correct answer: every event after start, the create of a first.
            assert ids == ["a", "b", "c", "d"], f"watch(since=0) replayed {ids}: 'a' was lost"
        finally:
            await store.close()


class TestDurability:
    async def test_everything_survives_reopen(self, backend: Backend) -> None:
        """Every kind of object, its version and the revision are the same after a reopen."""
        store = await backend.open()
        stored = await put(
            store,
            fresh_node("n1"),
            fresh_service("s1"),
            fresh_task("t1", 1, "n1"),
            Cluster(id="c", digest="d" * 50, worker_secret="w" * 25, manager_secret="m" * 25),
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


class TestCancelledCaller:
    async def test_a_commit_cancelled_midway_still_lands_everywhere(
        self, store: StateStore, backend: Backend
    ) -> None:
        """A caller cancelled while its commit is on the way to disk (a client's deadline):
        the commit completes, in memory and for watchers as on disk."""
        watch = store.watch()
        revision = store.revision
        write = asyncio.ensure_future(store.commit([Put(fresh_node("n1"))]))
        await asyncio.sleep(0)  # let it take the lock and hand the write to the disk thread
        write.cancel()
        with pytest.raises(asyncio.CancelledError):
            await write
        [event] = await next_events(watch, 1)
        assert event.obj.id == "n1"
        assert store.get(Node, "n1") is not None
        assert store.revision > revision
        assert await backend.persisted() == {("node", "n1"): 1}
