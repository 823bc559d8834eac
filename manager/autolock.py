"""Autolock across managers: the cluster-wide setting, and each manager's key files following it.

The setting is the cluster object's sealed_unlock_key: the key encryption key (KEK), sealed
under the cluster data key as secrets are. Swarmkit keeps its KEK in the cluster object too,
with raft encrypted under a key the KEK wraps; here the store (etcd) is not encrypted by the
managers, so the KEK goes in only sealed, under the data key that lives on managers' disks, each
copy of it sealed by the KEK itself once autolock is on. A stolen etcd yields a sealed KEK and
no data key; a stolen locked manager's disk yields a data key sealed by the KEK it lacks.

Every running (unlocked) manager follows the cluster object (AutolockSync): when the KEK
appears, changes or goes away, it reseals its own key files to match. So a manager that joins or
restarts picks the setting up, a rotation reaches every manager at once, and each one is
unlocked on its own after a restart, with the key current when it stopped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import structlog

from common import key_files
from common.key_files import Kek
from common.model import Cluster
from manager.data_key import DataKey
from manager.store import Op, Put, ReadView, StateStore

log = structlog.get_logger("manager.autolock")


def _bound_to(cluster_id: str) -> str:
    return f"cluster/{cluster_id}/unlock-key"


def seal(data_key: DataKey, cluster_id: str, kek: Kek) -> bytes:
    return data_key.seal(kek.material, _bound_to(cluster_id))


def kek_of(data_key: DataKey, cluster: Cluster) -> Kek | None:
    """The cluster's KEK, or None when autolock is off."""
    if not cluster.autolock:
        return None
    return Kek(data_key.open(cluster.sealed_unlock_key, _bound_to(cluster.id)))


async def turn_on(store: StateStore, data_key: DataKey) -> Kek | None:
    """Turn autolock on with a new KEK, returned; None when it already was on."""
    kek = Kek.generate()

    def plan(view: ReadView) -> Sequence[Op]:
        (cluster,) = view.objects(Cluster)
        if cluster.autolock:
            return []
        return [Put(replace(cluster, sealed_unlock_key=seal(data_key, cluster.id, kek)))]

    return kek if await store.transact(plan, urgent=True) else None


async def at_creation(
    asked: bool, created: bool, store: StateStore, data_key: DataKey
) -> Kek | None:
    """`manager serve --autolock`: on at the cluster's creation, as `docker swarm init
    --autolock`; the new KEK, or None. On a cluster that exists, `shoal cluster update
    --autolock=true` turns it on: a daemon restarted with the flag would otherwise print a new
    key into its journal at every start."""
    if not asked:
        return None
    if not created:
        (cluster,) = store.objects(Cluster)
        if not cluster.autolock:
            log.warning(
                "--autolock applies when the cluster is created:"
                " run `shoal cluster update --autolock=true`"
            )
        return None
    return await turn_on(store, data_key)


class AutolockSync:
    """Keeps this manager's key files sealed under the cluster's current KEK, or clear."""

    def __init__(self, store: StateStore, data_key: DataKey, state_dir: Path) -> None:
        self._store = store
        self._data_key = data_key
        self._state_dir = state_dir

    async def run(self) -> None:
        watch = self._store.watch()
        try:
            while True:
                await self.apply()
                await watch.next_batch()
        finally:
            watch.close()

    async def apply(self) -> None:
        (cluster,) = self._store.objects(Cluster)
        wanted = kek_of(self._data_key, cluster)
        current = key_files.installed(self._state_dir)
        if wanted == current:
            return
        changed = await asyncio.to_thread(key_files.reseal, self._state_dir, current, wanted)
        if wanted is None:
            what = "autolock turned off: key files in the clear"
        elif current is None:
            what = "autolock turned on: key files sealed"
        else:
            what = "unlock key rotated: key files resealed"
        log.info(what, files=changed)
