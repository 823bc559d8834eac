"""Kill one etcd member: the cluster keeps working (issue 14), at the store's level. A store on a
3-member etcd cluster, one member per lab host, commits and reads on after its member, the
leader, is killed with -9, and loses no acknowledged write; the member restarts and rejoins."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

import pytest

from common.errors import Conflict, Unavailable
from common.model import Node
from manager.store import EtcdStore, Put
from tests.lab import Lab
from tests.lab_etcd import lab_etcd
from tests.unit.store_objects import fresh_node
from tests.waiting import wait_for

pytestmark = pytest.mark.etcd

WRITES = 20
# Generous: an election takes about a second; the machine is loaded.
RESUMED_WITHIN = 15.0


async def create(store: EtcdStore, node_id: str, acknowledged: set[str]) -> None:
    """Create one node as a client would, trying again while etcd is unavailable (a member
    died, or the survivors elect); a create refused because it exists was applied by a try
    whose answer was lost."""
    deadline = time.monotonic() + RESUMED_WITHIN
    while True:
        try:
            await store.commit([Put(fresh_node(node_id))])
        except Unavailable:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)
            continue
        except Conflict:
            if store.get(Node, node_id) is None:
                raise
        acknowledged.add(node_id)
        return


async def write_through(
    endpoints: list[str], prefix: str, kill: Callable[[], None]
) -> tuple[set[str], float]:
    """Writes before and after kill(); the IDs acknowledged, and how long after the kill the
    first write was acknowledged."""
    acknowledged: set[str] = set()
    store = await EtcdStore.open(endpoints, prefix)
    try:
        for i in range(WRITES):
            await create(store, f"before-{i}", acknowledged)
        await asyncio.to_thread(kill)
        killed = time.monotonic()
        await create(store, "after-0", acknowledged)
        resumed = time.monotonic() - killed
        for i in range(1, WRITES):
            await create(store, f"after-{i}", acknowledged)
        assert {n.id for n in store.objects(Node)} == acknowledged
    finally:
        await store.close()
    return acknowledged, resumed


async def stored_ids(endpoints: list[str], prefix: str) -> set[str]:
    store = await EtcdStore.open(endpoints, prefix)
    try:
        return {n.id for n in store.objects(Node)}
    finally:
        await store.close()


def test_a_store_keeps_committing_when_the_etcd_leader_is_killed(lab: Lab) -> None:
    prefix = f"/e2e-{uuid.uuid4().hex[:12]}"
    with lab_etcd(lab.hosts[:3], lab.root / "etcd") as etcd:
        leader = wait_for(etcd.leader, "an etcd leader")
        others = [m for m in etcd.members if m is not leader]
        # The store starts on the leader: its death is the hard case, an election follows.
        endpoints = [leader.endpoint, *(m.endpoint for m in others)]
        acknowledged, resumed = asyncio.run(
            write_through(endpoints, prefix, lambda: etcd.kill(leader))
        )
        print(f"first write acknowledged {resumed:.2f} s after the etcd leader's kill -9")
        assert len(acknowledged) == 2 * WRITES
        assert resumed < RESUMED_WITHIN
        new_leader = wait_for(etcd.leader, "a new etcd leader")
        assert new_leader is not leader
        # Read from etcd itself, through the survivors: nothing acknowledged is missing.
        assert asyncio.run(stored_ids([m.endpoint for m in others], prefix)) == acknowledged

        etcd.start(leader)
        wait_for(lambda: etcd.healthy(etcd.members), "the killed member back", 60)
        # The restarted member caught up: it alone serves every write.
        assert asyncio.run(stored_ids([leader.endpoint], prefix)) == acknowledged
