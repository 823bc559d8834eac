"""A node removed while its agent runs: the manager says so on the session, and the agent takes
its containers, rules and networks off the host, forgets its identity and stops with one line.
A manager that is away, or a session replaced, takes nothing away."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc

from agent.mesh.fake import FakeTables
from agent.runtime.fake import FakeRuntime
from common import identity
from common.api import control_pb2 as pb
from common.errors import NodeRemoved
from common.model import NodeState
from common.tls import Bundle
from tests.rogue import Rogue, description
from tests.unit.harness import Harness, running, wait_state
from tests.waiting import eventually

GONE = (
    "this node was removed from the cluster; its containers, networks and rules are gone:"
    " join it again with a token"
)
# What gRPC's core says when it loses the status of a stream aborted under a pending read.
CORE_ERROR = "Internal error from Core"


class HostNetworks:
    """Stands for the node's VXLAN devices, network rules and engine networks."""

    def __init__(self) -> None:
        self.present = True

    async def remove(self) -> None:
        self.present = False


def _ours(tables: FakeTables) -> list[str]:
    """Chains and rules of the routing mesh on the host."""
    return [
        f"{chain}: {rule}"
        for chains in tables.tables.values()
        for chain, rules in chains.items()
        for rule in ["", *rules]
        if "SHOAL" in f"{chain} {rule}"
    ]


async def _node_with_a_task(
    h: Harness, rt: FakeRuntime, tables: FakeTables, host: HostNetworks
) -> str:
    node_id = await h.join("a1", rt, tables, host.remove)
    await wait_state(h, "a1", NodeState.READY)
    await h.create("web", 2)
    await eventually(lambda: len(running(rt)) == 1, "a task on a1")
    await eventually(lambda: bool(_ours(tables)), "the mesh's rules on a1")
    return node_id


async def _ended(h: Harness, node_id: str) -> BaseException | None:
    agent = h.agents.pop(node_id)
    await asyncio.wait_for(asyncio.wait([agent]), 10)
    return agent.exception()


def _has_identity(state: Path) -> bool:
    return identity.load(state) is not None and (state / "cert.pem").exists()


class TestRemovedWhileRunning:
    async def test_the_agent_clears_its_host_forgets_its_identity_and_stops(
        self, harness: Harness
    ) -> None:
        """node rm --force of a running node: its containers (running or not), mesh rules and
        networks go, its state dir holds no identity, and run() ends with the one line."""
        rt, tables, host = FakeRuntime(), FakeTables(), HostNetworks()
        node_id = await _node_with_a_task(harness, rt, tables, host)
        (container,) = rt.containers_by_id
        await rt.stop(container, 0)
        await eventually(
            lambda: len(running(rt)) == 1 and len(rt.containers_by_id) == 2,
            "the task replaced on a1, the stopped container kept",
        )
        await harness.control.RemoveNode(pb.RemoveNodeRequest(ref="a1", force=True))
        error = await _ended(harness, node_id)
        assert isinstance(error, NodeRemoved)
        assert str(error) == GONE
        assert rt.containers_by_id == {}
        assert _ours(tables) == []
        assert not host.present
        state = harness.state_dir.parent / "a1"
        assert identity.load(state) is None
        assert not (state / "cert.pem").exists()
        assert not (state / "key.pem").exists()
        assert "a1" not in await harness.node_states()

    async def test_on_a_shared_host_only_its_containers_go(self, harness: Harness) -> None:
        """With --no-routing-mesh (several nodes on one host), the host's rules and networks
        are not the node's: they stay, and the line says what went."""
        rt = FakeRuntime()
        node_id = await harness.join("a1", rt)
        await wait_state(harness, "a1", NodeState.READY)
        await harness.create("web", 2)
        await eventually(lambda: len(running(rt)) == 1, "a task on a1")
        await harness.control.RemoveNode(pb.RemoveNodeRequest(ref="a1", force=True))
        error = await _ended(harness, node_id)
        assert str(error) == (
            "this node was removed from the cluster; its containers are gone:"
            " join it again with a token"
        )
        assert rt.containers_by_id == {}
        assert identity.load(harness.state_dir.parent / "a1") is None

    async def test_a_node_removed_while_away_is_cleared_when_it_comes_back(
        self, harness: Harness
    ) -> None:
        """Removed while its agent was stopped (its containers kept running): the agent that
        starts again hears of it on its first session and clears the host."""
        rt, tables, host = FakeRuntime(), FakeTables(), HostNetworks()
        node_id = await _node_with_a_task(harness, rt, tables, host)
        await harness.drop_agent(node_id)
        await wait_state(harness, "a1", NodeState.DOWN)
        await harness.control.RemoveNode(pb.RemoveNodeRequest(ref="a1"))
        assert len(running(rt)) == 1
        harness.run_agent(node_id, "a1", rt, tables, host.remove)
        error = await _ended(harness, node_id)
        assert str(error) == GONE
        assert rt.containers_by_id == {}
        assert _ours(tables) == []
        assert not host.present
        assert identity.load(harness.state_dir.parent / "a1") is None

    async def test_an_engine_that_fails_keeps_the_identity_for_a_second_try(
        self, harness: Harness
    ) -> None:
        """Containers that cannot be removed are named in the line, and the identity stays so
        that `agent leave --force` (or the next run) can finish."""
        rt, tables, host = FakeRuntime(), FakeTables(), HostNetworks()
        node_id = await _node_with_a_task(harness, rt, tables, host)
        rt.stop_engine()
        await harness.control.RemoveNode(pb.RemoveNodeRequest(ref="a1", force=True))
        error = await _ended(harness, node_id)
        assert isinstance(error, NodeRemoved)
        assert str(error).startswith(
            "this node was removed from the cluster, but removing its containers ("
        )
        assert str(error).endswith("failed: `agent leave --force` finishes it")
        assert "\n" not in str(error)
        assert _has_identity(harness.state_dir.parent / "a1")
        # What could go did go.
        assert _ours(tables) == []
        assert not host.present


class TestNotRemoved:
    async def test_a_manager_away_takes_nothing(self, harness: Harness) -> None:
        """The manager stops and comes back: the agent reconnects with its containers and its
        identity untouched."""
        rt, tables, host = FakeRuntime(), FakeTables(), HostNetworks()
        node_id = await _node_with_a_task(harness, rt, tables, host)
        before = set(rt.containers_by_id)
        await harness.restart()
        await wait_state(harness, "a1", NodeState.READY)
        assert not harness.agents[node_id].done()
        assert set(rt.containers_by_id) == before
        assert len(running(rt)) == 1
        assert _ours(tables)
        assert host.present
        assert _has_identity(harness.state_dir.parent / "a1")

    async def test_a_replaced_session_takes_nothing(self, harness: Harness) -> None:
        """Another session of the same node (its certificate) replaces the agent's: the agent
        keeps its containers and identity, and gets its session back."""
        rt, tables, host = FakeRuntime(), FakeTables(), HostNetworks()
        node_id = await _node_with_a_task(harness, rt, tables, host)
        before = set(rt.containers_by_id)
        state = harness.state_dir.parent / "a1"
        twin = Rogue(node_id, Bundle.load(state), harness.addr)
        await twin.open(description("a1"))
        try:
            # The agent, cut off, reconnects and replaces the twin in turn. About once in a
            # hundred runs gRPC's core ends a stream aborted while a read of it is pending with
            # INTERNAL instead of the status sent (agents saw it in the soak too, and retry on
            # either): the twin's session is over all the same.
            ended = await twin.wait_ended()
            assert (ended, twin.ended_details) == (
                grpc.StatusCode.ABORTED,
                "replaced by a newer session of the same node",
            ) or (ended, twin.ended_details) == (grpc.StatusCode.INTERNAL, CORE_ERROR)
        finally:
            await twin.close()
        await wait_state(harness, "a1", NodeState.READY)
        assert not harness.agents[node_id].done()
        assert set(rt.containers_by_id) == before
        assert _ours(tables)
        assert host.present
        assert _has_identity(state)


async def test_the_session_says_removed_before_it_is_refused(harness: Harness) -> None:
    """What an agent of an older release sees: a message it does not know, then
    PERMISSION_DENIED, on which it stops as it always did."""
    node = await Rogue.joined(harness, "old")
    await node.open(description("old"))
    try:
        await eventually(lambda: node.messages > 0, "the session open")
        await harness.control.RemoveNode(pb.RemoveNodeRequest(ref="old", force=True))
        assert await node.wait_ended() == grpc.StatusCode.PERMISSION_DENIED
        assert "was removed from the cluster" in node.ended_details
        assert node.kinds[-1] == "removed"
        assert node.kinds.count("removed") == 1
    finally:
        await node.close()
