"""Global services through the real manager loops, with in-memory engines."""

from __future__ import annotations

from agent.runtime.fake import FakeRuntime
from common import convert
from common.api import control_pb2 as pb
from common.api import types_pb2
from common.model import ContainerSpec, NodeState, Resources, ServiceMode, ServiceSpec
from tests.unit.harness import Harness, running, wait_state
from tests.waiting import eventually

IMAGE = "local/busybox:latest"


def global_spec(name: str = "agentd", memory: int = 0) -> ServiceSpec:
    return ServiceSpec(
        name=name,
        container=ContainerSpec(image=IMAGE),
        mode=ServiceMode.GLOBAL,
        replicas=0,
        reservations=Resources(memory_bytes=memory),
    )


async def _drain(h: Harness, hostname: str) -> None:
    node = (await h.control.GetNode(pb.GetNodeRequest(ref=hostname))).node
    await h.control.UpdateNode(
        pb.UpdateNodeRequest(
            node_id=node.id,
            version=node.meta.version,
            availability=types_pb2.NODE_AVAILABILITY_DRAIN,
            labels=dict(node.labels),
        )
    )


async def test_a_global_service_follows_nodes_that_join_and_drain(harness: Harness) -> None:
    """One task on each node; a node that joins gets one; a drained node loses its own and no
    other node gets a second."""
    first = FakeRuntime()
    await harness.join("a1", first)
    for name in ("a1", "mgr"):
        await wait_state(harness, name, NodeState.READY)
    await harness.control.CreateService(
        pb.CreateServiceRequest(spec=convert.spec_to_pb(global_spec()))
    )
    engines = {"mgr": harness.manager_runtime, "a1": first}
    await eventually(lambda: all(len(running(e)) == 1 for e in engines.values()), "one each")

    second = FakeRuntime()
    await harness.join("a2", second)
    engines["a2"] = second
    await eventually(lambda: len(running(second)) == 1, "a task on the new node")

    await _drain(harness, "a1")
    await eventually(lambda: not running(first), "a1 emptied")

    async def two_of_two() -> bool:
        (view,) = (await harness.control.ListServices(pb.ListServicesRequest())).services
        return (view.running_tasks, view.desired_tasks) == (2, 2)

    await eventually(two_of_two, "2/2 in service ls")
    assert [len(running(engines[n])) for n in ("mgr", "a2")] == [1, 1]


async def test_a_node_without_room_keeps_a_pending_task_that_says_why(harness: Harness) -> None:
    """A node too small for the reservation gets a task pinned to it that waits, saying why,
    while the other node runs its own."""
    small = FakeRuntime(memory_bytes=64 << 20)
    await harness.join("small", small)
    for name in ("small", "mgr"):
        await wait_state(harness, name, NodeState.READY)
    spec = global_spec(memory=512 << 20)
    await harness.control.CreateService(pb.CreateServiceRequest(spec=convert.spec_to_pb(spec)))
    await eventually(lambda: len(running(harness.manager_runtime)) == 1, "the task on mgr")
    small_id = (await harness.control.GetNode(pb.GetNodeRequest(ref="small"))).node.id

    async def pending_on_small() -> bool:
        listing = await harness.control.ListTasks(pb.ListTasksRequest(service_ref="agentd"))
        return any(
            t.node_id == small_id
            and t.status.err == "no suitable node (insufficient memory on 1 node)"
            for t in listing.tasks
        )

    await eventually(pending_on_small, "the pending reason on the small node")
    assert not running(small)


async def test_plan_of_a_global_service_names_every_node(harness: Harness) -> None:
    """A dry run of a global service lists one task per node, with the reason where it can't."""
    await harness.join("small", FakeRuntime(memory_bytes=64 << 20))
    for name in ("small", "mgr"):
        await wait_state(harness, name, NodeState.READY)
    spec = global_spec(memory=512 << 20)
    plan = await harness.control.PlanService(pb.CreateServiceRequest(spec=convert.spec_to_pb(spec)))
    assert sorted((t.hostname, t.reason) for t in plan.tasks) == [
        ("mgr", ""),
        ("small", "no suitable node (insufficient memory on 1 node)"),
    ]


async def test_a_pending_task_does_not_hold_room_on_its_own_node(harness: Harness) -> None:
    """A node with room for one task of the reservation runs it: the task pinned to it, while
    pending, does not count against its own node."""
    roomy = FakeRuntime(memory_bytes=600 << 20)
    await harness.join("roomy", roomy)
    await wait_state(harness, "roomy", NodeState.READY)
    spec = global_spec(memory=512 << 20)
    await harness.control.CreateService(pb.CreateServiceRequest(spec=convert.spec_to_pb(spec)))
    await eventually(lambda: len(running(roomy)) == 1, "the task on the 600 MB node")
