"""The task state machine: observed states only move forward."""

from __future__ import annotations

from dataclasses import replace

from common.model import RestartCondition, ServiceSpec, Task, TaskState, TaskStatus
from common.publish import task_ports


def advance(task: Task, status: TaskStatus) -> Task | None:
    """Apply an observed status to a task; None when it would move the state backwards or nowhere.

    A repeat of the current state is accepted only when it brings new facts (a container ID, an
    error), since an agent that adopted a container after a restart reports what it found.
    """
    current = task.status
    if status.state < current.state:
        return None
    if current.state.terminal and status.state != current.state:
        return None
    if status.state == current.state and (
        status.container_id == current.container_id
        and status.err == current.err
        and status.message == current.message
    ):
        return None
    return replace(task, status=status)


# States a task reaches on its own; SHUTDOWN and ORPHANED are the manager's doing.
ENDED_BY_ITSELF = frozenset({TaskState.COMPLETE, TaskState.FAILED, TaskState.REJECTED})


def ended_for_good(state: TaskState, condition: RestartCondition) -> bool:
    """Whether a task that ended in state stays ended under the restart condition, whatever
    the backoff and attempt counts say: its slot gets no replacement."""
    if condition == RestartCondition.NONE:
        return state in ENDED_BY_ITSELF
    return condition == RestartCondition.ON_FAILURE and state == TaskState.COMPLETE


def is_running(task: Task) -> bool:
    """Wanted running and running (healthy, for a task with a health check)."""
    return task.desired_state == TaskState.RUNNING and task.status.state == TaskState.RUNNING


def is_live(task: Task) -> bool:
    """Wanted running and not yet finished: it occupies its slot."""
    return task.desired_state == TaskState.RUNNING and not task.status.state.terminal


def _runs(spec: ServiceSpec) -> tuple[object, ...]:
    """What a task made from spec runs: every field of a task that comes from its spec."""
    return (
        spec.container,
        spec.reservations,
        spec.force_update,
        task_ports(spec.ports),
        spec.networks,
    )


def _ran(task: Task) -> tuple[object, ...]:
    return (task.spec, task.reservations, task.force_update, task.ports, task.networks)


def is_dirty(task: Task, spec: ServiceSpec) -> bool:
    """Whether task was made from another spec than spec: a rolling update replaces it."""
    return _ran(task) != _runs(spec)


def replaces_tasks(old: ServiceSpec, new: ServiceSpec) -> bool:
    """Whether going from old to new replaces the running tasks (a rolling update)."""
    return _runs(old) != _runs(new)
