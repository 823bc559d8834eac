"""Drops the old versions of secrets and configs once nothing uses them: no unfinished task runs
with one, and no service's spec (nor the spec it would roll back to) names it. Runs on the
store's events, so a rotation's old version goes once its last task has ended."""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from common.model import Config, Secret, Service, StoredObject, Task
from manager import sealed
from manager.store import Event, Op, Put, ReadView, StateStore

log = structlog.get_logger("sealed")


def _references_data(obj: StoredObject | None) -> bool:
    if isinstance(obj, Task):
        return bool(obj.spec.secrets or obj.spec.configs)
    if isinstance(obj, Service):
        specs = (obj.spec, obj.previous_spec)
        return any(s is not None and (s.container.secrets or s.container.configs) for s in specs)
    return isinstance(obj, Secret | Config)


def prune(view: ReadView) -> Sequence[Op]:
    ops: list[Op] = []
    found: list[Secret | Config] = [*view.objects(Secret), *view.objects(Config)]
    for obj in found:
        if len(obj.versions) > 1 and (kept := sealed.pruned(view, obj)) is not None:
            ops.append(Put(kept))
    return ops


class VersionReaper:
    def __init__(self, store: StateStore) -> None:
        self._store = store

    async def run(self) -> None:
        """Until cancelled."""
        watch = self._store.watch()
        try:
            await self._pass()
            while True:
                batch: list[Event] = await watch.next_batch()
                if any(_references_data(e.obj) or _references_data(e.old) for e in batch):
                    await self._pass()
        finally:
            watch.close()

    async def _pass(self) -> None:
        stored = await self._store.transact(prune)
        for obj in stored:
            assert isinstance(obj, Secret | Config)
            log.info(
                "old versions dropped",
                id=obj.id,
                kept=[v.version for v in obj.versions],
            )
