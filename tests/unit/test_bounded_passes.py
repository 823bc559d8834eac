"""The manager's loops in bounded passes: a burst is created and placed a limited number of
tasks per transaction (Control calls wait behind each one), and tasks that found no room never
hold up the ones behind them."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from common.model import Meta, Placement, Task, TaskState
from manager import placement
from manager.allocator.stage import Allocator
from manager.orchestrator import loop
from manager.orchestrator.loop import Orchestrator
from manager.placement import PlacementLoop
from manager.store import Put, SqliteStore, Watch
from tests.unit.builders import node, service
from tests.waiting import eventually

LIMIT = 10


@pytest.fixture
async def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[SqliteStore]:
    monkeypatch.setattr(placement, "PASS_LIMIT", LIMIT)
    monkeypatch.setattr(loop, "PASS_WRITES", LIMIT)
    opened = await SqliteStore.open(tmp_path / "state.db")
    try:
        yield opened
    finally:
        await opened.close()


@contextlib.asynccontextmanager
async def loops(store: SqliteStore) -> AsyncIterator[None]:
    running = [
        asyncio.create_task(each.run())
        for each in (Orchestrator(store), Allocator(store), PlacementLoop(store))
    ]
    try:
        yield
    finally:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)


async def assigned_per_commit(watch: Watch) -> Counter[int]:
    """How many tasks each revision seen so far assigned."""
    per_revision: Counter[int] = Counter()
    for event in await watch.next_batch():
        old, new = event.old, event.obj
        if isinstance(new, Task) and new.node_id and not (isinstance(old, Task) and old.node_id):
            per_revision[event.revision] += 1
    return per_revision


def placed(store: SqliteStore, service_id: str) -> int:
    return sum(
        1 for t in store.tasks_of_service(service_id) if t.status.state >= TaskState.ASSIGNED
    )


async def test_a_burst_is_placed_in_passes_of_at_most_the_limit(store: SqliteStore) -> None:
    replicas = 3 * LIMIT + 5
    await store.commit([Put(node(f"n{i}")) for i in range(3)])
    watch = store.watch()
    try:
        async with loops(store):
            await store.commit([Put(replace(service(replicas), meta=Meta()))])
            await eventually(lambda: placed(store, "svc1") == replicas, "every task placed")
        per_commit = await assigned_per_commit(watch)
    finally:
        watch.close()
    assert sum(per_commit.values()) == replicas
    assert max(per_commit.values()) == LIMIT


async def test_tasks_without_room_do_not_hold_up_the_rest(store: SqliteStore) -> None:
    """More tasks than a pass takes wait for a node that does not exist; a service created
    after them is placed all the same."""
    await store.commit([Put(node("n1"))])
    nowhere = service(2 * LIMIT, service_id="stuck", name="stuck")
    nowhere = replace(
        nowhere,
        meta=Meta(),
        spec=replace(nowhere.spec, placement=Placement(constraints=("node.hostname==gone",))),
    )
    async with loops(store):
        await store.commit([Put(nowhere)])

        def waiting() -> int:
            return sum(1 for t in store.tasks_of_service("stuck") if t.status.err)

        await eventually(lambda: waiting() == 2 * LIMIT, "the stuck tasks say why")
        await store.commit(
            [Put(replace(service(LIMIT + 3, service_id="ok", name="ok"), meta=Meta()))]
        )
        await eventually(lambda: placed(store, "ok") == LIMIT + 3, "the later service placed")
    assert placed(store, "stuck") == 0


async def created_per_commit(watch: Watch) -> Counter[int]:
    """How many tasks each revision seen so far created."""
    per_revision: Counter[int] = Counter()
    for event in await watch.next_batch():
        if isinstance(event.obj, Task) and event.old is None:
            per_revision[event.revision] += 1
    return per_revision


async def test_services_created_together_get_their_tasks_over_several_passes(
    store: SqliteStore,
) -> None:
    """Four services of 6 made at once: a pass stops taking services once it has the limit of
    writes (a service is never split), and the next pass takes the rest."""
    await store.commit([Put(node("n1"))])
    services = [
        Put(replace(service(6, service_id=f"s{i}", name=f"s{i}"), meta=Meta())) for i in range(4)
    ]
    watch = store.watch()
    try:
        await store.commit(services)
        async with loops(store):
            await eventually(
                lambda: all(placed(store, f"s{i}") == 6 for i in range(4)), "every task placed"
            )
        per_commit = await created_per_commit(watch)
    finally:
        watch.close()
    assert sum(per_commit.values()) == 24
    assert sorted(per_commit.values()) == [12, 12]
