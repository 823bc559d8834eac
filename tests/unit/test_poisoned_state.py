"""Stored objects that make the code raise (a spec from before a check existed, a status time in
year 1) cost only their own service: the loops log them and carry on with the others."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from common.model import Meta, Placement, RestartPolicy, StoredObject, Task, TaskState
from manager.allocator.stage import Allocator
from manager.orchestrator.loop import Orchestrator
from manager.placement import PlacementLoop
from manager.store import Put, SqliteStore
from tests.unit.builders import node, service, task
from tests.waiting import eventually

YEAR_1 = datetime(1, 1, 1, tzinfo=UTC)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = await SqliteStore.open(tmp_path / "state.db")
    try:
        yield opened
    finally:
        await opened.close()


def fresh(obj: StoredObject) -> Put:
    """A Put that creates obj (builders give objects as already stored)."""
    return Put(replace(obj, meta=Meta()))


async def test_poisoned_services_and_tasks_do_not_stop_the_loops(store: SqliteStore) -> None:
    bad = service(1, service_id="s-bad", name="bad")
    # Stored before constraints were checked: parsing it raises on every pass.
    bad = replace(bad, spec=replace(bad.spec, placement=Placement(constraints=("zone==b",))))
    old = service(1, service_id="s-old", name="old")
    old = replace(
        old, spec=replace(old.spec, restart=RestartPolicy(max_attempts=3, window=timedelta(60)))
    )
    # A status time in year 1, as a hostile agent once could report it.
    failed = task("t-old", service_id="s-old", node_id="n1", state=TaskState.FAILED)
    failed = replace(failed, status=replace(failed.status, timestamp=YEAR_1))
    await store.commit(
        [
            fresh(node("n1")),
            fresh(bad),
            fresh(service(2, service_id="s-good", name="good")),
            fresh(old),
            fresh(failed),
            fresh(task("t-bad", service_id="s-bad")),
        ]
    )
    loops = [
        asyncio.create_task(Orchestrator(store).run()),
        asyncio.create_task(Allocator(store).run()),
        asyncio.create_task(PlacementLoop(store).run()),
    ]
    try:

        def assigned(service_id: str) -> list[Task]:
            return [
                t
                for t in store.tasks_of_service(service_id)
                if t.status.state == TaskState.ASSIGNED and t.node_id == "n1"
            ]

        await eventually(lambda: len(assigned("s-good")) == 2, "the good service's 2 tasks")
        await eventually(lambda: len(assigned("s-old")) == 1, "the year-1 task's replacement")
        assert not any(loop.done() for loop in loops)
    finally:
        for loop in loops:
            loop.cancel()
        for loop in loops:
            with contextlib.suppress(asyncio.CancelledError):
                await loop
