"""An agent whose engine stops answering: the node is not ready, its tasks move, the agent lives
on, also through a manager restart, and the node is ready again when the engine returns."""

from __future__ import annotations

from agent.runtime.fake import FakeRuntime
from common.api import control_pb2 as pb
from common.model import NodeState
from tests.unit.harness import Harness, running, wait_state
from tests.waiting import eventually


async def test_engine_outage_and_return(harness: Harness) -> None:
    """Engine down: a1 Down and its task on mgr; the manager restarted meanwhile, a1's agent
    still reconnects; engine back: a1 Ready and its stale container gone."""
    rt = FakeRuntime()
    node_id = await harness.join("a1", rt)
    await wait_state(harness, "a1", NodeState.READY)
    await harness.create("web", 2)
    await eventually(lambda: len(running(rt)) == 1, "a task on a1")
    rt.stop_engine()
    await wait_state(harness, "a1", NodeState.DOWN)
    await eventually(lambda: len(running(harness.manager_runtime)) == 2, "both tasks on mgr")

    await harness.restart()
    await wait_state(harness, "mgr", NodeState.READY)
    await wait_state(harness, "a1", NodeState.DOWN)

    async def says_engine() -> bool:
        node = (await harness.control.GetNode(pb.GetNodeRequest(ref="a1"))).node
        return "docker engine not answering" in node.message

    # Down because its agent, reconnected, says its engine is away (not for missing the grace).
    await eventually(says_engine, "a1 to say its engine is away")
    assert not harness.agents[node_id].done()

    rt.down = False
    await wait_state(harness, "a1", NodeState.READY)
    await eventually(lambda: not rt.containers_by_id, "a1's stale container removed")
    assert len(running(harness.manager_runtime)) == 2
