"""manager.store: watches and the revisions they resume from.

The store's contract: every test taking `store` or `backend` runs on SQLite and on etcd."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from common.errors import Conflict
from common.model import NodeState
from manager.store import (
    Action,
    Delete,
    StateStore,
)
from tests.unit.store_objects import (
    fresh_node,
    next_events,
    put,
    put_one,
)
from tests.unit.stores import Backend


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
