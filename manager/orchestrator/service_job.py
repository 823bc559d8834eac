"""One service's rolling update, rollback or rebalance, driven by its stored status.

The job replaces the slots whose task was made from another spec (or, to rebalance, moves a task
to a better node), a few at a time, and watches each new task through the monitor period.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import replace
from datetime import datetime

import structlog

from common.errors import ShoalError
from common.model import (
    Availability,
    FailureAction,
    Node,
    NodeState,
    PortProtocol,
    Service,
    ServiceSpec,
    Task,
    TaskState,
    UpdateConfig,
    UpdateOrder,
    UpdateState,
    now,
)
from common.taskstate import ENDED_BY_ITSELF, is_dirty, is_live
from manager.node_loads import node_infos
from manager.orchestrator.rebalance import best_move
from manager.orchestrator.restart import SlotKey
from manager.orchestrator.rollback import rolled_back
from manager.orchestrator.slots import live_by_slot, new_task, stop
from manager.scheduler import demand_of
from manager.store import Op, Put, ReadView, StateStore, Watch

log = structlog.get_logger("updater")

# How often a job wakes with nothing happening, to see monitor periods out.
TICK = 0.2
# New tasks a slot gets when the one before was lost (not failed) on its way to running.
MAX_TRIES = 3


class Superseded(Exception):
    """The service was removed or its spec changed: this job's work is no longer wanted."""


def job_key(service: Service) -> tuple[ServiceSpec, UpdateState, datetime]:
    """What a job works for: a new spec, state or request (started_at) is another job."""
    status = service.update_status
    return service.spec, status.state, status.started_at


def _slot_order(key: SlotKey) -> tuple[int, str]:
    return (key, "") if isinstance(key, int) else (0, key)


class ServiceJob:
    def __init__(
        self,
        store: StateStore,
        service: Service,
        reserved: Collection[tuple[int, PortProtocol]],
    ) -> None:
        self._store = store
        self._reserved = reserved
        self._service = service
        self._log = log.bind(service_id=service.id)
        # Task ID -> the monotonic time its monitor period ends.
        self._monitored: dict[str, float] = {}
        self._failures: list[Task] = []
        # Slots given up on after their new task failed: not retried by this job.
        self._skipped: set[SlotKey] = set()
        self._watch: Watch | None = None

    async def run(self) -> None:
        self._watch = self._store.watch()
        try:
            state = self._service.update_status.state
            if state == UpdateState.REBALANCING:
                await self._rebalance()
            else:
                await self._roll(rollback=state == UpdateState.ROLLBACK_STARTED)
        except Superseded:
            self._log.info("update superseded")
        except Exception:
            # A bug, not a cluster condition: say so loudly; the status stays as it was.
            self._log.exception("update job crashed")
        finally:
            self._watch.close()

    # -- reading the state ---------------------------------------------------------------------

    def _current(self) -> Service:
        service = self._store.get(Service, self._service.id)
        if service is None or job_key(service) != job_key(self._service):
            raise Superseded
        return service

    def _dirty_slots(self, service: Service) -> list[SlotKey]:
        slots = live_by_slot(self._store.tasks_of_service(service.id))
        dirty = [
            key
            for key, tasks in slots.items()
            if key not in self._skipped
            and self._replaceable(key)
            and any(is_dirty(t, service.spec) for t in tasks)
        ]
        return sorted(dirty, key=_slot_order)

    def _replaceable(self, key: SlotKey) -> bool:
        """A global service's slot is its node: one that may take no new task (down, paused,
        drained) keeps its old task rather than lose it for a new one that cannot start."""
        if isinstance(key, int):
            return True
        node = self._store.get(Node, key)
        return (
            node is not None
            and node.state != NodeState.DOWN
            and node.availability == Availability.ACTIVE
        )

    async def _changes(self) -> None:
        """Wait for the next store change, or a tick: monitor periods end without one."""
        assert self._watch is not None
        with contextlib.suppress(TimeoutError):
            # Not wait_for: on 3.11 it can swallow the cancel that stops this loop.
            async with asyncio.timeout(TICK):
                await self._watch.next_batch()

    def _check_monitored(self) -> None:
        """Tasks that ended by themselves within their monitor period count as failures."""
        clock = time.monotonic()
        for task_id, until in list(self._monitored.items()):
            task = self._store.get(Task, task_id)
            if task is not None and task.status.state in ENDED_BY_ITSELF:
                self._failures.append(task)
                del self._monitored[task_id]
            elif task is None or clock >= until:
                del self._monitored[task_id]

    # -- rolling update and rollback -----------------------------------------------------------

    async def _roll(self, *, rollback: bool) -> None:
        service = self._current()
        spec = service.spec
        config = (service.previous_spec or spec).rollback if rollback else spec.update
        total = max(1, len(self._dirty_slots(service)))
        self._log.info("update started", rollback=rollback, slots=total)
        while True:
            self._check_monitored()
            if self._failed_too_often(config, total):
                await self._on_failure(config, rollback)
                return
            slots = self._dirty_slots(self._current())
            if not slots:
                break
            batch = slots[: config.parallelism or len(slots)]
            await self._replace(batch, config)
            if config.delay and self._dirty_slots(self._current()):
                deadline = time.monotonic() + config.delay.total_seconds()
                while time.monotonic() < deadline:
                    await self._changes()
        while self._monitored:
            await self._changes()
            self._current()
            self._check_monitored()
            if self._failed_too_often(config, total):
                await self._on_failure(config, rollback)
                return
        if rollback:
            cause = self._service.update_status.message
            await self._finish(UpdateState.ROLLBACK_COMPLETED, f"{cause}; rollback completed")
        else:
            await self._finish(UpdateState.COMPLETED, "update completed")

    def _failed_too_often(self, config: UpdateConfig, total: int) -> bool:
        if not self._failures or config.failure_action == FailureAction.CONTINUE:
            return False
        return len(self._failures) / total > config.max_failure_ratio

    async def _on_failure(self, config: UpdateConfig, rollback: bool) -> None:
        task = self._failures[-1]
        why = f"failure or early termination of task {task.id}"
        if task.status.err:
            why += f": {task.status.err}"
        self._log.warning("update failed", task_id=task.id, rollback=rollback)
        if rollback:
            await self._finish(UpdateState.ROLLBACK_PAUSED, f"rollback paused due to {why}")
        elif config.failure_action == FailureAction.ROLLBACK:
            await self._start_rollback(f"update rolled back due to {why}")
        else:
            await self._finish(UpdateState.PAUSED, f"update paused due to {why}")

    async def _replace(self, batch: Sequence[SlotKey], config: UpdateConfig) -> None:
        """Replace the tasks of batch's slots and wait until each new task runs or fails.

        The job makes each new task itself, in the transaction that (stop-first) stops the old
        one, so the orchestrator finds the slot filled and never refills it elsewhere.
        """
        fresh: dict[SlotKey, str] = {}
        await self._transact(lambda view, svc: self._renew(view, svc, batch, config.order, fresh))
        tries: dict[SlotKey, int] = {}
        waiting = dict(fresh)
        while waiting:
            service = self._current()
            for key, task_id in list(waiting.items()):
                task = self._store.get(Task, task_id)
                if task is not None and task.status.state == TaskState.RUNNING:
                    del waiting[key]
                    self._monitored[task_id] = time.monotonic() + config.monitor.total_seconds()
                    slot = live_by_slot(self._store.tasks_of_service(service.id)).get(key, [])
                    await self._stop([t.id for t in slot if is_dirty(t, service.spec)])
                elif task is not None and task.status.state in ENDED_BY_ITSELF:
                    del waiting[key]
                    self._failures.append(task)
                    self._skipped.add(key)
                elif task is None or not is_live(task):
                    # Lost, not failed: its node went down or was drained, or it was removed.
                    del waiting[key]
                    tries[key] = tries.get(key, 0) + 1
                    if (
                        tries[key] < MAX_TRIES
                        and self._replaceable(key)
                        and key in set(self._dirty_slots(service))
                    ):
                        renewed: dict[SlotKey, str] = {}
                        await self._transact(
                            functools.partial(
                                self._renew, batch=[key], order=config.order, fresh=renewed
                            )
                        )
                        waiting.update(renewed)
            self._check_monitored()
            if waiting:
                await self._changes()

    async def _stop(self, task_ids: Sequence[str]) -> None:
        """Stop these tasks as stored now (agents bump their versions all the time)."""

        def plan(view: ReadView, service: Service) -> list[Op]:
            tasks = (view.get(Task, task_id) for task_id in task_ids)
            return [Put(stop(t)) for t in tasks if t is not None and is_live(t)]

        if task_ids:
            await self._transact(plan)

    def _renew(
        self,
        view: ReadView,
        service: Service,
        batch: Sequence[SlotKey],
        order: UpdateOrder,
        fresh: dict[SlotKey, str],
        reuse: bool = True,
    ) -> list[Op]:
        """A new task for each slot of batch (unless, with reuse, one of the current spec lives
        there already, from before a restart of the job: it is waited for instead); stop-first
        also stops the slot's old tasks. fresh gets the task to wait for, per slot."""
        slots = live_by_slot(view.tasks_of_service(service.id))
        ops: list[Op] = []
        fresh.clear()
        for key in batch:
            tasks = slots.get(key, [])
            current = [t for t in tasks if not is_dirty(t, service.spec)]
            if current and reuse:
                fresh[key] = current[0].id
                continue
            if order == UpdateOrder.STOP_FIRST:
                ops.extend(Put(stop(t)) for t in tasks)
            if isinstance(key, str):
                task = new_task(service, 0, now(), node_id=key)
            else:
                task = new_task(service, key, now())
            fresh[key] = task.id
            ops.append(Put(task))
        return ops

    async def _start_rollback(self, message: str) -> None:
        def plan(view: ReadView, service: Service) -> list[Op]:
            try:
                return [Put(rolled_back(view, service, message, self._reserved))]
            except ShoalError as exc:
                # No previous spec, or another service took a port this one gave up.
                status = replace(
                    service.update_status, state=UpdateState.PAUSED, message=f"{message}, but {exc}"
                )
                return [Put(replace(service, update_status=status))]

        await self._transact(plan)

    async def _finish(self, state: UpdateState, message: str) -> None:
        def plan(view: ReadView, service: Service) -> list[Op]:
            status = replace(
                service.update_status, state=state, completed_at=now(), message=message
            )
            return [Put(replace(service, update_status=status))]

        await self._transact(plan)
        self._log.info("update ended", state=state.name, message=message)

    async def _transact(self, plan: Callable[[ReadView, Service], list[Op]]) -> None:
        """Run plan on the service as stored, unless the job was superseded meanwhile."""

        def guarded(view: ReadView) -> list[Op]:
            service = view.get(Service, self._service.id)
            if service is None or job_key(service) != job_key(self._service):
                raise Superseded
            return plan(view, service)

        await self._store.transact(guarded)

    # -- rebalance -----------------------------------------------------------------------------

    async def _rebalance(self) -> None:
        moved = 0
        # Each move strictly evens the spread out, so this bound is never the reason to stop.
        for _ in range(len(self._store.tasks_of_service(self._service.id)) + 1):
            service = self._current()
            tasks = self._store.tasks_of_service(service.id)
            move = best_move(
                service,
                tasks,
                node_infos(self._store),
                demand_of(service.spec.placement, service.spec.ports),
            )
            if move is None:
                break
            self._log.info("moving task", task_id=move.id, node_id=move.node_id)
            fresh: dict[SlotKey, str] = {}
            await self._transact(
                functools.partial(
                    self._renew,
                    batch=[move.slot],
                    order=UpdateOrder.START_FIRST,
                    fresh=fresh,
                    reuse=False,
                )
            )
            outcome = await self._settled(fresh[move.slot])
            if outcome is None or outcome.status.state != TaskState.RUNNING:
                why = "was lost" if outcome is None else "failed"
                if outcome is not None and outcome.status.err:
                    why += f": {outcome.status.err}"
                await self._finish(
                    UpdateState.REBALANCE_PAUSED,
                    f"rebalance paused after {moved} moves: the new task {why}",
                )
                return
            await self._stop([move.id])
            moved += 1
        await self._finish(UpdateState.REBALANCED, f"rebalance completed: {moved} tasks moved")

    async def _settled(self, task_id: str) -> Task | None:
        """The task once it runs or has ended by itself; None if it was lost on the way."""
        while True:
            self._current()
            task = self._store.get(Task, task_id)
            if task is None or not (is_live(task) or task.status.state in ENDED_BY_ITSELF):
                return None
            if task.status.state == TaskState.RUNNING or task.status.state in ENDED_BY_ITSELF:
                return task
            await self._changes()
