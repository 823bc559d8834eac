"""A node's role through the real Control API on a single manager kept in SQLite: no node can
be promoted there (a second manager needs etcd), the only manager cannot be demoted, and a
manager that is up leaves the manager set by demotion only, not by `node rm --force`. Nothing
refused changes the store."""

from __future__ import annotations

import grpc
import pytest

from agent.runtime.fake import FakeRuntime
from common.api import control_pb2 as pb
from common.api import types_pb2
from common.model import NodeState
from tests.unit.harness import Harness, wait_state


async def roles(h: Harness) -> dict[str, int]:
    nodes = (await h.control.ListNodes(pb.ListNodesRequest())).nodes
    return {n.description.hostname: n.role for n in nodes}


async def set_role(h: Harness, ref: str, role: types_pb2.NodeRole.ValueType) -> None:
    node = (await h.control.GetNode(pb.GetNodeRequest(ref=ref))).node
    await h.control.UpdateNode(
        pb.UpdateNodeRequest(
            node_id=node.id,
            version=node.meta.version,
            availability=node.availability,
            labels=node.labels,
            role=role,
        )
    )


async def test_promotion_on_sqlite_says_to_move_onto_etcd(harness: Harness) -> None:
    await harness.join("w1", FakeRuntime())
    await wait_state(harness, "w1", NodeState.READY)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await set_role(harness, "w1", types_pb2.NODE_ROLE_MANAGER)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "move it onto etcd first" in (refused.value.details() or "")
    assert (await roles(harness))["w1"] == types_pb2.NODE_ROLE_WORKER


async def test_the_only_manager_is_not_demoted(harness: Harness) -> None:
    await wait_state(harness, "mgr", NodeState.READY)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await set_role(harness, "mgr", types_pb2.NODE_ROLE_WORKER)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert refused.value.details() == "attempting to demote the last manager of the cluster"
    assert (await roles(harness))["mgr"] == types_pb2.NODE_ROLE_MANAGER
