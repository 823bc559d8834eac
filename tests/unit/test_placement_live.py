"""Placement through the real manager loops, with in-memory engines."""

from __future__ import annotations

import grpc
import pytest

from agent.runtime.fake import FakeRuntime
from common import convert
from common.api import control_pb2 as pb
from common.model import ContainerSpec, NodeState, Placement, ServiceSpec
from tests.unit.harness import Harness, running, wait_state
from tests.waiting import eventually


async def _pending_reason(h: Harness) -> str:
    tasks = (await h.control.ListTasks(pb.ListTasksRequest(service_ref="zoned"))).tasks
    return tasks[0].status.err if tasks else ""


async def test_a_pending_task_says_why_and_is_placed_when_a_label_appears(
    harness: Harness,
) -> None:
    """Constrained to zone=b with no such node, the task is pending with the reason; labelling
    a1 zone=b places it there, with no other action."""
    rt = FakeRuntime()
    await harness.join("a1", rt)
    await wait_state(harness, "a1", NodeState.READY)
    await wait_state(harness, "mgr", NodeState.READY)
    spec = ServiceSpec(
        name="zoned",
        container=ContainerSpec(image="local/busybox:latest"),
        placement=Placement(constraints=("node.labels.zone==b",)),
    )
    await harness.control.CreateService(pb.CreateServiceRequest(spec=convert.spec_to_pb(spec)))
    expected = "no suitable node (constraint node.labels.zone==b excluded 2 nodes)"

    async def says_why() -> bool:
        return await _pending_reason(harness) == expected

    await eventually(says_why, "the pending reason")
    node = (await harness.control.GetNode(pb.GetNodeRequest(ref="a1"))).node
    await harness.control.UpdateNode(
        pb.UpdateNodeRequest(node_id=node.id, version=node.meta.version, labels={"zone": "b"})
    )
    await eventually(lambda: len(running(rt)) == 1, "the task on a1")


async def test_a_malformed_constraint_is_refused(harness: Harness) -> None:
    """The manager refuses a constraint it cannot read, and stores nothing."""
    spec = ServiceSpec(
        name="bad",
        container=ContainerSpec(image="local/busybox:latest"),
        placement=Placement(constraints=("zone==b",)),
    )
    with pytest.raises(grpc.aio.AioRpcError, match="invalid constraint"):
        await harness.control.CreateService(pb.CreateServiceRequest(spec=convert.spec_to_pb(spec)))
    assert not (await harness.control.ListServices(pb.ListServicesRequest())).services


async def _label(h: Harness, ref: str, **labels: str) -> None:
    node = (await h.control.GetNode(pb.GetNodeRequest(ref=ref))).node
    await h.control.UpdateNode(
        pb.UpdateNodeRequest(
            node_id=node.id,
            version=node.meta.version,
            availability=node.availability,
            labels=labels,
        )
    )


async def test_a_node_that_stops_meeting_a_constraint_gives_its_tasks_up(
    harness: Harness,
) -> None:
    """Both nodes in zone b, one task there: its node's label removed, the task moves to the
    node that still meets the constraint."""
    rt = FakeRuntime()
    await harness.join("a1", rt)
    for name in ("a1", "mgr"):
        await wait_state(harness, name, NodeState.READY)
        await _label(harness, name, zone="b")
    spec = ServiceSpec(
        name="zoned",
        container=ContainerSpec(image="local/busybox:latest"),
        placement=Placement(constraints=("node.labels.zone==b",)),
    )
    await harness.control.CreateService(pb.CreateServiceRequest(spec=convert.spec_to_pb(spec)))
    engines = {"a1": rt, "mgr": harness.manager_runtime}
    await eventually(lambda: sum(len(running(e)) for e in engines.values()) == 1, "1 task")
    holder = next(name for name, engine in engines.items() if running(engine))
    other = "mgr" if holder == "a1" else "a1"
    await _label(harness, holder)
    await eventually(lambda: not running(engines[holder]), f"{holder} emptied")
    await eventually(lambda: len(running(engines[other])) == 1, f"the task on {other}")


async def test_plan_places_or_explains_and_stores_nothing(harness: Harness) -> None:
    """PlanService answers where each task would go, or why not, and writes nothing."""
    await harness.join("a1", FakeRuntime())
    for name in ("a1", "mgr"):
        await wait_state(harness, name, NodeState.READY)
    free = ServiceSpec(name="p", replicas=2, container=ContainerSpec(image="local/busybox:latest"))
    plan = await harness.control.PlanService(pb.CreateServiceRequest(spec=convert.spec_to_pb(free)))
    assert sorted(t.hostname for t in plan.tasks) == ["a1", "mgr"]
    assert all(not t.reason for t in plan.tasks)
    boxed = ServiceSpec(
        name="q",
        container=ContainerSpec(image="local/busybox:latest"),
        placement=Placement(constraints=("node.labels.zone==z",)),
    )
    plan = await harness.control.PlanService(
        pb.CreateServiceRequest(spec=convert.spec_to_pb(boxed))
    )
    [task] = plan.tasks
    assert (task.node_id, task.reason) == (
        "",
        "no suitable node (constraint node.labels.zone==z excluded 2 nodes)",
    )
    assert not (await harness.control.ListServices(pb.ListServicesRequest())).services
