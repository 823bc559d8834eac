"""NodeLoads: the nodes' loads kept from the store's events hold what a fresh node_infos reads,
through any writes, including tasks that name a node not (or no longer) stored."""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import replace
from pathlib import Path
from random import Random

from hypothesis import given, settings
from hypothesis import strategies as st

from common.model import (
    Availability,
    Meta,
    Node,
    Task,
    TaskState,
)
from manager.node_loads import NodeLoads, node_infos
from manager.placement import PlacementLoop, _Tracked
from manager.scheduler import NodeInfo, schedule
from manager.store import Put, SqliteStore
from tests.unit.builders import node, task
from tests.unit.random_writes import random_task, random_write

PROPERTIES = settings(max_examples=60, deadline=None, derandomize=True, database=None)


def _by_node(infos: list[NodeInfo]) -> dict[str, NodeInfo]:
    return {info.node.id: info for info in infos}


async def _writes(rng: Random, steps: int, path: Path) -> None:
    store = await SqliteStore.open(path)
    try:
        watch = store.watch()
        loads = NodeLoads(store)
        for number in range(steps):
            await store.commit(random_write(rng, store, number * 10))
            if rng.random() < 0.3:
                # A pass planned now: it counts on copies, and what it is given stays as it was.
                infos = loads.infos()
                pending = [replace(random_task(rng, 9000 + number), node_id="")]
                schedule(pending, infos)
            loads.follow(watch.queued())
            assert _by_node(loads.infos()) == _by_node(node_infos(store))
        watch.close()
    finally:
        await store.close()


@PROPERTIES
@given(st.randoms(use_true_random=False), st.integers(5, 60))
def test_loads_kept_from_events_match_a_fresh_read(rng: Random, steps: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        asyncio.run(_writes(rng, steps, Path(scratch) / "state.db"))


async def test_loads_start_from_what_the_store_holds(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "state.db")
    try:
        await store.commit([Put(replace(node("n1"), meta=Meta()))])
        placed = replace(task("t1", node_id="n1"), meta=Meta())
        # A task on a node not stored is not handed out, and counts once the node is stored.
        early = replace(task("t2", node_id="n2"), meta=Meta())
        await store.commit([Put(placed), Put(early)])
        watch = store.watch()
        loads = NodeLoads(store)
        assert [i.node.id for i in loads.infos()] == ["n1"]
        assert loads.infos()[0].tasks_by_service == {"svc1": 1}
        await store.commit([Put(replace(node("n2"), meta=Meta()))])
        loads.follow(watch.queued())
        assert _by_node(loads.infos())["n2"].tasks_by_service == {"svc1": 1}
        watch.close()
    finally:
        await store.close()


async def test_a_pass_plans_with_the_writes_its_loop_has_not_read(tmp_path: Path) -> None:
    """A pass that waited for the store plans with what was written meanwhile, though its loop
    has not read those events yet: a task made since is placed, and not on a node drained
    since (which its ID would have chosen)."""
    store = await SqliteStore.open(tmp_path / "state.db")
    try:
        await store.commit([Put(replace(node(n), meta=Meta())) for n in ("a", "b")])
        tracked = _Tracked(store)
        try:
            drained = store.get(Node, "a")
            assert drained is not None
            await store.commit([Put(replace(drained, availability=Availability.DRAIN))])
            await store.commit([Put(replace(task("t1"), meta=Meta()))])
            await PlacementLoop(store)._place(tracked)
            placed = store.get(Task, "t1")
            assert placed is not None
            assert (placed.node_id, placed.status.state) == ("b", TaskState.ASSIGNED)
        finally:
            tracked.close()
    finally:
        await store.close()
