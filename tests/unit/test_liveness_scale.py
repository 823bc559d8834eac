"""Liveness in a large cluster: the heartbeat period grows with the cluster within the detection
goals, and after a manager restart no node is marked down while the others are still coming
back."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from agent.manager_channel import FATAL
from common.api import control_pb2 as cpb
from common.api import dispatcher_pb2 as dpb
from common.api import dispatcher_pb2_grpc
from common.model import Node, NodeDescription, NodeState
from manager.dispatcher import pace as pace_module
from manager.dispatcher.hostnames import HostnameIndex
from manager.dispatcher.liveness import (
    MISSED_BEATS,
    RECONNECTS_PER_SECOND,
    STARTUP_GRACE_BEATS,
    STARTUP_GRACE_LIMIT,
    Liveness,
)
from manager.dispatcher.loop_lag import LoopLag
from manager.dispatcher.pace import moved, pace_for, period_for
from manager.store import Action, Event, Put, SqliteStore
from tests.rogue import Rogue, description
from tests.unit.harness import PERIOD, Harness, wait_state
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


def test_the_reconnect_window_grows_with_the_cluster_and_is_retold_at_doublings() -> None:
    """10,000 nodes come back over 20 s; a small cluster at once. The window is told again once
    it reaches a second, then each time it doubles, not at every join."""
    assert pace_for(1.0, 3).reconnect_within < 0.01
    assert pace_for(1.0, 10_000).reconnect_within == 20.0
    assert not moved(pace_for(1.0, 100), pace_for(1.0, 400), 1.0)
    assert moved(pace_for(1.0, 400), pace_for(1.0, 600), 1.0)
    assert not moved(pace_for(1.0, 600), pace_for(1.0, 900), 1.0)
    assert moved(pace_for(1.0, 600), pace_for(1.0, 1_100), 1.0)
    assert moved(pace_for(1.0, 1_100), pace_for(1.0, 500), 1.0)


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


async def stored_nodes(store: SqliteStore, count: int) -> list[str]:
    ids = [f"node-{i}" for i in range(count)]
    await store.transact(
        lambda view: [Put(Node(id=i, description=NodeDescription(hostname=i))) for i in ids]
    )
    return ids


@pytest.mark.parametrize(
    ("period", "count", "per_second", "past"),
    [
        # Past the startup grace of 6 periods, two nodes a period.
        (0.5, 24, 4.0, STARTUP_GRACE_BEATS * 0.5),
        # Past STARTUP_GRACE_LIMIT periods (10,000 nodes take minutes), at the floor rate the
        # grace allows for.
        (0.05, 200, RECONNECTS_PER_SECOND * 1.5, 2 * STARTUP_GRACE_LIMIT * 0.05),
    ],
    ids=["past-the-grace", "past-its-limit-of-periods"],
)
async def test_no_node_down_while_others_still_reconnect(
    tmp_path: Path, period: float, count: int, per_second: float, past: float
) -> None:
    """Sessions opening one after another for longer than the startup grace keep the nodes yet
    to come back from being marked down; once they stop, a node that never came back is down."""
    store = await SqliteStore.open(tmp_path / "state.db")
    ids = await stored_nodes(store, count)
    liveness = Liveness(store, period, LoopLag())
    sweeping = asyncio.create_task(liveness.run())
    try:
        start = time.monotonic()
        for node_id in ids[:-1]:
            liveness.connected(node_id)
            await asyncio.sleep(1 / per_second)
        assert time.monotonic() - start > past
        assert all(n.state is NodeState.UNKNOWN for n in store.objects(Node))
        # Those back are still among the returning, whose silence does not count yet (the
        # first connected before the term began, so it was never awaited).
        assert set(liveness.returning()) == set(ids[1:])

        def never_back_is_down() -> bool:
            node = store.get(Node, ids[-1])
            return node is not None and node.state is NodeState.DOWN

        await eventually(never_back_is_down, "the node that never came back marked down", 20)
        assert {n.id for n in store.objects(Node) if n.state is NodeState.DOWN} == {ids[-1]}
        assert not liveness.returning()
    finally:
        sweeping.cancel()
        await asyncio.gather(sweeping, return_exceptions=True)
        await store.close()


async def test_a_manager_that_stops_leading_awaits_no_node(tmp_path: Path) -> None:
    """The nodes a term awaits back are its own: once it ends (this manager a follower now,
    with no sessions to spare), none is counted as returning, and its gauge reads 0."""
    store = await SqliteStore.open(tmp_path / "state.db")
    ids = await stored_nodes(store, 3)
    liveness = Liveness(store, 0.05, LoopLag())
    leading = asyncio.create_task(liveness.run())
    try:
        await asyncio.sleep(0)  # the term begins: every node is awaited
        assert set(liveness.returning()) == set(ids)
        leading.cancel()
        await asyncio.gather(leading, return_exceptions=True)
        assert not liveness.returning()
    finally:
        leading.cancel()
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


async def test_a_session_is_told_the_longer_period_as_the_cluster_grows(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A node whose session opened in a small cluster beats at the period of the cluster it is
    in now, and the manager waits for its beats at that period: it is not found late."""
    # Eight beats a second for the whole cluster: ten nodes make the period 1.25 s.
    monkeypatch.setattr(pace_module, "MAX_BEATS_PER_SECOND", 8)
    first = await Rogue.joined(harness, "first")
    await first.open(description("first"))
    await eventually(lambda: bool(first.periods), "the first settings", 10)
    told = first.periods[0]
    others = [await Rogue.joined(harness, f"other-{i}") for i in range(8)]
    grown = round(period_for(PERIOD, 10) * 1000)
    assert grown > MISSED_BEATS * told
    try:
        await eventually(lambda: first.periods[-1] == grown, f"the period told as {grown} ms", 10)
        # Beats further apart than the first period allowed, within the new one.
        first.beat_every = (MISSED_BEATS * told + grown) / 2000
        beats = first.beats
        await eventually(lambda: first.beats >= beats + 3, "three slow beats", 10)
        assert first.ended is None
        await wait_state(harness, "first", NodeState.READY, within=1)
    finally:
        await first.close()
        for other in others:
            await other.close()


async def test_a_node_whose_new_session_waits_for_its_hello_is_not_down(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A node that answered in its session counts as gone 3 base periods after the session
    ends; back at once, with a hello slow to reach a busy manager, it counts as present from its
    new stream on, not taken for down while its hello is on the way."""
    # One beat a second for the whole cluster: two nodes make the period 2 s, so the manager
    # waits 6 s for a hello, and an answered node is gone after 0.9 s without a session.
    monkeypatch.setattr(pace_module, "MAX_BEATS_PER_SECOND", 1)
    node = await Rogue.joined(harness, "slow-hello")
    await node.open(description("slow-hello"))
    try:
        await wait_state(harness, "slow-hello", NodeState.READY)
        await eventually(lambda: node.beats >= 2, "its beats", 10)
        await node.close()
        await node.open(description("slow-hello"), hello_after=2 * MISSED_BEATS * PERIOD)
        hello = time.monotonic() + 2 * MISSED_BEATS * PERIOD
        while time.monotonic() < hello:
            assert (await harness.node_states())["slow-hello"] is not NodeState.DOWN
            await asyncio.sleep(PERIOD / 4)
        await wait_state(harness, "slow-hello", NodeState.READY)
        assert node.ended is None
    finally:
        await node.close()


async def test_a_session_is_told_the_wider_reconnect_window_as_the_cluster_grows(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A node whose session opened in a small cluster comes back after a restart spread over
    the window of the cluster it is in now."""
    # Four sessions a second: ten nodes make the window 2.5 s, two of them half a second.
    monkeypatch.setattr(pace_module, "SESSIONS_PER_SECOND", 4)
    first = await Rogue.joined(harness, "first")
    await first.open(description("first"))
    await eventually(lambda: bool(first.windows), "the first settings", 10)
    assert first.windows[0] < 1000
    others = [await Rogue.joined(harness, f"other-{i}") for i in range(8)]
    grown = round(pace_for(PERIOD, 10).reconnect_within * 1000)
    try:
        await eventually(lambda: first.windows[-1] == grown, f"the window told as {grown} ms", 10)
    finally:
        await first.close()
        for other in others:
            await other.close()


async def test_a_stall_of_the_managers_own_loop_is_not_its_nodes_silence(harness: Harness) -> None:
    """The manager's loop held up for longer than a node may stay silent (as when busy with a
    burst of tasks): the beats that come once it is back keep the node Ready. A node that really
    stops beating is still found down."""
    steady = await Rogue.joined(harness, "steady")
    quiet = await Rogue.joined(harness, "quiet")
    for node in (steady, quiet):
        await node.open(description("steady" if node is steady else "quiet"))
    try:
        await wait_state(harness, "steady", NodeState.READY)
        await wait_state(harness, "quiet", NodeState.READY)
        quiet.fall_silent()
        # Blocks the whole loop: the manager's, and the nodes' beside it.
        time.sleep(MISSED_BEATS * PERIOD + 1)  # noqa: ASYNC251 (the stall is the point)
        beats = steady.beats
        await eventually(lambda: steady.beats >= beats + 5, "steady beating again", 10)
        await wait_state(harness, "quiet", NodeState.DOWN)
        assert steady.ended is None
        await wait_state(harness, "steady", NodeState.READY, within=1)
    finally:
        await steady.close()
        await quiet.close()


async def test_a_returning_nodes_silence_counts_once_the_others_are_back(harness: Harness) -> None:
    """After a restart, a node whose session opened and then fell silent while others were
    still coming back is not marked down meanwhile (at 10,000 nodes its beats can be held up
    anywhere between it and a manager opening thousands of sessions); once they are all back
    and it stays silent 3 periods more, it is, as a heartbeat failure, and they are Ready."""
    silent = await Rogue.joined(harness, "silent")
    late = [(await Rogue.joined(harness, f"late-{i}"), f"late-{i}") for i in range(10)]
    everyone = [(silent, "silent"), *late]
    for rogue, name in everyone:
        await rogue.open(description(name))
        await wait_state(harness, name, NodeState.READY)
    for rogue, _ in everyone:
        await rogue.close()
    await harness.restart()
    await silent.open(description("silent"))
    silent.fall_silent()
    await wait_state(harness, "silent", NodeState.READY)
    opened = time.monotonic()
    try:
        # The others come back one every two periods: well past the startup grace and three
        # periods of the first one's silence.
        for rogue, name in late:
            await asyncio.sleep(2 * PERIOD)
            await rogue.open(description(name))
            assert (await harness.node_states())["silent"] is not NodeState.DOWN
        assert time.monotonic() - opened > (STARTUP_GRACE_BEATS + MISSED_BEATS) * PERIOD
        await wait_state(harness, "silent", NodeState.DOWN)
        nodes = (await harness.control.ListNodes(cpb.ListNodesRequest())).nodes
        silent_node = next(n for n in nodes if n.description.hostname == "silent")
        assert silent_node.message == "heartbeat failure"
        states = await harness.node_states()
        assert all(states[name] is NodeState.READY for _, name in late)
    finally:
        for rogue, _ in everyone:
            await rogue.close()


async def test_returning_nodes_are_awaited_while_their_first_answers_still_come(
    harness: Harness,
) -> None:
    """After a restart, every session opens at once but the nodes answer only one a period
    (at 1,000 nodes a node took up to 10 s to take in its task set and beat): none is
    marked down meanwhile, as the wait for them lasts while answers still come. Once the wait
    ends (a node that never came back is marked down), the silence of those still quiet counts
    from then: one that beats again within 3 periods stays Ready, one that never answers is
    down as a heartbeat failure."""
    rogues = {
        name: await Rogue.joined(harness, name)
        for name in ["gone", "mute", "pause", *(f"slow-{i}" for i in range(12))]
    }
    for name, rogue in rogues.items():
        await rogue.open(description(name))
        await wait_state(harness, name, NodeState.READY)
    for rogue in rogues.values():
        await rogue.close()
    await harness.restart()
    try:
        for name, rogue in rogues.items():
            if name != "gone":
                await rogue.open(description(name))
                rogue.fall_silent()
        opened = time.monotonic()
        for name, rogue in rogues.items():
            if name.startswith("slow-"):
                await asyncio.sleep(PERIOD)
                rogue.beat_again()
                states = await harness.node_states()
                assert not [n for n, s in states.items() if s is NodeState.DOWN], states
        assert time.monotonic() - opened > (STARTUP_GRACE_BEATS + MISSED_BEATS) * PERIOD
        await wait_state(harness, "gone", NodeState.DOWN)
        # Past the silence watch's next tick (half a period after the wait ended), and well
        # within 3 periods of it.
        await asyncio.sleep(PERIOD / 2)
        rogues["pause"].beat_again()
        await wait_state(harness, "mute", NodeState.DOWN)
        nodes = (await harness.control.ListNodes(cpb.ListNodesRequest())).nodes
        messages = {n.description.hostname: n.message for n in nodes}
        assert messages["mute"] == "heartbeat failure"
        assert messages["gone"] == "did not reconnect"
        states = await harness.node_states()
        assert {n for n, s in states.items() if s is NodeState.DOWN} == {"gone", "mute"}, states
    finally:
        for rogue in rogues.values():
            await rogue.close()


async def test_nodes_lost_together_are_down_after_3_base_periods_in_one_write(
    tmp_path: Path,
) -> None:
    """A hundred sessions of a 1,000-node cluster ending at once, their nodes having answered in
    them, are one write, not a hundred queued behind whatever else the store is writing, and are
    down after 3 of the period the manager was given, not of the longer one the cluster beats
    at."""
    base = 0.2
    store, liveness = await liveness_over(tmp_path, 1_000, base)
    assert liveness.session_period() == 1.0
    ids = [node.id for node in store.objects(Node)]
    for node_id in ids:
        liveness.connected(node_id)
        liveness.answered(node_id)
    lost = ids[:100]
    async with sweeping(store, liveness):
        before = store.revision
        closed = time.monotonic()
        for node_id in lost:
            liveness.disconnected(node_id, down=False)

        def all_down() -> bool:
            states = {n.id: n.state for n in store.objects(Node)}
            return all(states[i] is NodeState.DOWN for i in lost)

        await eventually(all_down, "every lost node down", 10)
        found = time.monotonic() - closed
        assert MISSED_BEATS * base <= found < MISSED_BEATS * liveness.session_period()
        assert store.revision == before + 1
        assert {n.message for n in store.objects(Node) if n.id in lost} == {
            "no session for 3 heartbeat periods"
        }
        assert not [
            n for n in store.objects(Node) if n.id not in lost and n.state is NodeState.DOWN
        ]


async def test_a_manager_held_up_as_it_starts_does_not_count_that_against_its_nodes(
    tmp_path: Path,
) -> None:
    """The loop held up for longer than the startup grace just as the term began: the nodes
    that come back once it runs again are not marked down for the time it could not take them."""
    store = await SqliteStore.open(tmp_path / "state.db")
    period = 0.1
    ids = await stored_nodes(store, 20)
    lag = LoopLag()
    liveness = Liveness(store, period, lag)
    watching = asyncio.create_task(lag.watch())
    sweeping = asyncio.create_task(liveness.run())
    try:
        await asyncio.sleep(0)
        before = store.revision
        held = (STARTUP_GRACE_BEATS + 2 * MISSED_BEATS) * period
        time.sleep(held)  # noqa: ASYNC251 (the point: the loop itself held up)
        # The agents held out meanwhile come in a period after the loop is back; the sweeps
        # due during the hold have run by then.
        await asyncio.sleep(period)
        for node_id in ids:
            liveness.connected(node_id)
        assert not [n.id for n in store.objects(Node) if n.state is NodeState.DOWN]
        assert store.revision == before
    finally:
        for task in (sweeping, watching):
            task.cancel()
        await asyncio.gather(sweeping, watching, return_exceptions=True)
        await store.close()


async def liveness_over(tmp_path: Path, nodes: int, base: float) -> tuple[SqliteStore, Liveness]:
    store = await SqliteStore.open(tmp_path / "state.db")
    ids = [f"node-{i}" for i in range(nodes)]
    await store.transact(
        lambda view: [
            Put(Node(id=i, description=NodeDescription(hostname=i), state=NodeState.READY))
            for i in ids
        ]
    )
    return store, Liveness(store, base, LoopLag())


@contextlib.asynccontextmanager
async def sweeping(store: SqliteStore, liveness: Liveness) -> AsyncIterator[None]:
    """The liveness sweeps running, their term begun (at their first step, forgetting sessions
    ended before it); the store is closed after."""
    sweeps = asyncio.create_task(liveness.run())
    try:
        await asyncio.sleep(0)
        yield
    finally:
        sweeps.cancel()
        await asyncio.gather(sweeps, return_exceptions=True)
        await store.close()


def state_of(store: SqliteStore, node_id: str) -> NodeState:
    node = store.get(Node, node_id)
    assert node is not None
    return node.state


async def test_a_node_that_never_answered_keeps_3_session_periods(tmp_path: Path) -> None:
    """A session that ended before its node said anything: the agent may be backing off over
    the reconnect window, so the node keeps 3 of the period the cluster beats at."""
    store, liveness = await liveness_over(tmp_path, 1_000, 0.2)
    for node in store.objects(Node):
        liveness.connected(node.id)
    async with sweeping(store, liveness):
        closed = time.monotonic()
        liveness.disconnected("node-0", down=False)
        await eventually(lambda: state_of(store, "node-0") is NodeState.DOWN, "node-0 down", 10)
        assert time.monotonic() - closed >= MISSED_BEATS * liveness.session_period()


async def test_a_returning_node_that_drops_counts_from_the_end_of_the_wait(
    tmp_path: Path,
) -> None:
    """After a start, a node back and gone again before the wait for the returning nodes ends
    is not down meanwhile: its absence counts from the end of the wait, as a silence does."""
    base = 0.2
    store, liveness = await liveness_over(tmp_path, 2, base)
    async with sweeping(store, liveness):
        liveness.connected("node-0")
        liveness.answered("node-0")
        liveness.disconnected("node-0", down=False)
        await eventually(lambda: not liveness.returning(), "the wait ended", 30)
        ended = time.monotonic()
        assert state_of(store, "node-0") is not NodeState.DOWN
        await eventually(lambda: state_of(store, "node-0") is NodeState.DOWN, "node-0 down", 10)
        # Less a sweep's half period: the wait ended at a sweep before it was seen to.
        assert time.monotonic() - ended >= MISSED_BEATS * base - base / 2
        assert state_of(store, "node-1") is NodeState.DOWN
