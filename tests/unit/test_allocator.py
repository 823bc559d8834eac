"""The allocator stage between the orchestrator and the scheduler, on a real store with the
manager's loops: tasks go NEW -> PENDING once their service holds what it asks for, and a node's
network slice comes in the transaction that assigns it a task, or the task stays pending."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from common.model import Meta, Network, NodeDescription, NodeState, StoredObject, Task, TaskState
from manager.allocator.stage import Allocator
from manager.orchestrator.loop import Orchestrator
from manager.placement import PlacementLoop
from manager.store import Event, Put, SqliteStore
from tests.unit.builders import node, service
from tests.waiting import eventually

NET = "net-front"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = await SqliteStore.open(tmp_path / "state.db")
    try:
        yield opened
    finally:
        await opened.close()


@contextlib.asynccontextmanager
async def loops(store: SqliteStore) -> AsyncIterator[None]:
    running = [
        asyncio.create_task(loop.run())
        for loop in (Orchestrator(store), Allocator(store), PlacementLoop(store))
    ]
    try:
        yield
    finally:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)


def fresh(obj: StoredObject) -> Put:
    return Put(replace(obj, meta=Meta()))


def host(node_id: str, address: str, state: NodeState = NodeState.READY, engine: str = "") -> Put:
    described = NodeDescription(data_addr=address, engine_id=engine)
    return fresh(replace(node(node_id, state=state), description=described))


def on_network(replicas: int) -> Put:
    s = service(replicas)
    return fresh(replace(s, spec=replace(s.spec, networks=(NET,))))


async def test_no_free_slice_keeps_the_task_pending_with_the_network_named(
    store: SqliteStore,
) -> None:
    # A /24 has 15 node slices: all held by nodes that are down, none left for n1.
    holders = [host(f"x{i}", f"10.77.0.{100 + i}", NodeState.DOWN) for i in range(1, 16)]
    full = Network(
        id=NET,
        name="frontend",
        subnet="10.128.0.0/24",
        vni=4096,
        slices={f"x{i}": i for i in range(1, 16)},
    )
    await store.commit([*holders, host("n1", "10.77.0.11"), fresh(full), on_network(1)])
    async with loops(store):

        def waiting() -> list[Task]:
            return [
                t
                for t in store.objects(Task)
                if t.status.state == TaskState.PENDING
                and "network frontend: no free address slice" in t.status.err
            ]

        await eventually(lambda: len(waiting()) == 1, "a pending task naming the network")
        [task] = waiting()
        assert task.node_id == ""
        assert task.status.err == (
            "no suitable node (15 nodes not ready; network frontend: no free address slice"
            " on 1 node)"
        )
        stored = store.get(Network, NET)
        assert stored is not None
        assert "n1" not in stored.slices


async def test_a_task_is_assigned_with_its_nodes_slice_in_one_transaction(
    store: SqliteStore,
) -> None:
    network = Network(id=NET, name="frontend", subnet="10.128.0.0/16", vni=4096)
    await store.commit([host("n1", "10.77.0.11"), fresh(network)])
    watch = store.watch()
    events: list[Event] = []
    try:
        async with loops(store):
            await store.commit([on_network(1)])

            async def collect() -> None:
                while not any(
                    isinstance(e.obj, Task) and e.obj.status.state == TaskState.ASSIGNED
                    for e in events
                ):
                    events.extend(await watch.next_batch())

            await asyncio.wait_for(collect(), 10)
    finally:
        watch.close()
    states = [e.obj.status.state for e in events if isinstance(e.obj, Task)]
    assert states[:3] == [TaskState.NEW, TaskState.PENDING, TaskState.ASSIGNED]
    [assigned] = [
        e for e in events if isinstance(e.obj, Task) and e.obj.status.state == TaskState.ASSIGNED
    ]
    [sliced] = [e for e in events if isinstance(e.obj, Network) and "n1" in e.obj.slices]
    # The agent's view holds the network from the revision that hands it the task.
    assert sliced.revision == assigned.revision
    assert isinstance(sliced.obj, Network)
    assert sliced.obj.slices == {"n1": 1}


async def test_nodes_sharing_an_engine_keep_a_network_to_the_one_that_holds_it(
    store: SqliteStore,
) -> None:
    """Two nodes on one engine (and one on another): the shared engine's network bridge is
    n1's, so n2 takes none of the service's tasks, and a task that could only go to n2 waits
    saying why instead of failing there."""
    network = Network(id=NET, name="frontend", subnet="10.128.0.0/16", vni=4096, slices={"n1": 1})
    nodes = [
        host("n1", "10.77.0.11", engine="E1"),
        host("n2", "10.77.0.12", engine="E1"),
        host("n3", "10.77.0.13", engine="E2"),
    ]
    await store.commit([*nodes, fresh(network), on_network(4)])
    async with loops(store):

        def placed() -> set[str]:
            return {t.node_id for t in store.objects(Task) if t.node_id}

        await eventually(lambda: len([t for t in store.objects(Task) if t.node_id]) == 4, "4")
        assert placed() == {"n1", "n3"}
        stored = store.get(Network, NET)
        assert stored is not None
        assert set(stored.slices) == {"n1", "n3"}


async def test_a_task_only_a_node_sharing_the_engine_could_take_waits_saying_why(
    store: SqliteStore,
) -> None:
    network = Network(id=NET, name="frontend", subnet="10.128.0.0/16", vni=4096, slices={"n1": 1})
    nodes = [
        host("n1", "10.77.0.11", NodeState.DOWN, engine="E1"),
        host("n2", "10.77.0.12", engine="E1"),
    ]
    await store.commit([*nodes, fresh(network), on_network(1)])
    async with loops(store):

        def waiting() -> list[Task]:
            return [
                t
                for t in store.objects(Task)
                if t.status.state == TaskState.PENDING
                and "network frontend: another node on the same Docker engine holds it (1 node)"
                in t.status.err
            ]

        await eventually(waiting, "a pending task naming the shared engine")
        assert all(not t.node_id for t in store.objects(Task))
