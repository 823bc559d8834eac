"""A task's life on this node as one pure step function, in the shape of swarmkit's agent/exec.

Given what the manager wants of a task and what is known of its container, `next_step` says what
to do next; `observed` turns what a container is doing into the task's status; `failure` is the
one rule for errors: one met before the task started rejects it, one met from STARTING on fails
it, and the engine not answering at all changes nothing (the engine's return retries it).
"""

from __future__ import annotations

import enum

from agent.overlay import names
from agent.runtime.base import HEALTH_STARTING, HEALTH_UNHEALTHY, ContainerInfo, EngineDown
from common.errors import ShoalError
from common.model import Task, TaskState, TaskStatus, now


class Step(enum.Enum):
    # Prepare (image, networks) and start a container.
    START = "start"
    # Report what the task's container is doing.
    FOLLOW = "follow"
    # It had a container, which is gone: the task failed.
    LOST = "lost"
    # Stop the container of a task wanted no longer running, and report it shut down.
    STOP = "stop"
    # Report a task shut down that has no running container.
    SHUT_DOWN = "shut down"
    NOTHING = "nothing"


def next_step(
    task: Task, reached: TaskState, container: ContainerInfo | None, had_container: bool
) -> Step:
    """For a task assigned to this node (one taken off it only has its container removed).
    reached: the furthest state the task is known to have reached (stored or reported);
    had_container: whether a container of it was ever seen."""
    if task.desired_state != TaskState.RUNNING:
        if container is not None and container.running:
            return Step.STOP
        return Step.NOTHING if task.status.state.terminal else Step.SHUT_DOWN
    if container is not None:
        # Once ended, the first reason given stands: a container stopped for being unhealthy
        # dies next, and that death is not news.
        return Step.NOTHING if reached.terminal else Step.FOLLOW
    if reached.terminal:
        return Step.NOTHING
    if reached >= TaskState.RUNNING or had_container:
        return Step.LOST
    return Step.START


def observed(container: ContainerInfo) -> TaskStatus:
    """The status of a task wanted running, from its container: its exit, unhealthy (the
    caller stops it), not yet healthy, or running."""
    if not container.running:
        if container.exit_code == 0:
            return TaskStatus(
                TaskState.COMPLETE, now(), "finished", container_id=container.id, exit_code=0
            )
        return TaskStatus(
            TaskState.FAILED,
            now(),
            "started",
            err=container.error or f"task: non-zero exit ({container.exit_code})",
            container_id=container.id,
            exit_code=container.exit_code,
        )
    if container.health == HEALTH_UNHEALTHY:
        return TaskStatus(
            TaskState.FAILED,
            now(),
            "unhealthy",
            err="container unhealthy",
            container_id=container.id,
        )
    if container.health == HEALTH_STARTING:
        return TaskStatus(TaskState.STARTING, now(), "starting", container_id=container.id)
    return TaskStatus(
        TaskState.RUNNING,
        now(),
        "started",
        container_id=container.id,
        ports=container.ports,
        addresses=network_addresses(container),
    )


def network_addresses(info: ContainerInfo) -> dict[str, str]:
    """network ID -> the container's address on it, for the engine networks that are ours."""
    found = {}
    for engine_name, address in info.addresses.items():
        network_id = names.network_of(engine_name)
        if network_id is not None:
            found[network_id] = address
    return found


def lost() -> TaskStatus:
    return TaskStatus(TaskState.FAILED, now(), "lost", err="container disappeared")


def failure(reached: TaskState, error: ShoalError, doing: str) -> TaskStatus | None:
    """What an error met while doing something (`preparing`, `starting`) makes of the task."""
    if isinstance(error, EngineDown):
        return None
    state = TaskState.REJECTED if reached < TaskState.STARTING else TaskState.FAILED
    return TaskStatus(state, now(), f"{doing} failed", err=str(error))
