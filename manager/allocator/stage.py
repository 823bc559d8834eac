"""The allocator stage, between the orchestrators and the scheduler: it gives each service what
its spec asks for in the cluster (published ports, virtual IPs) and moves its new tasks from NEW
to PENDING, where the scheduler takes them; and it frees the network slices of nodes that left.

It reacts to watch events and works only on what they name: the services written, the tasks
that are NEW, the nodes removed. A service that cannot have what it asks for (another took its
port meanwhile) keeps its tasks NEW, with the reason, until it changes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace

import structlog

from common.errors import ShoalError
from common.model import Network, Node, PortProtocol, Service, Task, TaskState, TaskStatus, now
from manager.allocator import service as service_allocation
from manager.allocator import slices
from manager.loops import RETRY_DELAY, attempt
from manager.store import Action, Event, Op, Put, ReadView, StateStore

log = structlog.get_logger("allocator")


def _is_new(task: Task) -> bool:
    return task.desired_state == TaskState.RUNNING and task.status.state == TaskState.NEW


@dataclass
class Work:
    """What the events so far ask the allocator to look at."""

    services: set[str] = field(default_factory=set)
    tasks: set[str] = field(default_factory=set)
    gone_nodes: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.services or self.tasks or self.gone_nodes)

    def add(self, events: Sequence[Event]) -> None:
        for event in events:
            obj = event.obj
            if isinstance(obj, Task) and _is_new(obj) and event.action != Action.DELETE:
                self.tasks.add(obj.id)
            elif isinstance(obj, Service) and event.action != Action.DELETE:
                self.services.add(obj.id)
            elif isinstance(obj, Node) and event.action == Action.DELETE:
                self.gone_nodes.add(obj.id)


class Allocator:
    def __init__(
        self, store: StateStore, reserved: Collection[tuple[int, PortProtocol]] = ()
    ) -> None:
        self._store = store
        # The cluster's own ports (common.ports.reserved_ports): no service may have them.
        self._reserved = reserved
        # Services whose allocation failed: their NEW tasks wait for the service to change.
        self._blocked: dict[str, str] = {}

    async def run(self) -> None:
        watch = self._store.watch()
        try:
            work = self._everything()
            while True:
                if work and not await attempt("allocation", self._allocate(work)):
                    # Retried after a while, or at the next change, whichever comes first.
                    with contextlib.suppress(TimeoutError):
                        # Not wait_for: on 3.11 it can swallow the cancel that stops this loop.
                        async with asyncio.timeout(RETRY_DELAY):
                            work.add(await watch.next_batch())
                    continue
                work = Work()
                work.add(await watch.next_batch())
        finally:
            watch.close()

    def _everything(self) -> Work:
        """At start, what may have changed while no allocator ran."""
        store = self._store
        held = {node for n in store.objects(Network) for node in n.slices}
        return Work(
            services={s.id for s in store.objects(Service)},
            tasks={t.id for t in store.objects(Task) if _is_new(t)},
            gone_nodes=held,
        )

    async def _allocate(self, work: Work) -> None:
        stored = await self._store.transact(lambda view: self._plan(view, work))
        if stored:
            log.debug("allocation pass", written=len(stored))

    def _plan(self, view: ReadView, work: Work) -> list[Op]:
        ops: list[Op] = slices.release(view, work.gone_nodes)
        task_ids = set(work.tasks)
        for service_id in work.services & set(self._blocked):
            # A blocked service that changed: its waiting tasks get another chance.
            task_ids |= {t.id for t in view.tasks_of_service(service_id) if _is_new(t)}
        tasks = [t for tid in sorted(task_ids) if (t := view.get(Task, tid)) and _is_new(t)]
        ready, service_ops = self._services(view, work.services | {t.service_id for t in tasks})
        ops += service_ops
        at = now()
        for task in tasks:
            if task.service_id in ready:
                status = TaskStatus(
                    state=TaskState.PENDING, timestamp=at, message="pending task scheduling"
                )
                ops.append(Put(replace(task, status=status)))
            elif (why := self._blocked.get(task.service_id)) and task.status.err != why:
                ops.append(Put(replace(task, status=replace(task.status, err=why, timestamp=at))))
        return ops

    def _services(self, view: ReadView, service_ids: set[str]) -> tuple[set[str], list[Op]]:
        """The services that hold what their spec asks for, once ops are written."""
        ready: set[str] = set()
        ops: list[Op] = []
        everyone: dict[str, Service] | None = None
        for service_id in sorted(service_ids):
            service = view.get(Service, service_id)
            if service is None:
                self._blocked.pop(service_id, None)
                continue
            if service_allocation.is_allocated(service):
                self._blocked.pop(service_id, None)
                ready.add(service_id)
                continue
            if everyone is None:
                # Read once, then kept current: two services of one transaction never share.
                everyone = {s.id: s for s in view.objects(Service)}
            try:
                allocated = service_allocation.allocate(
                    view, service, everyone.values(), self._reserved
                )
            except ShoalError as exc:
                log.warning("service allocation failed", service_id=service_id, error=str(exc))
                self._blocked[service_id] = str(exc)
                continue
            except Exception:
                # A bug, not a cluster condition: this service waits, the others go on.
                log.exception("service allocation crashed", service_id=service_id)
                self._blocked[service_id] = "allocation failed: see the manager's log"
                continue
            everyone[service_id] = allocated
            self._blocked.pop(service_id, None)
            ops.append(Put(allocated))
            ready.add(service_id)
        return ready, ops
