"""Keeps every service's tasks matching its spec, reacting to store events."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime

import structlog

from common.constraints import parse as parse_constraint
from common.model import Availability, Node, NodeState, Service, Task, TaskState, now
from common.taskstate import is_live
from manager.loops import RETRY_DELAY, attempt, skipping
from manager.orchestrator.global_service import reconcile_global
from manager.orchestrator.replicated import reconcile_service
from manager.orchestrator.restart import RestartSupervisor, SlotKey, slot_key
from manager.orchestrator.slots import SlotPlan, reconcile_removed
from manager.store import Action, Delete, Event, Op, Put, ReadView, StateStore

log = structlog.get_logger("orchestrator")

# Writes one pass makes before it leaves the services it has not reached to the next, which
# follows at once: a pass over a burst of 100 services of 1,000 replicas wrote 100,000 tasks in
# one transaction, and every Control call waited behind it. A service is never split.
PASS_WRITES = 2000


class Orchestrator:
    def __init__(self, store: StateStore) -> None:
        self._store = store
        self._restarts = RestartSupervisor()
        # The services the last pass did not reach.
        self._left: set[str] = set()

    async def run(self) -> None:
        watch = self._store.watch()
        try:
            dirty = {s.id for s in self._store.objects(Service)}
            dirty |= {t.service_id for t in self._store.objects(Task)}
            while True:
                failed = False
                if dirty:
                    failed = not await attempt("reconcile", self._reconcile(dirty))
                    if not failed:
                        dirty = set(self._left)
                wake = self._restarts.next_release(now())
                timeout = (wake - now()).total_seconds() if wake else None
                if failed:
                    timeout = min(timeout or RETRY_DELAY, RETRY_DELAY)
                try:
                    # Not wait_for: on 3.11 it can swallow the cancel that stops this loop.
                    async with asyncio.timeout(timeout):
                        events = await watch.next_batch()
                except TimeoutError:
                    dirty |= {s.id for s in self._store.objects(Service)}
                    continue
                dirty |= self._affected_services(events)
        finally:
            watch.close()

    async def _reconcile(self, service_ids: set[str]) -> None:
        def plan(view: ReadView) -> Sequence[Op]:
            ops: list[Op] = []
            self._left = set()
            nodes = view.objects(Node)
            known_nodes = {n.id for n in nodes}
            draining = frozenset(n.id for n in nodes if n.availability == Availability.DRAIN)
            lost = {
                n.id: f"node {n.description.hostname} is down"
                for n in nodes
                if n.state == NodeState.DOWN
            }
            node_load = _NodeLoad(view)
            ordered = sorted(service_ids)
            for index, service_id in enumerate(ordered):
                if len(ops) >= PASS_WRITES:
                    self._left = set(ordered[index:])
                    break
                # One service whose stored state makes the code raise must not hold up the rest.
                with skipping("reconcile", service_id=service_id):
                    service = view.get(Service, service_id)
                    tasks = view.tasks_of_service(service_id)
                    if service is None:
                        self._restarts.forget_service(service_id)
                        slot_plan = reconcile_removed(tasks, known_nodes)
                    else:
                        removed = {
                            t.node_id: "its node left the cluster"
                            for t in tasks
                            if t.node_id and t.node_id not in known_nodes
                        }
                        slot_plan = self._plan_service(
                            service, tasks, nodes, node_load, lost | removed, draining
                        )
                    ops.extend(_ops(slot_plan))
                    self._restarts.forget_tasks({t.id for t in slot_plan.delete})
            return ops

        stored = await self._store.transact(plan)
        if stored:
            log.debug("reconciled", services=len(service_ids), writes=len(stored))

    def _plan_service(
        self,
        service: Service,
        tasks: list[Task],
        nodes: list[Node],
        load: Mapping[str, int],
        lost: dict[str, str],
        draining: frozenset[str],
    ) -> SlotPlan:
        at = now()
        held = self._restarts.held_slots(service.id, at)
        if service.spec.mode.is_global:
            plan = reconcile_global(service, tasks, nodes, held, at, lost)
        else:
            plan = self._plan_replicated(service, tasks, load, held, at, lost, draining)
        for task, decision in plan.exited:
            if not decision.restart:
                continue
            self._restarts.exited(task, decision.delay, at)
            log.info(
                "task exited",
                service_id=service.id,
                task_id=task.id,
                state=task.status.state.name,
                exit_code=task.status.exit_code,
                restart_in=decision.delay.total_seconds(),
            )
        # Holds made just now apply at once: the slots they name get no task this round.
        newly_held = self._restarts.held_slots(service.id, at) - held
        if newly_held:
            plan.create = [t for t in plan.create if slot_key(t) not in newly_held]
        return plan

    def _plan_replicated(
        self,
        service: Service,
        tasks: list[Task],
        load: Mapping[str, int],
        held: set[SlotKey],
        at: datetime,
        lost: dict[str, str],
        draining: frozenset[str],
    ) -> SlotPlan:
        constraints = [parse_constraint(c) for c in service.spec.placement.constraints]
        if constraints:
            # Nodes that stopped meeting the service's constraints give its tasks up, as drained.
            unfit = {
                t.node_id
                for t in tasks
                if (node := self._store.get(Node, t.node_id)) is not None
                and not all(c.matches(node) for c in constraints)
            }
            draining = draining | unfit
        return reconcile_service(service, tasks, load, held, at, lost, draining)

    def _affected_services(self, events: list[Event]) -> set[str]:
        dirty: set[str] = set()
        for event in events:
            obj = event.obj
            if isinstance(obj, Service):
                dirty.add(obj.id)
            elif isinstance(obj, Node):
                if _moves_tasks(event):
                    dirty |= {t.service_id for t in self._store.tasks_on_node(obj.id)}
                if _changes_eligibility(event):
                    dirty |= {s.id for s in self._store.objects(Service) if s.spec.mode.is_global}
            elif isinstance(obj, Task):
                old = event.old
                if not isinstance(old, Task) or _slot_changed(old, obj):
                    dirty.add(obj.service_id)
        return dirty


def _slot_changed(old: Task, new: Task) -> bool:
    """Whether a task's change can change what its service's slots need: it ended, was placed
    (a task stopped before it is placed ends at once), or is wanted in another state. Its
    steps towards running (accepted, preparing, starting, running) change nothing: passes over
    the service for each of them were most of a burst's work."""
    return (
        old.desired_state != new.desired_state
        or old.status.state.terminal != new.status.state.terminal
        or (old.status.state < TaskState.ASSIGNED) != (new.status.state < TaskState.ASSIGNED)
    )


class _NodeLoad(Mapping[str, int]):
    """Live tasks per node, counted for a node when first asked: only a scale-down asks, and
    counting every task of the cluster at each pass was the cost of a pass in a burst."""

    def __init__(self, view: ReadView) -> None:
        self._view = view
        self._counts: dict[str, int] = {}

    def __getitem__(self, node_id: str) -> int:
        if node_id not in self._counts:
            on_node = self._view.tasks_on_node(node_id)
            self._counts[node_id] = sum(1 for t in on_node if is_live(t))
        return self._counts[node_id]

    def __iter__(self) -> Iterator[str]:
        return iter([n.id for n in self._view.objects(Node)])

    def __len__(self) -> int:
        return len(self._view.objects(Node))


def _moves_tasks(event: Event) -> bool:
    """A node removed, newly down, newly draining or relabelled: its tasks may have to move."""
    if event.action is Action.DELETE:
        return True
    old, new = event.old, event.obj
    if not isinstance(old, Node) or not isinstance(new, Node):
        return False
    down = old.state != new.state and new.state == NodeState.DOWN
    drained = old.availability != new.availability and new.availability == Availability.DRAIN
    # Labels decide constraints: a node may no longer fit the services it runs.
    return down or drained or old.labels != new.labels


def _changes_eligibility(event: Event) -> bool:
    """A node joined, left, or changed what decides whether it runs a global service's task."""
    old, new = event.old, event.obj
    if event.action is not Action.UPDATE or not isinstance(old, Node) or not isinstance(new, Node):
        return True
    return (old.state, old.availability, old.labels) != (new.state, new.availability, new.labels)


def _ops(plan: SlotPlan) -> Iterable[Op]:
    deleted = {t.id for t in plan.delete}
    for task in plan.shutdown:
        if task.id not in deleted:
            yield Put(task)
    for task in plan.create:
        yield Put(task)
    for task in plan.delete:
        yield Delete(task)
