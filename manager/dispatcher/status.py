"""Task status from agents into the store, many updates to one commit."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from itertools import islice

import structlog

from common.model import Network, Task, TaskStatus, now
from common.taskstate import advance
from manager.dispatcher.intake import check_status
from manager.loops import RETRY_DELAY, attempt
from manager.store import Op, Put, ReadView, StateStore

log = structlog.get_logger("dispatcher.status")

# Reports written by one round at most: a round holds the event loop while it checks them and
# the store while it writes them, so a burst's round of tens of thousands made every Control
# call wait seconds behind it. The rest go in the next round.
ROUND_LIMIT = 2000


class StatusIntake:
    """Collects reports and writes them in one transaction per round.

    While one commit is on its way to disk, reports keep arriving and are written together by the
    next round, so the write rate stays bounded however many agents report.

    Reports are keyed by (node, task): a node naming another node's task can displace nothing
    but its own report, which is then dropped for not being its task.
    """

    def __init__(self, store: StateStore) -> None:
        self._store = store
        self._pending: dict[tuple[str, str], tuple[TaskStatus, datetime]] = {}
        self._wakeup = asyncio.Event()

    def submit(self, node_id: str, updates: Sequence[tuple[str, TaskStatus]]) -> None:
        # The manager's clock, not the node's: a report is stamped when it arrives.
        at = now()
        for task_id, status in updates:
            key = (node_id, task_id)
            queued = self._pending.get(key)
            # Keep the furthest state: a batch may say RUNNING and then FAILED for one task.
            if queued is None or status.state >= queued[0].state:
                self._pending[key] = (status, at)
        self._wakeup.set()

    async def run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            batch = self._next_round()
            if batch and not await attempt("status write", self._write(batch)):
                # Kept for the next try, behind any report that came meanwhile.
                self._pending = batch | self._pending
                await asyncio.sleep(RETRY_DELAY)
                self._wakeup.set()

    def _next_round(self) -> dict[tuple[str, str], tuple[TaskStatus, datetime]]:
        if len(self._pending) <= ROUND_LIMIT:
            batch, self._pending = self._pending, {}
            return batch
        # The oldest reports first; the loop comes back at once for the rest.
        keys = list(islice(self._pending, ROUND_LIMIT))
        self._wakeup.set()
        return {key: self._pending.pop(key) for key in keys}

    async def _write(self, batch: dict[tuple[str, str], tuple[TaskStatus, datetime]]) -> None:
        def plan(view: ReadView) -> Sequence[Op]:
            networks = {n.id: n for n in view.objects(Network)}
            ops: list[Op] = []
            for (node_id, task_id), (status, at) in batch.items():
                task = view.get(Task, task_id)
                if task is None:
                    # Removed meanwhile (history trimmed, service gone): old news.
                    continue
                # A node may only report on its own tasks.
                if task.node_id != node_id:
                    log.warning(
                        "report on another node's task dropped",
                        node_id=node_id,
                        task_id=task_id[:64],
                    )
                    continue
                checked = check_status(task, node_id, status, networks, at)
                if checked.dropped:
                    log.warning(
                        "parts of a task report dropped",
                        node_id=node_id,
                        task_id=task_id,
                        dropped=list(checked.dropped[:10]),
                    )
                advanced = advance(task, checked.status)
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
