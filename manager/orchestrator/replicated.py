"""What a replicated service's tasks should become, as a pure function of the current state.

Slots are numbered from 1; a replacement takes the slot of the task it replaces, and scaling up
fills the lowest free slots first.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from common.ids import new_id
from common.model import Service, Task, TaskState, TaskStatus
from common.taskstate import is_live
from manager.orchestrator.restart import Decision, decide

HISTORY_PER_SLOT = 5


@dataclass
class SlotPlan:
    shutdown: list[Task] = field(default_factory=list)
    create: list[Task] = field(default_factory=list)
    delete: list[Task] = field(default_factory=list)
    # Tasks that ended while wanted running, with what their restart policy says.
    exited: list[tuple[Task, Decision]] = field(default_factory=list)


def new_task(service: Service, slot: int, at: datetime, after: Decision | None = None) -> Task:
    """A task for slot; after: the restart decision about the task it replaces, if any."""
    return Task(
        id=new_id(),
        service_id=service.id,
        service_name=service.spec.name,
        slot=slot,
        spec=service.spec.container,
        desired_state=TaskState.RUNNING,
        status=TaskStatus(state=TaskState.PENDING, timestamp=at, message="pending task scheduling"),
        restart_streak=after.streak if after else 0,
        restart_times=after.times if after else (),
        reservations=service.spec.reservations,
    )


def _orphan(task: Task, at: datetime, why: str) -> Task:
    status = TaskStatus(state=TaskState.ORPHANED, timestamp=at, err=why)
    return replace(task, status=status)


def _stop(task: Task) -> Task:
    if task.status.state < TaskState.ASSIGNED:
        # No agent has it, so no agent will report it stopped: it ends here.
        status = replace(
            task.status, state=TaskState.SHUTDOWN, message="removed before it was placed"
        )
        return replace(task, desired_state=TaskState.SHUTDOWN, status=status)
    return replace(task, desired_state=TaskState.SHUTDOWN)


def reconcile_service(
    service: Service,
    tasks: Iterable[Task],
    node_load: Mapping[str, int],
    held_slots: set[int],
    at: datetime,
    lost_nodes: Mapping[str, str] | None = None,
    draining: frozenset[str] = frozenset(),
) -> SlotPlan:
    """Plan the writes that bring service's tasks to its spec.

    node_load counts every live task per node (for choosing which replicas to remove when scaling
    down); held_slots are slots whose restart is being delayed: they stay reserved, unfilled.
    lost_nodes maps the nodes that are down or gone to why: their unfinished tasks are orphaned,
    and replaced in the same slots. Tasks on draining nodes are stopped and replaced elsewhere.
    """
    plan = SlotPlan()
    lost = lost_nodes or {}
    policy = service.spec.restart
    tasks = [
        _orphan(t, at, lost[t.node_id]) if t.node_id in lost and not t.status.state.terminal else t
        for t in tasks
    ]
    live = [t for t in tasks if is_live(t)]
    for task in [t for t in live if t.node_id in draining]:
        plan.shutdown.append(_stop(task))
        live.remove(task)
    for task in tasks:
        if task.desired_state == TaskState.RUNNING and task.status.state.terminal:
            decision = decide(task, policy)
            plan.exited.append((task, decision))
            stopped = _stop(task)
            if not decision.restart:
                stopped = replace(stopped, finished=True)
            if decision.reason:
                why = (
                    f"{decision.reason}: {task.status.err}" if task.status.err else decision.reason
                )
                stopped = replace(stopped, status=replace(stopped.status, err=why))
            plan.shutdown.append(stopped)

    stopping = {t.id: t for t in plan.shutdown}
    latest = _latest_per_slot([stopping.get(t.id, t) for t in tasks])
    # Slots whose task ended and, by the policy, stays ended: they count as filled.
    finished = sorted((t for t in latest.values() if t.finished), key=lambda t: -t.slot)
    excess = len(live) + len(finished) - service.spec.replicas
    # Scaling down forgets finished slots first, highest first: nothing runs there to stop.
    while excess > 0 and finished:
        done = finished.pop(0)
        plan.shutdown = [t for t in plan.shutdown if t.id != done.id]
        plan.shutdown.append(replace(done, finished=False))
        excess -= 1
    if excess > 0:
        for task in _pick_for_removal(live, node_load, excess):
            plan.shutdown.append(_stop(task))
            live.remove(task)
    elif excess < 0:
        used = {t.slot for t in live} | {t.slot for t in finished}
        slot = 0
        for _ in range(-excess):
            slot += 1
            while slot in used:
                slot += 1
            if slot in held_slots:
                continue
            before = latest.get(slot)
            after = decide(before, policy) if before and before.status.state.terminal else None
            plan.create.append(new_task(service, slot, at, after))

    plan.delete = _trim_history(tasks, {t.id for t in plan.shutdown})
    return plan


def _latest_per_slot(tasks: list[Task]) -> dict[int, Task]:
    latest: dict[int, Task] = {}
    for task in tasks:
        if task.slot not in latest or task.meta.created_at > latest[task.slot].meta.created_at:
            latest[task.slot] = task
    return latest


def _pick_for_removal(live: list[Task], node_load: Mapping[str, int], count: int) -> list[Task]:
    """Unassigned tasks first, then from the nodes with most of this service, then most overall."""
    per_node = Counter(t.node_id for t in live if t.node_id)
    chosen: list[Task] = []
    candidates = list(live)
    for _ in range(count):
        victim = max(
            candidates,
            key=lambda t: (
                not t.node_id,
                per_node[t.node_id],
                node_load.get(t.node_id, 0),
                t.slot,
            ),
        )
        candidates.remove(victim)
        chosen.append(victim)
        if victim.node_id:
            per_node[victim.node_id] -= 1
    return chosen


def _trim_history(tasks: list[Task], stopping: set[str]) -> list[Task]:
    """Old tasks beyond the history limit of their slot, once they are finished for good."""
    by_slot: dict[int, list[Task]] = {}
    for task in tasks:
        by_slot.setdefault(task.slot, []).append(task)
    doomed: list[Task] = []
    for slot_tasks in by_slot.values():
        slot_tasks.sort(key=lambda t: t.meta.created_at, reverse=True)
        for task in slot_tasks[HISTORY_PER_SLOT:]:
            finished = task.desired_state != TaskState.RUNNING or task.id in stopping
            if finished and task.status.state.terminal:
                doomed.append(task)
    return doomed


def reconcile_removed(tasks: Iterable[Task], known_nodes: set[str]) -> SlotPlan:
    """A deleted service: stop what runs, forget what has stopped or never reached a node."""
    plan = SlotPlan()
    for task in tasks:
        gone = (
            task.status.state.terminal
            or task.status.state < TaskState.ASSIGNED
            or task.node_id not in known_nodes
        )
        if gone:
            plan.delete.append(task)
        elif task.desired_state == TaskState.RUNNING:
            plan.shutdown.append(_stop(task))
    return plan
