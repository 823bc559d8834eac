"""Nodes that lose their manager together come back spread over the window it gave them (its
cluster's size), not all in the same instant: a restarted manager of 10,000 nodes could read
none of them while they all knocked at once. A session lost alone is tried again at once, also
one lost before its node had its assignments."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from agent.node import NodeAgent
from agent.runtime.fake import FakeRuntime
from common.netaddr import split_host_port
from tests.unit.fake_dispatchers import Behaviour, Fleet
from tests.waiting import eventually

NODES = 12
WINDOW = 6.0


def failures(agent: NodeAgent) -> float:
    found = agent.metrics.registry.get_sample_value("shoal_agent_session_failures_total")
    return found or 0.0


async def test_nodes_that_lost_their_manager_together_come_back_across_the_window(
    tmp_path: Path,
) -> None:
    """The manager goes, and is back once every node has found it gone and failed its at-once
    try: the nodes come back from half the window on, within the whole of it, and not all in
    the same half second."""
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
        failed = [failures(a) for a in agents]
        await fleet.kill(manager)
        gone = time.monotonic()
        await eventually(
            # The lost session, then the try at once after it: only later tries are spread.
            lambda: all(failures(a) > f + 1 for a, f in zip(agents, failed, strict=True)),
            "every node finding the manager gone, and failing the try after",
            10,
        )
        await fleet.start(behaviour, port=split_host_port(manager, 0)[1])
        restarted = fleet.dispatchers[manager]
        await eventually(
            lambda: all(a.connected.is_set() for a in agents) and restarted.sessions >= NODES,
            "every node back",
            WINDOW + 10,
        )
        back = sorted(at - gone for at in restarted.opened)
        assert back[0] >= WINDOW / 4
        # Twelve draws over at least 1.5 s land within half a second once in ten thousand.
        assert back[-1] - back[0] > 0.5
    finally:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        await fleet.close()


async def test_a_session_lost_alone_is_tried_again_at_once(tmp_path: Path) -> None:
    """The manager is still there (it ended this one session): the node is back well within
    the window, before a manager would take it for down."""
    fleet = Fleet(tmp_path)
    behaviour = Behaviour(leader=True, reconnect_within_ms=round(WINDOW * 1000))
    manager = await fleet.start(behaviour)
    dispatcher = fleet.dispatchers[manager]
    agent = NodeAgent("n1", manager, FakeRuntime(), "h1", fleet.agent_bundle("n1"), tmp_path)
    running = asyncio.create_task(agent.run())
    try:
        await eventually(lambda: dispatcher.sessions == 1, "the session", 20)
        dispatcher.end_sessions()
        ended = time.monotonic()
        await eventually(lambda: dispatcher.sessions == 2, "the session again", WINDOW)
        assert dispatcher.opened[-1] - ended < WINDOW / 4
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await fleet.close()


async def test_a_session_lost_before_its_assignments_is_tried_again_at_once(
    tmp_path: Path,
) -> None:
    """The manager took the session (its settings came) and the connection broke before the
    assignment set: the manager counts the node down 3 base periods after it answered, so the
    node is back at once, not after half the window."""
    fleet = Fleet(tmp_path)
    behaviour = Behaviour(
        leader=True, reconnect_within_ms=round(WINDOW * 1000), cut_after_settings=1
    )
    manager = await fleet.start(behaviour)
    dispatcher = fleet.dispatchers[manager]
    agent = NodeAgent("n1", manager, FakeRuntime(), "h1", fleet.agent_bundle("n1"), tmp_path)
    running = asyncio.create_task(agent.run())
    try:
        await eventually(lambda: agent.connected.is_set(), "the node connected", 20)
        assert dispatcher.sessions == 2
        assert dispatcher.opened[1] - dispatcher.opened[0] < WINDOW / 4
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await fleet.close()
