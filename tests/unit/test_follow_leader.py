"""An agent among several managers: it holds its session with the leader, goes at once to the
leader a follower names, keeps the managers' list on disk, and finds the next leader within
seconds when the one it was on dies."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent.managers import FILE
from agent.node import NodeAgent
from agent.runtime.fake import FakeRuntime
from common.errors import NodePromoted
from common.tls import Bundle
from tests.unit.fake_dispatchers import Behaviour, Fleet
from tests.waiting import eventually


@pytest.fixture
async def fleet(tmp_path: Path) -> AsyncIterator[Fleet]:
    fleet = Fleet(tmp_path)
    yield fleet
    await fleet.close()


@contextlib.asynccontextmanager
async def agent_on(fleet: Fleet, state_dir: Path, first: str) -> AsyncIterator[NodeAgent]:
    agent = NodeAgent("n1", first, FakeRuntime(), "h1", fleet.agent_bundle("n1"), state_dir)
    task = asyncio.create_task(agent.run())
    try:
        yield agent
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def saved(state_dir: Path) -> list[str]:
    addrs: list[str] = json.loads((state_dir / FILE).read_text())["addrs"]
    return addrs


async def test_a_follower_sends_the_agent_to_the_leader(fleet: Fleet, tmp_path: Path) -> None:
    """The agent first reaches a follower: it refuses, naming the leader, and the agent opens
    its session there, and keeps the leader's list of managers on disk."""
    leader_behaviour = Behaviour(leader=True)
    leader = await fleet.start(leader_behaviour)
    follower = await fleet.start(Behaviour(leader=False, leader_addr=leader))
    leader_behaviour.managers = [leader, follower]
    state = tmp_path / "agent"
    async with agent_on(fleet, state, follower) as agent:
        await asyncio.wait_for(fleet.dispatchers[leader].live.wait(), 10)
        # Once, unless a connection attempt timed out on a loaded machine.
        assert fleet.dispatchers[follower].attempts >= 1
        assert agent.manager == leader
        await eventually(lambda: (state / FILE).exists(), "the managers' list on disk")
        assert saved(state) == [leader, follower]
        assert (state / FILE).stat().st_mode & 0o777 == 0o600


async def test_the_agent_is_on_the_new_leader_soon_after_its_election(
    fleet: Fleet, tmp_path: Path
) -> None:
    """The leader dies; the other manager, still a follower for a while, names the dead one;
    once it is elected the agent is on it within 2 s."""
    leader_behaviour = Behaviour(leader=True)
    leader = await fleet.start(leader_behaviour)
    heir_behaviour = Behaviour(leader=False, leader_addr=leader)
    heir = await fleet.start(heir_behaviour)
    leader_behaviour.managers = [leader, heir]
    async with agent_on(fleet, tmp_path / "agent", leader):
        await asyncio.wait_for(fleet.dispatchers[leader].live.wait(), 5)
        await fleet.kill(leader)
        # The election takes a while (etcd's lease is 2 s): the agent keeps trying meanwhile.
        await eventually(
            lambda: fleet.dispatchers[heir].attempts >= 3, "the agent trying the follower"
        )
        heir_behaviour.managers = [heir]
        heir_behaviour.leader = True
        elected = time.monotonic()
        await asyncio.wait_for(fleet.dispatchers[heir].live.wait(), 10)
        assert time.monotonic() - elected < 2.0


async def test_a_restarted_agent_starts_from_the_saved_leader(fleet: Fleet, tmp_path: Path) -> None:
    """The manager the node joined through is gone; the list on disk leads the agent to the
    leader straight away."""
    gone = await fleet.start(Behaviour(leader=True))
    await fleet.kill(gone)
    leader = await fleet.start(Behaviour(leader=True))
    other = await fleet.start(Behaviour(leader=False, leader_addr=leader))
    state = tmp_path / "agent"
    state.mkdir(mode=0o700)
    (state / FILE).write_text(json.dumps({"addrs": [leader, other]}))
    async with agent_on(fleet, state, gone) as agent:
        await asyncio.wait_for(fleet.dispatchers[leader].live.wait(), 5)
        assert agent.manager == leader
        assert fleet.dispatchers[other].attempts == 0


async def test_a_dead_leader_is_passed_over_for_the_next_manager(
    fleet: Fleet, tmp_path: Path
) -> None:
    """With the saved leader down, the agent goes on to the next manager in the list without
    waiting out a backoff, and a list with bad entries keeps the good ones."""
    dead = await fleet.start(Behaviour(leader=True))
    await fleet.kill(dead)
    alive = await fleet.start(Behaviour(leader=True))
    state = tmp_path / "agent"
    state.mkdir(mode=0o700)
    (state / FILE).write_text(json.dumps({"addrs": [dead, "no-port:", 7, alive]}))
    started = time.monotonic()
    async with agent_on(fleet, state, dead) as agent:
        await asyncio.wait_for(fleet.dispatchers[alive].live.wait(), 5)
        assert agent.manager == alive
        assert time.monotonic() - started < 2.0


async def test_a_promoted_node_hands_over_its_host(fleet: Fleet, tmp_path: Path) -> None:
    """Told it was promoted, the agent stops with NodePromoted (its caller goes on as a
    manager) and leaves its containers and identity for the manager to take over."""
    manager = await fleet.start(Behaviour(leader=True, promote=True))
    runtime = FakeRuntime()
    state = tmp_path / "agent"
    bundle = fleet.agent_bundle("n1")
    bundle.save(state)
    agent = NodeAgent("n1", manager, runtime, "h1", bundle, state)
    with pytest.raises(NodePromoted):
        await asyncio.wait_for(agent.run(), 10)
    assert fleet.dispatchers[manager].attempts == 1
    assert Bundle.present(state)
