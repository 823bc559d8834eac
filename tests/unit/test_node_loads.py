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
    PortConfig,
    PublishMode,
    Resources,
    Task,
    TaskState,
    TaskStatus,
)
from manager.node_loads import NodeLoads, node_infos
from manager.placement import PlacementLoop, _Tracked
from manager.scheduler import NodeInfo, schedule
from manager.store import Delete, Op, Put, SqliteStore, StateStore
from tests.unit.builders import node, task
from tests.unit.held_disk import HeldDisk

PROPERTIES = settings(max_examples=60, deadline=None, derandomize=True, database=None)
NODE_IDS = ("n1", "n2", "n3", "n4")
STATES = (
    TaskState.NEW,
    TaskState.PENDING,
    TaskState.ASSIGNED,
    TaskState.RUNNING,
    TaskState.FAILED,
    TaskState.SHUTDOWN,
)


def _by_node(infos: list[NodeInfo]) -> dict[str, NodeInfo]:
    return {info.node.id: info for info in infos}


def _fresh_task(rng: Random, number: int) -> Task:
    made = task(
        f"t{number}",
        number,
        service_id=rng.choice(("s1", "s2")),
        node_id=rng.choice(NODE_IDS),
        state=rng.choice(STATES),
    )
    ports = (PortConfig(target=80, published=rng.choice((0, 8080)), mode=PublishMode.HOST),)
    cpus = rng.choice((0, 10**9))
    return replace(made, meta=Meta(), ports=ports, reservations=Resources(nano_cpus=cpus))


def _write(rng: Random, store: StateStore, number: int) -> list[Op]:
    """One random write: nodes come and go and change, tasks are made, move through their
    states and between nodes, are wanted stopped and are deleted."""
    tasks = store.objects(Task)
    nodes = store.objects(Node)
    roll = rng.random()
    if roll < 0.15:
        new = node(rng.choice(NODE_IDS))
        stored = store.get(Node, new.id)
        if stored is not None and rng.random() < 0.4:
            return [Delete(stored)]
        labelled = replace(new, labels={"zone": rng.choice("ab")})
        return [Put(replace(labelled, meta=stored.meta if stored else Meta()))]
    if roll < 0.5 or not tasks:
        return [Put(_fresh_task(rng, number + i)) for i in range(rng.randint(1, 3))]
    picked = rng.choice(tasks)
    if roll < 0.6:
        return [Delete(picked)]
    if roll < 0.7 and nodes:
        return [Put(replace(picked, node_id=rng.choice(nodes).id))]
    if roll < 0.8:
        return [Put(replace(picked, desired_state=TaskState.SHUTDOWN))]
    return [Put(replace(picked, status=TaskStatus(state=rng.choice(STATES))))]


async def _writes(rng: Random, steps: int, path: Path) -> None:
    store = await SqliteStore.open(path)
    try:
        watch = store.watch()
        loads = NodeLoads(store)
        for number in range(steps):
            await store.commit(_write(rng, store, number * 10))
            if rng.random() < 0.3:
                # A pass planned now: it counts on copies, and what it is given stays as it was.
                infos = loads.infos()
                pending = [replace(_fresh_task(rng, 9000 + number), node_id="")]
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


async def test_a_pass_leaves_out_a_node_changed_by_a_write_not_yet_saved(tmp_path: Path) -> None:
    """A pass planned while a drain of a node is on its way to disk (staged before the pass,
    so the pass's view has it and the loads do not): the task does not go to that node, which
    its ID would have chosen."""
    store = await SqliteStore.open(tmp_path / "state.db")
    try:
        await store.commit([Put(replace(node(n), meta=Meta())) for n in ("a", "b")])
        await store.commit([Put(replace(task("t1"), meta=Meta()))])
        tracked = _Tracked(store)
        try:
            disk = HeldDisk(store)
            drained = store.get(Node, "a")
            assert drained is not None
            drain = asyncio.ensure_future(
                store.commit([Put(replace(drained, availability=Availability.DRAIN))])
            )
            await disk.in_write()
            placing = asyncio.ensure_future(PlacementLoop(store)._place(tracked))
            disk.release.release()
            await drain
            await disk.in_write()
            disk.release.release()
            await placing
            placed = store.get(Task, "t1")
            assert placed is not None
            assert (placed.node_id, placed.status.state) == ("b", TaskState.ASSIGNED)
        finally:
            tracked.close()
    finally:
        await store.close()
