"""Node availability and labels through the Control API, with in-memory engines."""

from __future__ import annotations

import grpc
import pytest

from agent.runtime.fake import FakeRuntime
from common.api import control_pb2 as pb
from common.api import types_pb2
from common.model import NodeState
from tests.unit.harness import Harness, running, wait_state
from tests.waiting import eventually


async def _set(
    h: Harness, ref: str, availability: types_pb2.NodeAvailability.ValueType, **labels: str
) -> types_pb2.Node:
    node = (await h.control.GetNode(pb.GetNodeRequest(ref=ref))).node
    request = pb.UpdateNodeRequest(
        node_id=node.id, version=node.meta.version, availability=availability, labels=labels
    )
    return (await h.control.UpdateNode(request)).node


async def test_drain_moves_tasks_and_active_takes_new_ones(harness: Harness) -> None:
    """Draining a1 moves its tasks to the manager's node; back to active, it gets new ones."""
    rt = FakeRuntime()
    await harness.join("a1", rt)
    await wait_state(harness, "a1", NodeState.READY)
    await harness.create("web", 4)
    await eventually(lambda: len(running(rt)) == 2, "2 tasks on a1")
    await _set(harness, "a1", types_pb2.NODE_AVAILABILITY_DRAIN)
    await eventually(lambda: not running(rt), "a1 emptied")
    await eventually(lambda: len(running(harness.manager_runtime)) == 4, "4 on the manager")
    await _set(harness, "a1", types_pb2.NODE_AVAILABILITY_ACTIVE)
    await harness.create("api", 2)
    # api spreads over both nodes: a1, empty, takes the first of its two tasks.
    await eventually(lambda: len(running(rt)) == 1, "a new task on a1 again")


async def test_pause_keeps_tasks_but_takes_no_new_ones(harness: Harness) -> None:
    """A paused node keeps what it runs; new tasks go elsewhere."""
    rt = FakeRuntime()
    await harness.join("a1", rt)
    await wait_state(harness, "a1", NodeState.READY)
    await harness.create("web", 2)
    await eventually(lambda: len(running(rt)) == 1, "1 task on a1")
    before = set(rt.containers_by_id)
    await _set(harness, "a1", types_pb2.NODE_AVAILABILITY_PAUSE)
    await harness.create("api", 2)
    await eventually(lambda: len(running(harness.manager_runtime)) == 3, "api on the manager")
    assert set(rt.containers_by_id) == before


async def test_labels_are_stored_and_a_stale_version_is_refused(harness: Harness) -> None:
    """UpdateNode replaces the labels; a write with a version read before it fails ABORTED."""
    await wait_state(harness, "mgr", NodeState.READY)
    node = (await harness.control.GetNode(pb.GetNodeRequest(ref="mgr"))).node
    updated = await _set(harness, "mgr", types_pb2.NODE_AVAILABILITY_ACTIVE, zone="a")
    assert dict(updated.labels) == {"zone": "a"}
    stale = pb.UpdateNodeRequest(node_id=node.id, version=node.meta.version, labels={"zone": "b"})
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await harness.control.UpdateNode(stale)
    assert caught.value.code() == grpc.StatusCode.ABORTED
    again = (await harness.control.GetNode(pb.GetNodeRequest(ref="mgr"))).node
    assert dict(again.labels) == {"zone": "a"}
