"""A joined node that lies: crafted Session messages from a real node certificate, over mTLS.

Each test checks what the store keeps, what the other nodes are told (an observer node's own
session: its ingress and network views, and the netfilter rules its agent would write from
them), and that the manager keeps serving.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Network

import grpc
import pytest

from agent.mesh.rules import render
from common import convert
from common.api import control_pb2 as cpb
from common.api import types_pb2 as tpb
from common.model import (
    ContainerSpec,
    Placement,
    PortConfig,
    RestartPolicy,
    ServiceMode,
    ServiceSpec,
    Task,
    TaskState,
)
from tests.rogue import Rogue, binding, description, status
from tests.unit.harness import Harness
from tests.waiting import eventually

PUBLISHED = 8080


@dataclass
class Scene:
    h: Harness
    network_id: str
    rogue: Rogue
    watcher: Rogue

    async def task_of(self, task_id: str) -> Task:
        listed = await self.h.control.ListTasks(cpb.ListTasksRequest())
        return next(convert.task_from_pb(t) for t in listed.tasks if t.id == task_id)

    async def manager_serves(self) -> bool:
        assert self.h.task is not None
        assert not self.h.task.done()
        return bool((await self.h.control.ListNodes(cpb.ListNodesRequest())).nodes)


def own_task(node: Rogue) -> Task:
    live = [t for t in node.tasks.values() if t.desired_state == TaskState.RUNNING]
    assert len(live) == 1, live
    return live[0]


def host(node: Rogue, index: int) -> str:
    """A container address in node's slice of the network (past the gateway)."""
    assert node.network_view is not None
    return str(IPv4Network(node.network_view.networks[0].slice)[index])


@pytest.fixture
async def scene(harness: Harness) -> AsyncIterator[Scene]:
    """A global service on a network, publishing 8080, on two nodes: the rogue and a watcher
    that reports truthfully; both running."""
    network = (await harness.control.CreateNetwork(cpb.CreateNetworkRequest(name="net"))).network
    rogue = await Rogue.joined(harness, "rogue")
    watcher = await Rogue.joined(harness, "watcher")
    for node in (rogue, watcher):
        await node.open(description(node_name(node, rogue)))
    spec = ServiceSpec(
        name="web",
        mode=ServiceMode.GLOBAL,
        replicas=0,
        container=ContainerSpec(image="local/busybox:latest"),
        placement=Placement(constraints=("node.hostname!=mgr",)),
        ports=(PortConfig(target=80, published=PUBLISHED),),
        networks=(network.id,),
        restart=RestartPolicy(max_attempts=3, window=timedelta(hours=1)),
    )
    await harness.control.CreateService(cpb.CreateServiceRequest(spec=convert.spec_to_pb(spec)))
    for node in (rogue, watcher):
        await eventually(lambda n=node: n.tasks and n.network_view, "assignments and a slice")  # type: ignore[misc]
    scene = Scene(harness, network.id, rogue, watcher)
    for node, port in ((watcher, 30001), (rogue, 30002)):
        await node.report(
            (
                own_task(node).id,
                status(addresses={network.id: host(node, 5)}, ports=[binding(port)]),
            )
        )
    await eventually(
        lambda: len(watcher.ingress.get("8080/tcp", EMPTY).backends) == 2, "2 backends"
    )
    try:
        yield scene
    finally:
        await rogue.close()
        await watcher.close()


def node_name(node: Rogue, rogue: Rogue) -> str:
    return "rogue" if node is rogue else "watcher"


class _Empty:
    backends: tuple[object, ...] = ()


EMPTY = _Empty()


async def test_poisoned_addresses_and_ports_reach_neither_store_nor_other_nodes(
    scene: Scene,
) -> None:
    """Newlines, a foreign address, another node's slice, another network, port 70000: each
    is dropped at intake, the state change kept; the watcher's views and rules stay clean."""
    rogue, watcher, net = scene.rogue, scene.watcher, scene.network_id
    task = own_task(rogue)
    poisons = [
        {net: f"{host(rogue, 6)}\n-I PREROUTING 1 -j ACCEPT"},
        {net: "192.0.2.7"},
        {net: host(watcher, 9)},
        {"othernetwork": host(rogue, 7)},
    ]
    for i, addresses in enumerate(poisons):
        await rogue.report((task.id, status(container=f"p{i}", addresses=addresses)))
    await rogue.report(
        (task.id, status(container="p-ports", ports=[binding(70000), binding(30003, "1.2.3.4\nx")]))
    )
    await eventually(lambda: _stored_container(scene, task.id, "p-ports"), "the last report stored")
    stored = await scene.task_of(task.id)
    assert stored.status.state == TaskState.RUNNING
    assert stored.status.addresses == {}
    assert stored.status.ports == ()
    await eventually(lambda: len(watcher.ingress["8080/tcp"].backends) == 1, "rogue out of mesh")
    backends = watcher.ingress["8080/tcp"].backends
    assert [(b.node_id, b.host_port) for b in backends] == [(watcher.node_id, 30001)]
    assert watcher.network_view is not None
    await eventually(
        lambda: (
            watcher.network_view is not None
            and watcher.network_view.networks[0].endpoints[0].addresses == (host(watcher, 5),)
        ),
        "the watcher's view without the rogue's address",
    )
    rules = render(watcher.ingress.values(), watcher.node_id)
    for bad in ("192.0.2", "70000", "PREROUTING 1", "1.2.3.4"):
        assert bad not in rules
    assert await scene.manager_serves()


async def _stored_container(scene: Scene, task_id: str, container: str) -> bool:
    return (await scene.task_of(task_id)).status.container_id == container


@pytest.mark.parametrize("year", [1, 9999])
async def test_a_report_from_any_year_is_stamped_by_the_manager(scene: Scene, year: int) -> None:
    """A failure dated year 1 (which overflowed the restart window) or 9999 (which kept max
    attempts tripped for ever): stored at the manager's time, the slot restarted, the manager
    up."""
    rogue = scene.rogue
    first = own_task(rogue)
    before = datetime.now(UTC)
    await rogue.report(
        (first.id, status(tpb.TASK_STATE_FAILED, at=datetime(year, 1, 1, tzinfo=UTC), err="x"))
    )
    await eventually(lambda: own_task_id(rogue) not in ("", first.id), "a replacement", 15)
    stored = await scene.task_of(first.id)
    assert before <= stored.status.timestamp <= datetime.now(UTC)
    second = own_task(rogue)
    await rogue.report(
        (second.id, status(tpb.TASK_STATE_FAILED, at=datetime(year, 1, 1, tzinfo=UTC), err="y"))
    )
    await eventually(lambda: own_task_id(rogue) not in ("", second.id), "another one", 15)
    assert await scene.manager_serves()


def own_task_id(node: Rogue) -> str:
    live = [t.id for t in node.tasks.values() if t.desired_state == TaskState.RUNNING]
    return live[0] if len(live) == 1 else ""


async def test_reports_on_another_nodes_task_change_nothing(scene: Scene) -> None:
    """The rogue fails the watcher's task (IDs are in the ingress view): it stays running."""
    victim = own_task(scene.watcher)
    mine = own_task(scene.rogue)
    await scene.rogue.report(
        (victim.id, status(tpb.TASK_STATE_FAILED, err="pwned", container="z")),
        (mine.id, status(container="after")),
    )
    await eventually(lambda: _stored_container(scene, mine.id, "after"), "the rogue's own")
    stored = await scene.task_of(victim.id)
    assert (stored.status.state, stored.status.err) == (TaskState.RUNNING, "")
    assert own_task_id(scene.watcher) == victim.id


async def test_huge_strings_and_unknown_states_are_bounded(scene: Scene) -> None:
    """A 1 MB error is stored capped; a report in a state that does not exist is dropped and
    the session goes on."""
    mine = own_task(scene.rogue)
    await scene.rogue.report((mine.id, status(99, container="bogus")))  # type: ignore[arg-type]
    await scene.rogue.report(
        (mine.id, status(container="big", err="e" * 1_000_000, message="m" * 100_000))
    )
    await eventually(lambda: _stored_container(scene, mine.id, "big"), "the capped report")
    stored = await scene.task_of(mine.id)
    assert len(stored.status.err) <= 1024
    assert len(stored.status.message) <= 1024
    assert scene.rogue.ended is None
    assert await scene.manager_serves()


async def test_a_claimed_data_address_is_ignored(scene: Scene) -> None:
    """data_addr 192.0.2.7 in the hello: the node's data address is where its session comes
    from, and no other node is told to send overlay traffic to 192.0.2.7."""
    rogue = scene.rogue
    await rogue.close()
    await rogue.open(description("rogue", data_addr="192.0.2.7"))
    await eventually(lambda: rogue.messages > 0 and rogue.ended is None, "the session")
    await eventually(lambda: _node_data_addr(scene, rogue.node_id, "127.0.0.1"), "the peer address")
    assert scene.watcher.network_view is not None
    assert scene.watcher.network_view.networks[0].peers == ("127.0.0.1",)


async def _node_data_addr(scene: Scene, node_id: str, wanted: str) -> bool:
    node = (await scene.h.control.GetNode(cpb.GetNodeRequest(ref=node_id))).node
    return bool(node.description.data_addr == wanted and node.addr == wanted)


class TestDescription:
    async def test_another_live_nodes_hostname_is_refused(self, harness: Harness) -> None:
        """Claiming the manager's name (to attract node.hostname==mgr tasks) is refused while
        the manager's node is up; the node keeps the name it joined with."""
        rogue = await Rogue.joined(harness, "rogue")
        await rogue.open(description("MGR"))
        try:
            assert await rogue.wait_ended() == grpc.StatusCode.ABORTED
            assert "hostname MGR is taken by node" in rogue.ended_details
            node = (await harness.control.GetNode(cpb.GetNodeRequest(ref=rogue.node_id))).node
            assert node.description.hostname == "rogue"
        finally:
            await rogue.close()

    @pytest.mark.parametrize(
        ("hello", "why"),
        [
            (description("evil\nname"), "invalid hostname"),
            (description("a" * 64), "invalid hostname"),
            (description("-a.b"), "invalid hostname"),
            (description("x", resources=tpb.Resources(memory_bytes=-1)), "invalid memory"),
            (description("x", resources=tpb.Resources(nano_cpus=1 << 62)), "invalid CPU"),
            (description("x", os="l" * 10_000), "invalid os"),
        ],
    )
    async def test_out_of_bounds_descriptions_are_refused(
        self, harness: Harness, hello: tpb.NodeDescription, why: str
    ) -> None:
        rogue = await Rogue.joined(harness, "rogue")
        await rogue.open(hello)
        try:
            assert await rogue.wait_ended() == grpc.StatusCode.INVALID_ARGUMENT
            assert rogue.ended_details.startswith(why)
            assert "\n" not in rogue.ended_details
            node = (await harness.control.GetNode(cpb.GetNodeRequest(ref=rogue.node_id))).node
            assert node.description.hostname == "rogue"
        finally:
            await rogue.close()

    async def test_dotted_hostnames_are_accepted(self, harness: Harness) -> None:
        rogue = await Rogue.joined(harness, "rogue")
        await rogue.open(description("node-1.rack-2.example"))
        try:
            await eventually(lambda: rogue.messages > 0, "the session")
            node = (await harness.control.GetNode(cpb.GetNodeRequest(ref=rogue.node_id))).node
            await eventually(lambda: rogue.ended is None, "an open session")
            assert node.description.hostname in ("rogue", "node-1.rack-2.example")
        finally:
            await rogue.close()
