"""Liveness in a large cluster: the heartbeat period grows with the cluster within the detection
goals, and after a manager restart no node is marked down while the others are still coming
back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from agent.manager_channel import FATAL
from common.api import dispatcher_pb2 as dpb
from common.api import dispatcher_pb2_grpc
from common.model import Node, NodeDescription, NodeState
from manager.dispatcher.hostnames import HostnameIndex
from manager.dispatcher.liveness import (
    MISSED_BEATS,
    STARTUP_GRACE_BEATS,
    Liveness,
    period_for,
)
from manager.store import Action, Event, Put, SqliteStore
from tests.rogue import Rogue
from tests.unit.harness import Harness
from tests.waiting import eventually


def test_period_finds_a_lost_node_in_time_at_every_size() -> None:
    """3.5 s up to 100 nodes; 10 s at 10,000, with fewer beats a second than nodes."""
    assert period_for(1.0, 100) * MISSED_BEATS <= 3.5
    at_10k = period_for(1.0, 10_000)
    assert at_10k * MISSED_BEATS <= 10.0
    assert 10_000 / at_10k < 10_000
    assert period_for(1.0, 2_000) <= at_10k
    # A period the operator chose longer is kept.
    assert period_for(5.0, 10) == 5.0


def test_hostname_index_follows_renames_and_removals() -> None:
    """A name is found among its nodes only; a renamed or removed node no longer goes by it."""
    a = Node(id="a", description=NodeDescription(hostname="Web-1"))
    index = HostnameIndex([a, Node(id="b", description=NodeDescription(hostname="db"))])
    assert index.candidates("web-1") == {"a"}
    renamed = Node(id="a", description=NodeDescription(hostname="web-2"))
    index.follow(Event(1, Action.UPDATE, renamed, a))
    assert index.candidates("web-1") == set()
    assert index.candidates("WEB-2") == {"a"}
    index.follow(Event(2, Action.DELETE, renamed, renamed))
    assert index.candidates("web-2") == set()


async def test_no_node_down_while_others_still_reconnect(tmp_path: Path) -> None:
    """Sessions opening one after another past the startup grace keep the nodes yet to come back
    from being marked down; once they stop, a node that never came back is down."""
    store = await SqliteStore.open(tmp_path / "state.db")
    period = 0.5
    ids = [f"node-{i}" for i in range(24)]

    def nodes() -> list[Put]:
        return [Put(Node(id=i, description=NodeDescription(hostname=i))) for i in ids]

    await store.transact(lambda view: nodes())
    liveness = Liveness(store, period)
    sweeping = asyncio.create_task(liveness.run())
    try:
        # The first nodes come back two a period, for longer than the startup grace.
        start = time.monotonic()
        for node_id in ids[:-1]:
            liveness.connected(node_id)
            await asyncio.sleep(period / 2)
        assert time.monotonic() - start > STARTUP_GRACE_BEATS * period
        assert all(n.state is NodeState.UNKNOWN for n in store.objects(Node))

        def never_back_is_down() -> bool:
            node = store.get(Node, ids[-1])
            return node is not None and node.state is NodeState.DOWN

        await eventually(never_back_is_down, "the node that never came back marked down", 20)
        assert {n.id for n in store.objects(Node) if n.state is NodeState.DOWN} == {ids[-1]}
    finally:
        sweeping.cancel()
        await asyncio.gather(sweeping, return_exceptions=True)
        await store.close()


async def test_a_hello_that_comes_late_is_retried_not_refused(harness: Harness) -> None:
    """A session whose hello does not come within the wait (a manager or node swamped by
    thousands of reconnects) ends UNAVAILABLE, which the agent retries; INVALID_ARGUMENT stops
    an agent for good and is kept for a session that starts with something else."""
    node = await Rogue.joined(harness, "slow")
    async with grpc.aio.secure_channel(harness.addr, node.bundle.channel_credentials()) as ch:
        silent: asyncio.Queue[dpb.AgentMessage] = asyncio.Queue()

        async def nothing_yet() -> AsyncIterator[dpb.AgentMessage]:
            yield await silent.get()

        call = dispatcher_pb2_grpc.DispatcherStub(ch).Session(nothing_yet())
        with pytest.raises(grpc.aio.AioRpcError) as ended:
            async for _ in call:
                pass
        assert ended.value.code() == grpc.StatusCode.UNAVAILABLE
        assert ended.value.code() not in FATAL
