"""Placement through the real manager loops, with in-memory engines."""

from __future__ import annotations

import grpc
import pytest

from agent.runtime.fake import FakeRuntime
from common import convert
from common.api import control_pb2 as pb
from common.model import ContainerSpec, NodeState, Placement, ServiceSpec
from tests.unit.harness import Harness, eventually, eventually_true, running, wait_state


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

    await eventually_true(says_why, "the pending reason")
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
