"""What replicated and global services share: a slot's tasks, their exits and their history.

A replicated service's slots are numbered from 1; a global service has one slot per node, keyed
by the node's ID (its tasks carry slot 0, as in docker).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from common.ids import new_id
from common.model import RestartPolicy, Service, Task, TaskState, TaskStatus
from common.publish import task_ports
from common.taskstate import is_dirty, is_live
from manager.orchestrator.restart import RestartDecision, SlotKey, decide, slot_key

HISTORY_PER_SLOT = 5


@dataclass
class SlotPlan:
    shutdown: list[Task] = field(default_factory=list)
    create: list[Task] = field(default_factory=list)
    delete: list[Task] = field(default_factory=list)
    # Tasks that ended while wanted running, with what their restart policy says.
    exited: list[tuple[Task, RestartDecision]] = field(default_factory=list)


def new_task(
    service: Service,
    slot: int,
    at: datetime,
    after: RestartDecision | None = None,
    node_id: str = "",
) -> Task:
    """A task for slot (or, with node_id, pinned to that node); after: the restart decision about
    the task it replaces, if any."""
    return Task(
        id=new_id(),
        service_id=service.id,
        service_name=service.spec.name,
        slot=slot,
        spec=service.spec.container,
        node_id=node_id,
        desired_state=TaskState.RUNNING,
        # The allocator gives it what it needs and hands it on to the scheduler (PENDING).
        status=TaskStatus(state=TaskState.NEW, timestamp=at, message="new"),
        restart_streak=after.streak if after else 0,
        restart_times=after.times if after else (),
        reservations=service.spec.reservations,
        force_update=service.spec.force_update,
        ports=task_ports(service.spec.ports),
        networks=service.spec.networks,
    )


def orphan_lost(tasks: Iterable[Task], lost: Mapping[str, str], at: datetime) -> list[Task]:
    """Unfinished tasks on nodes that are down or gone become ORPHANED, with why."""
    return [
        replace(t, status=TaskStatus(state=TaskState.ORPHANED, timestamp=at, err=lost[t.node_id]))
        if t.node_id in lost and not t.status.state.terminal
        else t
        for t in tasks
    ]


def stop(task: Task) -> Task:
    if task.status.state < TaskState.ASSIGNED:
        # No agent has it, so no agent will report it stopped: it ends here.
        status = replace(
            task.status, state=TaskState.SHUTDOWN, message="removed before it was placed"
        )
        return replace(task, desired_state=TaskState.SHUTDOWN, status=status)
    return replace(task, desired_state=TaskState.SHUTDOWN)


def settle_exits(tasks: Iterable[Task], policy: RestartPolicy, plan: SlotPlan) -> None:
    """Tasks that ended while wanted running are shut down, with their restart decision; those the
    policy will not restart are marked finished, and say why when it gave up."""
    for task in tasks:
        if task.desired_state != TaskState.RUNNING or not task.status.state.terminal:
            continue
        decision = decide(task, policy)
        plan.exited.append((task, decision))
        stopped = stop(task)
        if not decision.restart:
            stopped = replace(stopped, finished=True)
        if decision.reason:
            why = f"{decision.reason}: {task.status.err}" if task.status.err else decision.reason
            stopped = replace(stopped, status=replace(stopped.status, err=why))
        plan.shutdown.append(stopped)


def reruns(service: Service, task: Task) -> bool:
    """Whether a job's slot runs again: its task was made from another spec than the job's
    (`service update`, `--force` included). A service that is no job is updated by rolling."""
    return service.spec.mode.is_job and is_dirty(task, service.spec)


def live_by_slot(tasks: Iterable[Task]) -> dict[SlotKey, list[Task]]:
    """Each slot's live tasks, newest first."""
    by_slot: dict[SlotKey, list[Task]] = {}
    for task in sorted(tasks, key=lambda t: t.meta.created_at, reverse=True):
        if is_live(task):
            by_slot.setdefault(slot_key(task), []).append(task)
    return by_slot


def surplus(service: Service, live: Iterable[Task]) -> list[Task]:
    """Live tasks beyond the newest of their slot. A slot holds two only while an update or a
    rebalance starts a new task before stopping the old; without one running, it is a leftover
    (of a manager that stopped midway) and the newest stays."""
    if service.update_status.state.active:
        return []
    return [t for tasks in live_by_slot(live).values() for t in tasks[1:]]


def latest_per_slot(tasks: Iterable[Task]) -> dict[SlotKey, Task]:
    latest: dict[SlotKey, Task] = {}
    for task in tasks:
        key = slot_key(task)
        if key not in latest or task.meta.created_at > latest[key].meta.created_at:
            latest[key] = task
    return latest


def replacement_decision(before: Task | None, policy: RestartPolicy) -> RestartDecision | None:
    """The restart record a slot's next task inherits from the one that ended before it."""
    return decide(before, policy) if before and before.status.state.terminal else None


def trim_history(
    tasks: list[Task], stopping: set[str], forget: Callable[[Task], bool] = lambda _: False
) -> list[Task]:
    """Old tasks beyond the history limit of their slot, once they are finished for good, and
    finished tasks that forget says need no history at all."""
    by_slot: dict[SlotKey, list[Task]] = {}
    for task in tasks:
        by_slot.setdefault(slot_key(task), []).append(task)
    doomed: list[Task] = []
    for slot_tasks in by_slot.values():
        slot_tasks.sort(key=lambda t: t.meta.created_at, reverse=True)
        for index, task in enumerate(slot_tasks):
            finished = task.desired_state != TaskState.RUNNING or task.id in stopping
            if not finished or not task.status.state.terminal:
                continue
            if index >= HISTORY_PER_SLOT or forget(task):
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
            plan.shutdown.append(stop(task))
    return plan
