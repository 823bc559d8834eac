"""manager.store: compare-and-swap conflicts, transactions and callers cancelled mid-commit.

The store's contract: every test taking `store` or `backend` runs on SQLite and on etcd."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import replace

import pytest

from common.errors import Conflict, NotFound
from common.model import Meta, Node, Service
from manager.store import (
    Op,
    Put,
    ReadView,
    StateStore,
)
from tests.unit.store_objects import (
    fresh_node,
    fresh_service,
    fresh_task,
    next_events,
    put,
    put_one,
)
from tests.unit.stores import Backend


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

    async def test_an_urgent_write_goes_ahead_of_the_queued_ones(self, store: StateStore) -> None:
        """Writes queued behind one under way: an urgent one (a client waits on it) is planned
        and committed next, then the others in the order they came."""
        planned: list[str] = []
        watch = store.watch()

        def write(node_id: str) -> Callable[[ReadView], Sequence[Op]]:
            def plan(view: ReadView) -> Sequence[Op]:
                planned.append(node_id)
                return [Put(fresh_node(node_id))]

            return plan

        await asyncio.gather(
            store.transact(write("first")),
            store.transact(write("second")),
            store.transact(write("third")),
            store.transact(write("urgent"), urgent=True),
        )
        assert planned == ["first", "urgent", "second", "third"]
        assert [e.obj.id for e in await next_events(watch, 4)] == planned


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
