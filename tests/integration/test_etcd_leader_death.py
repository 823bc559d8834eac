"""When etcd's leader dies, a manager's next commit goes through on another member within the
3 s failover budget, instead of waiting out the call's whole deadline on the member that
forwarded it to the dead leader; and it is applied once."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from common.model import Cluster
from manager.store import EtcdStore, Put
from tests.etcd_trio import loopback_etcd

pytestmark = pytest.mark.etcd


def test_a_commit_after_the_etcd_leader_dies_goes_through_soon(tmp_path: Path) -> None:
    with loopback_etcd(tmp_path) as etcd:
        leader = etcd.leader()
        assert leader is not None
        followers = [m for m in etcd.members if m is not leader]
        # The store talks to a follower first: the member that forwards writes to the leader.
        endpoints = [followers[0].endpoint, leader.endpoint, followers[1].endpoint]

        async def run() -> float:
            store = await EtcdStore.open(endpoints, "/it-leader-death", None)
            try:
                await store.commit([Put(Cluster(id="before", digest="d"))])
                await asyncio.to_thread(etcd.kill, leader)
                started = time.monotonic()
                await store.commit([Put(Cluster(id="after", digest="d"))])
                took = time.monotonic() - started
                assert {c.id for c in store.objects(Cluster)} == {"before", "after"}
                return took
            finally:
                await store.close()

        took = asyncio.run(run())
    # etcd elects a new leader within about a second; the old client waited 5 s, then failed.
    assert took < 4.0
