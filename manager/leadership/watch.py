"""The managers' leases as etcd holds them, followed into the ManagerSet: a Range, then a watch
from the revision after it, again from a Range whenever the watch breaks."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from common.api.etcd import kv_pb2
from common.errors import Unavailable
from manager.leadership.keys import Keys, decode_leader
from manager.leadership.managers import ManagerSet
from manager.store.etcd_client import EtcdClient

log = structlog.get_logger("leadership")

# Pause between attempts after etcd broke a watch, doubling.
RETRY = (0.1, 2.0)


async def follow_leases(client: EtcdClient, keys: Keys, managers: ManagerSet) -> None:
    """Keep managers' view of the leader and of the reachable managers; runs until cancelled."""

    def leader(found: dict[bytes, kv_pb2.KeyValue], revision: int) -> None:
        kv = found.get(keys.leader)
        if kv is None:
            managers.set_named(None, held=False, seen=revision)
        else:
            leader = decode_leader(kv.value)
            managers.set_named(leader, held=True, created=kv.create_revision, seen=revision)

    def present(found: dict[bytes, kv_pb2.KeyValue], revision: int) -> None:
        managers.set_present(
            {keys.node_of(k): kv.value.decode(errors="replace") for k, kv in found.items()}
        )

    async with asyncio.TaskGroup() as group:
        group.create_task(_follow(client, keys.leader, leader))
        group.create_task(_follow(client, keys.managers, present))


async def _follow(
    client: EtcdClient,
    prefix: bytes,
    apply: Callable[[dict[bytes, kv_pb2.KeyValue], int], None],
) -> None:
    pause = RETRY[0]
    while True:
        try:
            kvs, revision = await client.range_prefix(prefix)
            found = {kv.key: kv for kv in kvs}
            apply(found, revision)
            async for answer in client.watch(prefix, revision + 1):
                if answer.compact_revision:
                    break
                if answer.created or answer.canceled:
                    # Neither holds events; etcd heads them with its newest revision, which a
                    # new watch has not yet brought the events up to (a leader that won since
                    # the Range would read as deposed).
                    continue
                for event in answer.events:
                    if event.type == kv_pb2.Event.DELETE:
                        found.pop(event.kv.key, None)
                    else:
                        found[event.kv.key] = event.kv
                apply(found, answer.header.revision)
                pause = RETRY[0]
        except Unavailable as exc:
            log.warning("managers' leases: watch broken; watching again", error=str(exc))
            await asyncio.sleep(pause)
            pause = min(pause * 2, RETRY[1])
