"""manager.store.sqlite: a write is planned while the writes before it are on their way to disk,
the writes queued meanwhile are saved together, and a failed disk write fails the writes planned
on top of it; view.Staged, the view those plans read."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.errors import Unavailable
from common.model import Node, Task
from manager.store import Delete, Op, Put, ReadView, SqliteStore
from manager.store.view import MemoryState, Staged, stage
from tests.unit.held_disk import DEADLINE, HeldDisk
from tests.unit.store_objects import fresh_node, fresh_task, next_events, put_one
from tests.waiting import eventually


@pytest.fixture
async def sqlite(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = await SqliteStore.open(tmp_path / "store.db")
    try:
        yield store
    finally:
        await store.close()


def bump(seen: list[str | None]) -> Callable[[ReadView], Sequence[Op]]:
    """A plan that reads node n1 as the view has it, says what it saw, and writes it back."""

    def plan(view: ReadView) -> Sequence[Op]:
        current = view.get(Node, "n1")
        assert current is not None
        seen.append(current.message)
        return [Put(replace(current, message=f"{current.message}+"))]

    return plan


async def test_writes_are_planned_on_the_ones_still_on_their_way_to_disk(
    sqlite: SqliteStore,
) -> None:
    """Two writes planned while the first is on disk: each sees what the writes before it
    staged; no other reader sees any before it is saved; the two are saved in one disk
    transaction, and every write lands in order with a revision of its own."""
    disk = HeldDisk(sqlite)
    watch = sqlite.watch()
    first = asyncio.ensure_future(sqlite.commit([Put(replace(fresh_node("n1"), message="a"))]))
    await disk.in_write()
    seen: list[str | None] = []
    second = asyncio.ensure_future(sqlite.transact(bump(seen)))
    third = asyncio.ensure_future(sqlite.transact(bump(seen)))
    await eventually(lambda: len(seen) == 2, "both writes planned", DEADLINE)
    assert seen == ["a", "a+"]
    assert sqlite.get(Node, "n1") is None
    assert sqlite.revision == 0
    assert watch.queued() == []

    disk.release.release()
    await first
    await disk.in_write()
    stored = sqlite.get(Node, "n1")
    assert stored is not None
    assert stored.message == "a"
    disk.release.release()
    [_], [after_third] = await asyncio.gather(second, third)

    assert disk.saved == [1, 2]
    assert isinstance(after_third, Node)
    assert after_third.message == "a++"
    assert after_third.meta.version == 3
    assert sqlite.get(Node, "n1") == after_third
    events = await next_events(watch, 3)
    assert [(e.revision, e.obj.meta.version) for e in events] == [(1, 1), (2, 2), (3, 3)]
    assert sqlite.revision == 3


async def test_a_failed_disk_write_fails_the_writes_planned_on_it(sqlite: SqliteStore) -> None:
    """The disk refuses a write: it and the write planned on top of it fail as unavailable,
    nothing of either is in memory, on disk or told to a watcher, and the next write is planned
    on what is saved alone and lands."""
    await put_one(sqlite, replace(fresh_node("n1"), message="a"))
    disk = HeldDisk(sqlite)
    watch = sqlite.watch()
    seen: list[str | None] = []
    first = asyncio.ensure_future(sqlite.transact(bump(seen)))
    await disk.in_write()
    second = asyncio.ensure_future(sqlite.transact(bump(seen)))
    await eventually(lambda: len(seen) == 2, "both writes planned", DEADLINE)
    disk.fail = True
    disk.release.release()
    for write in (first, second):
        with pytest.raises(Unavailable, match="could not save the change"):
            await write
    stored = sqlite.get(Node, "n1")
    assert stored is not None
    assert (stored.message, stored.meta.version) == ("a", 1)
    assert sqlite.revision == 1
    assert watch.queued() == []

    disk.fail = False
    third = asyncio.ensure_future(sqlite.transact(bump(seen)))
    await disk.in_write()
    disk.release.release()
    [after] = await third
    assert seen == ["a", "a+", "a"]
    assert isinstance(after, Node)
    assert (after.message, after.meta.version) == ("a+", 2)
    [event] = await next_events(watch, 1)
    assert event.revision == 2


async def test_closing_saves_what_is_queued(tmp_path: Path) -> None:
    """A store closed with writes on their way saves them first, and refuses writes after."""
    store = await SqliteStore.open(tmp_path / "store.db")
    disk = HeldDisk(store)
    writes = [asyncio.ensure_future(store.commit([Put(fresh_node("n0"))]))]
    await disk.in_write()
    writes += [asyncio.ensure_future(store.commit([Put(fresh_node(f"n{i}"))])) for i in (1, 2)]
    await eventually(lambda: len(store._queue) == 2, "two writes queued behind", DEADLINE)
    closing = asyncio.ensure_future(store.close())
    disk.release.release()
    await disk.in_write()
    disk.release.release()
    await closing
    assert [len(await w) for w in writes] == [1, 1, 1]
    assert disk.saved == [1, 2]
    with pytest.raises(Unavailable):
        await store.commit([Put(fresh_node("late"))])
    reopened = await SqliteStore.open(tmp_path / "store.db")
    try:
        assert sorted(n.id for n in reopened.objects(Node)) == ["n0", "n1", "n2"]
        assert reopened.revision == 3
    finally:
        await reopened.close()


# -- Staged alone: a view over the state equals the state with every staged write applied ------

_TASK_IDS = ("t1", "t2", "t3")
_NODE_IDS = ("x", "y")
_SERVICE_IDS = ("s1", "s2")

# One op: (task id, node, service) to put, or (task id, None, None) to delete.
_op = st.tuples(
    st.sampled_from(_TASK_IDS),
    st.none() | st.sampled_from(_NODE_IDS),
    st.sampled_from(_SERVICE_IDS),
)


def _ops(view: ReadView, wanted: list[tuple[str, str | None, str]]) -> list[Op]:
    """Each task at most once (the last wanted), as the view has it."""
    ops: list[Op] = []
    for task_id, (node_id, service_id) in {t: (n, s) for t, n, s in wanted}.items():
        current = view.get(Task, task_id)
        if node_id is None:
            if current is not None:
                ops.append(Delete(current))
            continue
        base = current if current is not None else fresh_task(task_id)
        ops.append(Put(replace(base, node_id=node_id, service_id=service_id)))
    return ops


def _assert_same(view: Staged, expected: MemoryState) -> None:
    def ids(tasks: list[Task]) -> list[tuple[str, int, str, str]]:
        return sorted((t.id, t.meta.version, t.node_id, t.service_id) for t in tasks)

    assert ids(view.objects(Task)) == ids(expected.objects(Task))
    for task_id in _TASK_IDS:
        assert view.get(Task, task_id) == expected.get(Task, task_id)
    for node_id in _NODE_IDS:
        assert ids(view.tasks_on_node(node_id)) == ids(expected.tasks_on_node(node_id))
    for service_id in _SERVICE_IDS:
        assert ids(view.tasks_of_service(service_id)) == ids(expected.tasks_of_service(service_id))


@settings(max_examples=80, deadline=None)
@given(writes=st.lists(st.lists(_op, min_size=1, max_size=4), max_size=8), saved=st.data())
def test_staged_reads_as_the_state_with_every_unsaved_write_applied(
    writes: list[list[tuple[str, str | None, str]]], saved: st.DataObject
) -> None:
    """Writes staged one after another, each planned on the view, and saved in order at random
    points: after every step the view reads as the saved state with the unsaved writes applied
    (gets, objects, tasks by node and by service), and once all are saved it holds nothing."""
    state, expected = MemoryState(), MemoryState()
    view = Staged(state)
    unsaved: list[tuple[int, list[Any]]] = []

    def save_oldest() -> None:
        number, events = unsaved.pop(0)
        for event in events:
            state.apply(event.action, event.obj)
        view.drop(events, number)

    for number, wanted in enumerate(writes, start=1):
        ops = _ops(view, wanted)
        if ops:
            events = stage(view, ops)
            view.add(events, number)
            unsaved.append((number, events))
            for event in events:
                expected.apply(event.action, event.obj)
        while unsaved:
            if not saved.draw(st.booleans(), label="save the oldest"):
                break
            save_oldest()
        _assert_same(view, expected)
    while unsaved:
        save_oldest()
        _assert_same(view, expected)
    assert not view
