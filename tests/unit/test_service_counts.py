"""ServiceCounts: each service's running and live tasks kept from the store's events hold what a
count over the store's tasks gives, through any writes, read between its loop's turns."""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import replace
from pathlib import Path
from random import Random

from hypothesis import given, settings
from hypothesis import strategies as st

from common.model import Task, TaskState, TaskStatus
from common.taskstate import is_live
from manager.service_counts import ServiceCounts
from manager.store import Put, SqliteStore, StateStore
from tests.unit.random_writes import random_task, random_write
from tests.unit.store_objects import fresh_task

# random_task makes tasks of these.
SERVICE_IDS = ("s1", "s2")


def _counted(store: StateStore, service_id: str) -> tuple[int, int]:
    tasks = store.tasks_of_service(service_id)
    running = sum(
        1
        for t in tasks
        if t.desired_state == TaskState.RUNNING and t.status.state == TaskState.RUNNING
    )
    return running, sum(1 for t in tasks if is_live(t))


async def _writes(rng: Random, steps: int, path: Path) -> None:
    store = await SqliteStore.open(path)
    try:
        # Some tasks before the counts start, the rest after.
        await store.commit([Put(random_task(rng, n)) for n in range(rng.randint(0, 5))])
        counts = ServiceCounts(store)
        loop = asyncio.create_task(counts.run())
        try:
            for number in range(steps):
                await store.commit(random_write(rng, store, 100 + number * 10))
                if rng.random() < 0.5:
                    # The loop takes what came so far; else the read takes it.
                    await asyncio.sleep(0)
                for service_id in SERVICE_IDS:
                    kept = (counts.running(service_id), counts.live(service_id))
                    assert kept == _counted(store, service_id), service_id
        finally:
            loop.cancel()
    finally:
        await store.close()


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(st.randoms(use_true_random=False), st.integers(5, 60))
def test_counts_kept_from_events_match_a_count_of_the_tasks(rng: Random, steps: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        asyncio.run(_writes(rng, steps, Path(scratch) / "state.db"))


async def test_a_write_counts_when_read_right_after_it(tmp_path: Path) -> None:
    """Read right after each write, before the loop ran (it never does here): every write is
    counted, as a task is made, runs and is wanted stopped."""
    store = await SqliteStore.open(tmp_path / "state.db")
    try:
        counts = ServiceCounts(store)
        [made] = await store.commit([Put(fresh_task("t1", service_id="s1"))])
        assert isinstance(made, Task)
        assert (counts.running("s1"), counts.live("s1")) == (0, 1)
        [ran] = await store.commit([Put(replace(made, status=TaskStatus(TaskState.RUNNING)))])
        assert isinstance(ran, Task)
        assert (counts.running("s1"), counts.live("s1")) == (1, 1)
        await store.commit([Put(replace(ran, desired_state=TaskState.SHUTDOWN))])
        assert (counts.running("s1"), counts.live("s1")) == (0, 0)
        assert (counts.running("s2"), counts.live("s2")) == (0, 0)
    finally:
        await store.close()
