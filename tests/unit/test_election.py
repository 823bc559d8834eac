"""Leader election among managers sharing an etcd prefix, against a real etcd member: one
leads and writes, the others refuse writes; a leader cut off from etcd stops acting before its
lease ends and another takes over; a deposed leader's write is refused by etcd itself."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from common.api.etcd import rpc_pb2
from common.errors import Unavailable
from common.model import Node
from manager.leadership import Election, Keys, Leader, ManagerSet, follow_leases
from manager.leadership.keys import encode_leader
from manager.store import EtcdStore, Put
from manager.store.etcd_client import EtcdClient
from tests.relay import Relay
from tests.unit.test_store_etcd import fresh_node
from tests.waiting import eventually

pytestmark = pytest.mark.etcd

LEASE = 2


@dataclass
class Candidate:
    """One manager's part in the election: its store, its view, its running tasks."""

    store: EtcdStore
    managers: ManagerSet
    terms: int = 0
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.store.close()


@pytest.fixture
async def candidates(
    etcd_endpoint: str,
) -> AsyncIterator[Callable[..., Awaitable[Candidate]]]:
    prefix = f"/test-{uuid.uuid4().hex[:12]}"
    started: list[Candidate] = []

    async def start(
        node_id: str, *, endpoint: str = etcd_endpoint, lease: int = LEASE, watch: bool = True
    ) -> Candidate:
        store = await EtcdStore.open([endpoint], prefix)
        candidate = Candidate(store, ManagerSet(node_id, f"{node_id}.test:7462"))
        keys = Keys(prefix)

        async def term() -> None:
            candidate.terms += 1
            await asyncio.Event().wait()

        if watch:
            candidate.tasks.append(
                asyncio.create_task(follow_leases(store.client, keys, candidate.managers))
            )
        election = Election(store, keys, candidate.managers, lease, term)
        candidate.tasks.append(asyncio.create_task(election.run()))
        started.append(candidate)
        return candidate

    yield start
    for candidate in started:
        await candidate.stop()


async def write(candidate: Candidate, node_id: str) -> None:
    await candidate.store.commit([Put(fresh_node(node_id))])


async def test_one_leads_and_writes_the_others_follow_and_refuse_writes(
    candidates: Callable[..., Awaitable[Candidate]],
) -> None:
    a = await candidates("a")
    await eventually(a.managers.leads, "a to lead", within=10)
    b, c = await candidates("b"), await candidates("c")
    for follower in (b, c):
        await eventually(follower.managers.leader, "the leader known")
        assert follower.managers.leader() == Leader("a", "a.test:7462")
        assert not follower.managers.leads()
        with pytest.raises(Unavailable, match="does not lead"):
            await write(follower, "from-a-follower")
    await write(a, "n1")
    await eventually(lambda: b.store.get(Node, "n1") is not None, "the write in b's copy")
    assert (a.terms, b.terms, c.terms) == (1, 0, 0)
    await eventually(lambda: b.managers.reachable() == {"a", "b", "c"}, "every presence seen")
    assert b.managers.addresses()[0] == "a.test:7462"


async def test_a_leader_cut_off_from_etcd_stops_before_its_lease_ends_and_another_leads(
    candidates: Callable[..., Awaitable[Candidate]], etcd_endpoint: str
) -> None:
    relay = Relay(etcd_endpoint)
    try:
        a = await candidates("a", endpoint=await relay.start())
        await eventually(a.managers.leads, "a to lead", within=10)
        b = await candidates("b")
        await eventually(lambda: b.managers.leader() is not None, "b to see a lead")
        # The last renewal a could have made; its lease ends no sooner than LEASE after it.
        await asyncio.sleep(0)
        cut = time.monotonic()
        relay.cut()
        await eventually(lambda: not a.managers.leads(), "a to step down", within=LEASE + 1)
        stepped_down = time.monotonic()
        # Its store refuses writes at once, without asking etcd (which it cannot reach).
        with pytest.raises(Unavailable, match="does not lead"):
            await write(a, "from-a")
        await eventually(b.managers.leads, "b to take over", within=LEASE * 3)
        took_over = time.monotonic()
        assert stepped_down < took_over
        assert stepped_down - cut < LEASE
        await write(b, "from-b")
        # Back on the network, a follows the new leader.
        relay.mend()
        await eventually(
            lambda: a.managers.leader() == Leader("b", "b.test:7462"), "a to follow b", within=10
        )
        assert not a.managers.leads()
        assert a.store.get(Node, "from-a") is None
    finally:
        await relay.close()


async def test_a_deposed_leader_that_has_not_noticed_cannot_write(
    candidates: Callable[..., Awaitable[Candidate]], etcd_endpoint: str
) -> None:
    """Fencing: the leadership key is taken away while a's lease still renews and a watches
    nothing, so a still believes it leads; etcd refuses its commit all the same."""
    a = await candidates("a", lease=30, watch=False)
    await eventually(a.managers.leads, "a to lead", within=10)
    b = await candidates("b")
    await eventually(lambda: b.managers.leader() is not None, "b to see a lead")
    client = EtcdClient([etcd_endpoint])
    try:
        key = Keys(a.store.prefix).leader
        await client.txn(
            [], [rpc_pb2.RequestOp(request_delete_range=rpc_pb2.DeleteRangeRequest(key=key))]
        )
    finally:
        await client.close()
    await eventually(b.managers.leads, "b to take over", within=10)
    assert a.managers.leads()
    revision = a.store.revision
    with pytest.raises(Unavailable, match="no longer leads"):
        await write(a, "from-the-deposed")
    assert a.store.revision == revision
    await write(b, "from-b")
    assert b.store.get(Node, "from-the-deposed") is None


async def test_a_leader_that_sees_its_key_taken_away_steps_down(
    candidates: Callable[..., Awaitable[Candidate]], etcd_endpoint: str
) -> None:
    a = await candidates("a", lease=30)
    await eventually(a.managers.leads, "a to lead", within=10)
    client = EtcdClient([etcd_endpoint])
    try:
        key = Keys(a.store.prefix).leader
        await client.txn(
            [], [rpc_pb2.RequestOp(request_delete_range=rpc_pb2.DeleteRangeRequest(key=key))]
        )
    finally:
        await client.close()
    # It stops its term, gives its lease up, and (alone) is elected again on a new one.
    await eventually(lambda: a.terms == 2 and a.managers.leads(), "a second term", within=10)
    await write(a, "n1")


class ElectedBeforeTheWatch(EtcdClient):
    """Elects manager x between follow_leases' Range and its watch of the leadership key, and
    notes, after each answer of that watch the view took in, whether x reads as deposed."""

    def __init__(self, endpoint: str, keys: Keys, managers: ManagerSet) -> None:
        super().__init__([endpoint])
        self._keys = keys
        self._managers = managers
        self.elected = 0
        self.deposed: list[bool] = []

    async def watch(
        self, prefix: bytes, start_revision: int
    ) -> AsyncIterator[rpc_pb2.WatchResponse]:
        leader = prefix == self._keys.leader
        if leader and not self.elected:
            put = rpc_pb2.PutRequest(key=prefix, value=encode_leader(Leader("x", "x.test:7462")))
            answer = await self.txn([], [rpc_pb2.RequestOp(request_put=put)])
            self.elected = answer.header.revision
        async for change in super().watch(prefix, start_revision):
            yield change
            if leader:
                self.deposed.append(self._managers.deposed(self.elected))


async def test_a_leader_elected_between_the_range_and_the_watch_is_not_read_as_deposed(
    etcd_endpoint: str,
) -> None:
    """etcd acknowledges a new watch with its newest revision, ahead of the events it has still
    to send: the view must not take that for having seen the key's put, or a manager that has
    just won (at every manager's start) reads as deposed and steps down at once."""
    keys = Keys(f"/test-{uuid.uuid4().hex[:12]}")
    managers = ManagerSet("a", "a.test:7462")
    client = ElectedBeforeTheWatch(etcd_endpoint, keys, managers)
    follow = asyncio.create_task(follow_leases(client, keys, managers))
    try:
        await eventually(
            lambda: managers.leader() == Leader("x", "x.test:7462"), "x seen leading", within=10
        )
        assert len(client.deposed) >= 2
        assert not any(client.deposed)
    finally:
        follow.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follow
        await client.close()
