"""The leader ends a CA rotation once every live node holds a certificate of the new root."""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from common.model import Cluster, Node
from manager import ca_rotation
from manager.store import Op, Put, ReadView, StateStore

log = structlog.get_logger("manager.ca_rotation")


def _plan(view: ReadView) -> Sequence[Op]:
    cluster = view.objects(Cluster)[0]
    if cluster.rotation is None or not ca_rotation.progress(cluster, view.objects(Node)).done:
        return []
    return [Put(ca_rotation.finish(cluster))]


async def end_rotations(store: StateStore) -> None:
    """Check at each change of nodes or the cluster; runs until cancelled."""
    watch = store.watch()
    try:
        while True:
            if store.objects(Cluster)[0].rotation is not None:
                done = await store.transact(_plan)
                if done:
                    log.info("CA rotation complete: the old root is no longer trusted")
            batch = await watch.next_batch()
            while not any(isinstance(e.obj, (Node, Cluster)) for e in batch):
                batch = await watch.next_batch()
    finally:
        watch.close()
