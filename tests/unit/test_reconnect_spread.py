"""Nodes that lose their manager together come back spread over the window it gave them (its
cluster's size), not all in the same instant: a restarted manager of 10,000 nodes could read
none of them while they all knocked at once."""

from __future__ import annotations

import asyncio
from pathlib import Path

from agent.node import NodeAgent
from agent.runtime.fake import FakeRuntime
from common.netaddr import split_host_port
from tests.unit.fake_dispatchers import Behaviour, Fleet
from tests.waiting import eventually

NODES = 12
WINDOW = 3.0


async def test_nodes_that_lost_their_manager_together_come_back_across_the_window(
    tmp_path: Path,
) -> None:
    """The manager restarts at once on its port: the nodes come back within the window (and
    a backoff step), but not all in the same half second."""
    fleet = Fleet(tmp_path)
    behaviour = Behaviour(leader=True, reconnect_within_ms=round(WINDOW * 1000))
    manager = await fleet.start(behaviour)
    agents = [
        NodeAgent(
            f"n{i}",
            manager,
            FakeRuntime(),
            f"h{i}",
            fleet.agent_bundle(f"n{i}"),
            tmp_path / f"n{i}",
        )
        for i in range(NODES)
    ]
    running = [asyncio.create_task(agent.run()) for agent in agents]
    try:
        before = fleet.dispatchers[manager]
        await eventually(lambda: before.sessions == NODES, "every node's session", 20)
        await fleet.kill(manager)
        await fleet.start(behaviour, port=split_host_port(manager, 0)[1])
        restarted = fleet.dispatchers[manager]
        await eventually(
            lambda: all(a.connected.is_set() for a in agents) and restarted.sessions >= NODES,
            "every node back",
            WINDOW + 10,
        )
        back = sorted(restarted.opened)
        # Twelve draws within 3 s land within half a second of each other once in millions.
        assert back[-1] - back[0] > 0.5
    finally:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        await fleet.close()
