"""Task status from agents into the store, many updates to one commit."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import structlog

from common.model import Task, TaskStatus
from common.taskstate import advance
from manager.loops import RETRY_DELAY, attempt
from manager.store import Op, Put, ReadView, StateStore

log = structlog.get_logger("dispatcher.status")


class StatusIntake:
    """Collects reports and writes them in one transaction per round.

    While one commit is on its way to disk, reports keep arriving and are written together by the
    next round, so the write rate stays bounded however many agents report.
    """

    def __init__(self, store: StateStore) -> None:
        self._store = store
        self._pending: dict[str, tuple[str, TaskStatus]] = {}
        self._wakeup = asyncio.Event()

    def submit(self, node_id: str, updates: Sequence[tuple[str, TaskStatus]]) -> None:
        for task_id, status in updates:
            queued = self._pending.get(task_id)
            # Keep the furthest state: a batch may say RUNNING and then FAILED for one task.
            if queued is None or status.state >= queued[1].state:
                self._pending[task_id] = (node_id, status)
        self._wakeup.set()

    async def run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            batch, self._pending = self._pending, {}
            if batch and not await attempt("status write", self._write(batch)):
                # Kept for the next try, behind any report that came meanwhile.
                self._pending = batch | self._pending
                await asyncio.sleep(RETRY_DELAY)
                self._wakeup.set()

    async def _write(self, batch: dict[str, tuple[str, TaskStatus]]) -> None:
        def plan(view: ReadView) -> Sequence[Op]:
            ops: list[Op] = []
            for task_id, (node_id, status) in batch.items():
                task = view.get(Task, task_id)
                # A node may only report on its own tasks.
                if task is None or task.node_id != node_id:
                    continue
                advanced = advance(task, status)
                if advanced is not None:
                    ops.append(Put(advanced))
                    log.debug(
                        "task status",
                        task_id=task_id,
                        node_id=node_id,
                        service_id=task.service_id,
                        state=status.state.name,
                    )
            return ops

        await self._store.transact(plan)
