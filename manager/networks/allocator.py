"""Gives each node a slice of a network's subnet once a task of that network is placed on it.

A node keeps its slice while it is in the cluster, so a container that outlives a short gap
between tasks never sees its node's addresses move; slices of removed nodes are freed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from dataclasses import replace
from ipaddress import IPv4Network

import structlog

from common.model import Network, Node, StoredObject, Task
from manager.loops import RETRY_DELAY, attempt, skipping
from manager.networks import ipam
from manager.store import Op, Put, ReadView, StateStore

log = structlog.get_logger("networks")


def slice_changes(view: ReadView) -> list[Op]:
    """Networks whose slices must change: a new node on them, or a node gone from the cluster."""
    networks = view.objects(Network)
    if not networks:
        return []
    wanted: dict[str, set[str]] = defaultdict(set)
    for task in view.objects(Task):
        if task.node_id:
            for network_id in task.networks:
                wanted[network_id].add(task.node_id)
    nodes = {n.id for n in view.objects(Node)}
    ops: list[Op] = []
    for network in networks:
        slices = {node: index for node, index in network.slices.items() if node in nodes}
        # A full subnet (or a bad stored one) holds up only its own network's tasks.
        with skipping("network slices", network_id=network.id):
            for node_id in sorted(wanted.get(network.id, set()) - set(slices)):
                if node_id in nodes:
                    slices[node_id] = ipam.free_slice(IPv4Network(network.subnet), slices.values())
        if slices != network.slices:
            ops.append(Put(replace(network, slices=slices)))
    return ops


class SliceAllocator:
    def __init__(self, store: StateStore) -> None:
        self._store = store

    async def run(self) -> None:
        watch = self._store.watch()
        try:
            while True:
                stored: list[StoredObject] = []
                if not await attempt("network slice allocation", _into(stored, self._store)):
                    # The store could not write: try again soon, or at the next change.
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(watch.next_batch(), RETRY_DELAY)
                    continue
                for network in stored:
                    assert isinstance(network, Network)
                    log.info("network slices", network_id=network.id, slices=network.slices)
                batch = await watch.next_batch()
                while not any(isinstance(e.obj, Task | Node) for e in batch):
                    batch = await watch.next_batch()
        finally:
            watch.close()


async def _into(stored: list[StoredObject], store: StateStore) -> None:
    """Commit the slice changes, adding the networks written to stored."""
    stored.extend(await store.transact(slice_changes))
