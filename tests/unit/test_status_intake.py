"""Task reports into the store: keyed by (node, task), checked at intake, stamped on arrival."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from common.model import Network, PortBinding, Task, TaskState, TaskStatus
from manager.dispatcher.status import ROUND_LIMIT, StatusIntake
from manager.store import Put, SqliteStore
from tests.unit.builders import task
from tests.waiting import eventually

NETWORK = Network(id="n1", name="net", subnet="10.128.0.0/16", vni=4097, slices={"a": 1})


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = await SqliteStore.open(tmp_path / "state.db")
    try:
        yield opened
    finally:
        await opened.close()


async def _intake(store: SqliteStore, *updates: tuple[str, str, TaskStatus]) -> Task:
    """Submit the updates as one round, then the stored task t1."""
    intake = StatusIntake(store)
    for node_id, task_id, status in updates:
        intake.submit(node_id, [(task_id, status)])
    runner = asyncio.create_task(intake.run())
    try:
        await eventually(
            lambda: (t := store.get(Task, "t1")) is not None and t.meta.version > 1, "the write"
        )
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
    stored = store.get(Task, "t1")
    assert stored is not None
    return stored


async def test_another_nodes_report_does_not_displace_the_owners(store: SqliteStore) -> None:
    """b's FAILED for a's task, in the same round as a's RUNNING, used to replace it (same
    key, further state) and then be dropped for not being b's: a's report was lost."""
    await store.transact(
        lambda _: [Put(task("t1", node_id="a", state=TaskState.STARTING, version=0))]
    )
    stored = await _intake(
        store,
        ("a", "t1", TaskStatus(TaskState.RUNNING, container_id="c1")),
        ("b", "t1", TaskStatus(TaskState.FAILED, err="pwned")),
    )
    assert (stored.status.state, stored.status.container_id) == (TaskState.RUNNING, "c1")


async def test_fields_are_checked_and_the_time_is_the_managers(store: SqliteStore) -> None:
    owned = task("t1", node_id="a", state=TaskState.STARTING, version=0)
    await store.transact(lambda _: [Put(NETWORK), Put(replace(owned, networks=("n1",)))])
    before = datetime.now(UTC)
    stored = await _intake(
        store,
        (
            "a",
            "t1",
            TaskStatus(
                TaskState.RUNNING,
                timestamp=datetime(1, 1, 1, tzinfo=UTC),
                err="x" * 5000,
                container_id="c1",
                ports=(PortBinding(80, 70000), PortBinding(81, 30001, container_ip="172.17.0.2")),
                addresses={"n1": "10.128.1.7"},
            ),
        ),
    )
    assert stored.status.timestamp >= before
    assert len(stored.status.err) == 1024
    assert stored.status.ports == (PortBinding(81, 30001, container_ip="172.17.0.2"),)
    assert stored.status.addresses == {"n1": "10.128.1.7"}


async def test_a_burst_of_reports_is_written_in_bounded_rounds(store: SqliteStore) -> None:
    """More reports than a round takes: every one is written, none in a commit above the limit
    (a round of tens of thousands held Control calls for seconds)."""
    count = ROUND_LIMIT + ROUND_LIMIT // 2
    owned = [
        task(f"t{i}", i, node_id="a", state=TaskState.STARTING, version=0) for i in range(count)
    ]
    await store.transact(lambda _: [Put(t) for t in owned])
    sizes: list[int] = []
    store.on_commit = lambda _seconds, objects: sizes.append(objects)
    intake = StatusIntake(store)
    intake.submit("a", [(t.id, TaskStatus(TaskState.RUNNING, container_id="c")) for t in owned])
    runner = asyncio.create_task(intake.run())
    try:
        await eventually(
            lambda: all(
                (stored := store.get(Task, t.id)) is not None
                and stored.status.state == TaskState.RUNNING
                for t in owned
            ),
            "every report written",
        )
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
    assert sum(sizes) == count
    assert max(sizes) == ROUND_LIMIT
