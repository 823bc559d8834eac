"""Which store events a node's session must pass on: tasks assigned to it and what changed in
them, and its node made a manager."""

from __future__ import annotations

from common.model import Node, NodeRole, Task, TaskState
from manager.store import Action, Event


def assigned(task: Task) -> bool:
    """A pending task may name its node already (a global service's) yet wait for the scheduler.
    An orphaned task was given up on and replaced elsewhere: its node must drop its container
    when it comes back, so the task is no longer among the node's assignments."""
    return TaskState.ASSIGNED <= task.status.state != TaskState.ORPHANED


def promoted(event: Event) -> bool:
    """A worker made a manager: its agent's session is for a worker certificate."""
    return (
        isinstance(event.old, Node)
        and isinstance(event.obj, Node)
        and event.old.role == NodeRole.WORKER
        and event.obj.role == NodeRole.MANAGER
    )


def assignment_changed(event: Event) -> bool:
    """Whether the agent must hear of it: status changes came from the agent itself."""
    old, new = event.old, event.obj
    if event.action is not Action.UPDATE or not isinstance(old, Task) or not isinstance(new, Task):
        return True
    if assigned(old) != assigned(new):
        return True
    return (old.desired_state, old.spec, old.node_id) != (new.desired_state, new.spec, new.node_id)
