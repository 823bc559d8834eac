"""manager.store: each event carries the time of its write, and a watch can resume from a time.

On each backend (the `store` and `backend` fixtures of tests/unit/conftest.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from common.errors import Conflict
from common.model import Node, now
from manager.store import Delete, Put, StateStore
from tests.unit.stores import Backend


class TestEventTimes:
    async def test_every_event_of_a_write_has_its_time(self, store: StateStore) -> None:
        """The events of one commit share its time, which is the stored objects' updated_at;
        a delete, which stores nothing, has the time of the delete itself."""
        watch = store.watch()
        a, b = await store.commit([Put(Node("a")), Put(Node("b"))])
        before_delete = now()
        await store.commit([Delete(a)])
        created, also_created, deleted = await watch.next_batch()
        watch.close()
        assert created.time == also_created.time == a.meta.updated_at == b.meta.updated_at
        assert deleted.time >= before_delete > created.time


class TestRevisionAt:
    async def test_the_revision_before_the_first_event_at_or_after(self, store: StateStore) -> None:
        """Watching from revision_at(t) replays exactly the events from t on."""
        await store.commit([Put(Node("a"))])
        [b] = await store.commit([Put(Node("b"))])
        await store.commit([Put(Node("c"))])
        watch = store.watch(store.revision_at(b.meta.updated_at))
        replayed = await watch.next_batch()
        watch.close()
        assert [e.obj.id for e in replayed] == ["b", "c"]

    async def test_a_time_after_every_event_replays_nothing(self, store: StateStore) -> None:
        await store.commit([Put(Node("a"))])
        assert store.revision_at(now() + timedelta(seconds=1)) == store.revision

    async def test_a_time_before_the_store_opened_is_refused(self, backend: Backend) -> None:
        """History lives in memory: the events of an earlier run are gone, so a time before the
        open would give a stream with a hole in it."""
        first = await backend.open()
        await first.commit([Put(Node("a"))])
        await first.close()
        reopened = await backend.open()
        try:
            with pytest.raises(Conflict, match="no longer kept"):
                reopened.revision_at(now() - timedelta(minutes=1))
        finally:
            await reopened.close()

    async def test_a_time_whose_events_the_history_dropped_is_refused(
        self, backend: Backend, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Once the history limit dropped an event, only times after it can be resumed from."""
        monkeypatch.setattr(backend.module, "HISTORY", 2)
        store = await backend.open()
        try:
            [a] = await store.commit([Put(Node("a"))])
            after_a = store.revision
            [b] = await store.commit([Put(Node("b"))])
            await store.commit([Put(Node("c"))])  # drops the create of a
            with pytest.raises(Conflict):
                store.revision_at(a.meta.updated_at)
            assert store.revision_at(b.meta.updated_at) == after_a
        finally:
            await store.close()
