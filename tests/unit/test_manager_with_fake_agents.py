"""The manager and agents over real gRPC on loopback, with in-memory engines.

Fast checks of the session protocol: joins, spreading, assignments after a reconnect, node
states. The same paths run against a real engine in tests/integration.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.runtime.base import NODE_LABEL
from agent.runtime.fake import FakeRuntime
from common.api import control_pb2 as pb
from common.errors import Unauthenticated
from common.join_client import join
from common.model import Availability, NodeDescription, NodeState
from common.ports import join_addr
from tests.unit.harness import Harness, running, wait_state
from tests.waiting import eventually


async def test_replicas_spread_over_the_manager_and_two_agents(harness: Harness) -> None:
    """6 replicas on 3 nodes: two each, every container labelled with its own node."""
    engines = {"a1": FakeRuntime(), "a2": FakeRuntime()}
    ids = {name: await harness.join(name, rt) for name, rt in engines.items()}
    for hostname in ("mgr", "a1", "a2"):
        await wait_state(harness, hostname, NodeState.READY)
    await harness.create("web", 6)
    everyone = [harness.manager_runtime, *engines.values()]
    await eventually(lambda: sum(len(running(rt)) for rt in everyone) == 6, "6 containers")
    assert [len(running(rt)) for rt in everyone] == [2, 2, 2]
    for name, rt in engines.items():
        assert {c.spec.labels[NODE_LABEL] for c in rt.containers_by_id.values()} == {ids[name]}


async def test_drained_manager_runs_no_task(tmp_path: Path) -> None:
    """manager serve --availability drain: every replica lands on the agents."""
    h = Harness(tmp_path / "manager", availability=Availability.DRAIN)
    await h.start()
    try:
        rt = FakeRuntime()
        await h.join("a1", rt)
        await wait_state(h, "a1", NodeState.READY)
        await wait_state(h, "mgr", NodeState.READY)
        await h.create("web", 3)
        await eventually(lambda: len(running(rt)) == 3, "3 containers on the agent")
        assert not h.manager_runtime.containers_by_id
    finally:
        await h.halt()


async def test_wrong_secret_is_refused(harness: Harness) -> None:
    """A token with this cluster's digest but a wrong secret does not join."""
    token = (await harness.control.GetJoinToken(pb.GetJoinTokenRequest())).token
    wrong = token[:-25] + "0" * 25
    with pytest.raises(Unauthenticated, match="invalid join token"):
        await join(wrong, join_addr(harness.addr), NodeDescription(hostname="x"))


async def test_node_disconnected_then_down_then_back(harness: Harness) -> None:
    """A broken session: Disconnected at once, Down after 3 periods, Ready when it returns."""
    rt = FakeRuntime()
    node_id = await harness.join("a1", rt)
    await wait_state(harness, "a1", NodeState.READY)
    await harness.drop_agent(node_id)
    await wait_state(harness, "a1", NodeState.DISCONNECTED, within=1)
    await wait_state(harness, "a1", NodeState.DOWN)
    harness.run_agent(node_id, "a1", rt)
    await wait_state(harness, "a1", NodeState.READY)


async def test_work_removed_while_away_is_cleaned_on_return(harness: Harness) -> None:
    """A service removed while an agent was away: on reconnect its containers go."""
    rt = FakeRuntime()
    node_id = await harness.join("a1", rt)
    await wait_state(harness, "a1", NodeState.READY)
    await harness.create("web", 4)
    await eventually(lambda: len(running(rt)) == 2, "2 containers on the agent")
    await harness.drop_agent(node_id)
    await harness.control.RemoveService(pb.RemoveServiceRequest(ref="web"))
    await eventually(lambda: not harness.manager_runtime.containers_by_id, "manager's gone")
    assert len(running(rt)) == 2
    harness.run_agent(node_id, "a1", rt)
    await eventually(lambda: not rt.containers_by_id, "the returning agent's containers gone")
    tasks = (await harness.control.ListTasks(pb.ListTasksRequest())).tasks
    assert list(tasks) == []


async def test_manager_restart_keeps_nodes_and_agents_reconnect(harness: Harness) -> None:
    """After a manager restart on the same state dir the agents come back and nothing reruns."""
    rt = FakeRuntime()
    await harness.join("a1", rt)
    await wait_state(harness, "a1", NodeState.READY)
    await harness.create("web", 2)
    await eventually(lambda: len(running(rt)) == 1, "1 container on the agent")
    before = set(rt.containers_by_id)
    await harness.restart()
    await wait_state(harness, "a1", NodeState.READY)
    await wait_state(harness, "mgr", NodeState.READY)
    assert set(rt.containers_by_id) == before
    assert not [c for c in rt.calls if c.startswith(("stop", "remove"))]
