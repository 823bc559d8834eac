"""manager.mesh_backends and the feed that keeps it: which tasks answer a published port."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from common.mesh_view import IngressBackend, IngressPort
from common.model import (
    Meta,
    Node,
    NodeState,
    PortBinding,
    PortConfig,
    PortProtocol,
    PublishMode,
    Service,
    Task,
    TaskState,
)
from manager.dispatcher.mesh_feed import MeshFeed
from manager.mesh_backends import service_ports, serving_addresses
from manager.store import Delete, Put, SqliteStore
from tests.unit.builders import service, task
from tests.waiting import eventually

TCP = PortProtocol.TCP
T = TypeVar("T", Service, Task)


def web(*ports: PortConfig) -> Service:
    return replace(service(3), endpoint_ports=ports or (PortConfig(80, 8080),))


def serving(task_id: str, node_id: str, host_port: int, **kw: object) -> Task:
    t = task(task_id, node_id=node_id, **kw)  # type: ignore[arg-type]
    binding = PortBinding(80, host_port, TCP, "172.17.0.2")
    return replace(t, status=replace(t.status, ports=(binding,)))


def node(node_id: str, addr: str, state: NodeState = NodeState.READY) -> Node:
    return Node(id=node_id, addr=addr, state=state)


def fresh(obj: T) -> T:
    """As never stored, so a Put creates it."""
    return replace(obj, meta=Meta())


def backends(feed: MeshFeed) -> int:
    port = feed.ports.get("8080/tcp")
    return 0 if port is None else len(port.backends)


ADDRS = {"n1": "10.77.0.11", "n2": "10.77.0.12"}


class TestServicePorts:
    def test_running_tasks_on_ready_nodes(self) -> None:
        ports = service_ports(web(), [serving("a", "n1", 32768), serving("b", "n2", 32769)], ADDRS)
        assert ports == [
            IngressPort(
                "svc1",
                8080,
                TCP,
                (
                    IngressBackend("a", "n1", "10.77.0.11", 32768, "172.17.0.2", 80),
                    IngressBackend("b", "n2", "10.77.0.12", 32769, "172.17.0.2", 80),
                ),
            )
        ]

    def test_tasks_not_answering_drop_out(self) -> None:
        """Starting (or waiting to be healthy), shut down, failed, or on a node not ready."""
        tasks = [
            serving("starting", "n1", 1, state=TaskState.STARTING),
            serving("leaving", "n1", 2, desired=TaskState.SHUTDOWN),
            serving("failed", "n1", 3, state=TaskState.FAILED),
            serving("away", "n3", 4),
            serving("ok", "n2", 5),
        ]
        (port,) = service_ports(web(), tasks, ADDRS)
        assert [b.task_id for b in port.backends] == ["ok"]

    def test_host_ports_are_not_in_the_mesh(self) -> None:
        assert service_ports(web(PortConfig(80, 8080, mode=PublishMode.HOST)), [], ADDRS) == []

    def test_a_port_with_no_task_is_still_listed(self) -> None:
        """Empty, so every node knows the port is the service's yet closes it."""
        (port,) = service_ports(web(), [], ADDRS)
        assert port.backends == ()


class TestAddresses:
    def test_by_session_address_or_override(self) -> None:
        """The manager's own node connects over loopback: its advertised address stands in."""
        nodes = [node("m", "127.0.0.1"), node("n2", "10.77.0.12:4242")]
        assert serving_addresses(nodes, {"m": "10.77.0.11"}) == {
            "m": "10.77.0.11",
            "n2": "10.77.0.12",
        }

    def test_nodes_down_drop_out_nodes_away_for_a_moment_do_not(self) -> None:
        """Down: cut off or silent. Away but not yet down (its agent or the manager restarting):
        its containers keep running, so its tasks keep serving."""
        nodes = [
            node("down", "10.0.0.1", NodeState.DOWN),
            node("restarting", "10.0.0.2", NodeState.DISCONNECTED),
            node("after-manager-restart", "10.0.0.3", NodeState.UNKNOWN),
        ]
        assert set(serving_addresses(nodes, {})) == {"restarting", "after-manager-restart"}


async def test_feed_full_then_changes(tmp_path: Path) -> None:
    """A session gets the whole view, then each port that changed and those that went."""
    store = await SqliteStore.open(tmp_path / "state.db")
    try:
        await store.transact(lambda v: [Put(node("n1", "10.77.0.11")), Put(fresh(web()))])
        feed = MeshFeed(store)
        runner = asyncio.create_task(feed.run())
        await eventually(lambda: "8080/tcp" in feed.ports, "the port in the view")
        full, changes = feed.attach()
        assert [p.backends for p in full] == [()]
        await store.transact(lambda v: [Put(fresh(serving("a", "n1", 32768)))])
        changed = await asyncio.wait_for(changes.take(), 5)
        assert [b.host_port for b in changed["8080/tcp"].backends] == [32768]  # type: ignore[union-attr]
        await store.transact(lambda v: [Delete(v.get(Service, "svc1") or web())])
        assert await asyncio.wait_for(changes.take(), 5) == {"8080/tcp": None}
        runner.cancel()
    finally:
        await store.close()


async def test_feed_drops_the_tasks_of_a_node_that_left(tmp_path: Path) -> None:
    """A node removed from the cluster takes its tasks out of every node's rules at once,
    before the orchestrator has moved them."""
    store = await SqliteStore.open(tmp_path / "state.db")
    try:
        await store.transact(
            lambda v: [
                Put(node("n1", "10.77.0.11")),
                Put(node("n2", "10.77.0.12")),
                Put(fresh(web())),
                Put(fresh(serving("a", "n1", 32768))),
                Put(fresh(serving("b", "n2", 32769))),
            ]
        )
        feed = MeshFeed(store)
        runner = asyncio.create_task(feed.run())
        await eventually(lambda: backends(feed) == 2, "both tasks in")
        _, changes = feed.attach()
        await store.transact(lambda v: [Delete(v.get(Node, "n2") or node("n2", ""))])
        changed = await asyncio.wait_for(changes.take(), 5)
        port = changed["8080/tcp"]
        assert port is not None
        assert [b.task_id for b in port.backends] == ["a"]
        runner.cancel()
    finally:
        await store.close()
