"""Rolling updates, rollbacks and rebalances: one job per service, driven by its stored status.

A job replaces the slots whose task was made from another spec (or, to rebalance, moves a task to
a better node), a few at a time, and watches each new task through the monitor period. The stored
update status says what is going on, so a manager that restarts resumes the job where the tasks
stand. Two live tasks may share a slot while a job starts the new before stopping the old; the
orchestrators leave such pairs to the job.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from common.model import (
    PortProtocol,
    Service,
    ServiceSpec,
    UpdateState,
)
from manager.orchestrator.service_job import ServiceJob, job_key
from manager.store import StateStore


@dataclass
class _Job:
    key: tuple[ServiceSpec, UpdateState, datetime]
    task: asyncio.Task[None]


class Updater:
    def __init__(
        self, store: StateStore, reserved: Collection[tuple[int, PortProtocol]] = ()
    ) -> None:
        self._store = store
        # The cluster's own ports (common.ports.reserved_ports): a rollback may not take them.
        self._reserved = reserved
        self._jobs: dict[str, _Job] = {}

    async def run(self) -> None:
        watch = self._store.watch()
        try:
            self._sync()
            while True:
                events = await watch.next_batch()
                if any(isinstance(e.obj, Service) for e in events):
                    self._sync()
        finally:
            watch.close()
            for job in self._jobs.values():
                job.task.cancel()
            await asyncio.gather(*(j.task for j in self._jobs.values()), return_exceptions=True)

    def _sync(self) -> None:
        services = {s.id: s for s in self._store.objects(Service)}
        for service_id, job in list(self._jobs.items()):
            service = services.get(service_id)
            # A job that ended without changing the status (it crashed, or lost its task)
            # is started again at the next change of the service.
            if service is None or job_key(service) != job.key or job.task.done():
                job.task.cancel()
                del self._jobs[service_id]
        for service in services.values():
            if service.update_status.state.active and service.id not in self._jobs:
                work = ServiceJob(self._store, service, self._reserved).run()
                self._jobs[service.id] = _Job(job_key(service), asyncio.create_task(work))
