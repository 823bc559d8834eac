"""One leader among the managers sharing an etcd prefix, through etcd leases.

Each manager holds a lease of its own, renewed every quarter of its TTL, with its presence key
under it; it campaigns by creating the leadership key under the same lease, in a Txn that only
succeeds while the key is absent. The winner fences its store with that key's create revision,
so each of its commits applies only while it still holds the key (a deposed leader's writes
fail in etcd itself). A leader that has not renewed its lease for three quarters of the TTL
steps down on its own: its store refuses writes and its term (the leader-only loops) is
cancelled, before etcd can let the lease go and another manager take over. It then revokes
that lease, when etcd answers, and starts over with a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine
from typing import Any

import structlog

from common.api.etcd import rpc_pb2
from common.errors import Unavailable
from manager.leadership.keys import Keys, Leader, decode_leader, encode_leader
from manager.leadership.managers import ManagerSet
from manager.store.etcd import EtcdStore, Fence

log = structlog.get_logger("leadership")

DEFAULT_LEASE = 2
# What a follower's store says to a write: the Control API forwards writes to the leader, so
# only the manager's own work (a join on a follower) meets it.
FOLLOWER = "this manager does not lead the cluster; its leader takes writes"
# Pause before a new lease after one was lost or etcd failed.
RETRY = (0.1, 2.0)
# How long a lease revocation may take at step-down: etcd may be the reason for it.
REVOKE_TIMEOUT = 1.0

Term = Callable[[], Coroutine[Any, Any, None]]
_Compare = rpc_pb2.Compare


class LeaseLost(Exception):
    """The lease could not be renewed in time, or etcd says it is gone."""


class Election:
    def __init__(
        self,
        store: EtcdStore,
        keys: Keys,
        managers: ManagerSet,
        lease_seconds: int,
        term: Term,
    ) -> None:
        """term: the leader's work, run while this manager leads, cancelled when it stops."""
        self._store = store
        self._client = store.client
        self._keys = keys
        self._managers = managers
        self._ttl = lease_seconds
        self._term = term

    async def run(self) -> None:
        """Campaign until cancelled; a failure of the term itself ends this with it."""
        self._follow()
        pause = RETRY[0]
        try:
            while True:
                try:
                    await self._hold_lease()
                    pause = RETRY[0]
                except (Unavailable, LeaseLost) as exc:
                    log.warning("manager lease lost; starting over", error=str(exc))
                await asyncio.sleep(pause)
                pause = min(pause * 2, RETRY[1])
        finally:
            self._follow()

    async def _hold_lease(self) -> None:
        granted = time.monotonic()
        lease = await self._client.lease_grant(self._ttl)
        try:
            presence = rpc_pb2.PutRequest(
                key=self._keys.presence(self._managers.self_id),
                value=self._managers.self_addr.encode(),
                lease=lease,
            )
            await self._client.txn([], [rpc_pb2.RequestOp(request_put=presence)])
            campaign = asyncio.create_task(self._campaign(lease), name="leadership-campaign")
            try:
                await self._renew(lease, granted + self._ttl, campaign)
            finally:
                # Writes are refused before the term's loops are even told to stop.
                self._follow()
                campaign.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await campaign
        finally:
            self._follow()
            with contextlib.suppress(Unavailable, TimeoutError):
                async with asyncio.timeout(REVOKE_TIMEOUT):
                    await self._client.lease_revoke(lease)

    async def _renew(self, lease: int, valid_until: float, campaign: asyncio.Task[None]) -> None:
        """Keep the lease until the campaign ends (its result is raised); LeaseLost when a
        renewal did not come back before a quarter of the TTL was left."""
        interval = margin = self._ttl / 4
        while True:
            done, _ = await asyncio.wait([campaign], timeout=interval)
            if done:
                campaign.result()
                return
            sent = time.monotonic()
            try:
                async with asyncio.timeout(max(0.0, valid_until - margin - sent)):
                    remaining = await self._client.lease_keep_alive(lease)
            except (TimeoutError, Unavailable) as exc:
                if time.monotonic() >= valid_until - margin:
                    raise LeaseLost(f"the lease was not renewed in time: {exc}") from None
                continue
            if remaining <= 0:
                raise LeaseLost("etcd let the lease expire")
            # etcd counts the TTL from when it got the renewal, which is after it was sent.
            valid_until = sent + remaining

    async def _campaign(self, lease: int) -> None:
        me = Leader(self._managers.self_id, self._managers.self_addr)
        key = self._keys.leader
        followed = 0
        while True:
            answer = await self._client.txn(
                [_Compare(key=key, target=_Compare.CREATE, create_revision=0)],
                [
                    rpc_pb2.RequestOp(
                        request_put=rpc_pb2.PutRequest(
                            key=key, value=encode_leader(me), lease=lease
                        )
                    )
                ],
                [rpc_pb2.RequestOp(request_range=rpc_pb2.RangeRequest(key=key))],
            )
            if answer.succeeded:
                await self._lead(Fence(key, answer.header.revision))
                return
            held = answer.responses[0].response_range.kvs
            if held[0].lease == lease:
                # An earlier attempt of this lease won, but its answer was lost on the way.
                await self._lead(Fence(key, held[0].create_revision))
                return
            if not self._managers.key_held():
                # The watch has not brought that key yet; it will, or its deletion.
                await asyncio.sleep(0.1)
                continue
            if held[0].create_revision != followed:
                followed = held[0].create_revision
                log.info("following", leader=_named(held[0].value))
            # Also woken now and then: a watch that broke and missed a deletion is redone.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._ttl):
                    await self._managers.leader_gone()

    async def _lead(self, fence: Fence) -> None:
        """Run the term until it ends or etcd shows the key gone (removed by hand: the lease
        still renews); LeaseLost for the latter."""
        self._store.fence = fence
        self._store.refusal = None
        self._managers.set_leading(True)
        log.info("leading the cluster", revision=fence.create_revision)
        term = asyncio.create_task(self._term(), name="leadership-term")
        deposed = asyncio.create_task(self._deposed(fence.create_revision))
        try:
            await asyncio.wait([term, deposed], return_when=asyncio.FIRST_COMPLETED)
            if term.done():
                term.result()
                return
            raise LeaseLost("the leadership key was taken away")
        finally:
            self._follow()
            for task in (term, deposed):
                task.cancel()
            await asyncio.gather(term, deposed, return_exceptions=True)
            log.info("no longer leading the cluster")

    async def _deposed(self, created: int) -> None:
        version = self._managers.version
        while not self._managers.deposed(created):
            version = await self._managers.changed(version)

    def _follow(self) -> None:
        self._store.refusal = FOLLOWER
        self._store.fence = None
        self._managers.set_leading(False)


def _named(value: bytes) -> str:
    leader = decode_leader(value)
    return leader.node_id if leader is not None else "unknown"
