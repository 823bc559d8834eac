"""The worker on the fake runtime, with every report it makes recorded: what the worker's
tests and its health tests stand on."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from agent.runtime.base import (
    NODE_LABEL,
    SERVICE_ID_LABEL,
    SERVICE_NAME_LABEL,
    SLOT_LABEL,
    TASK_LABEL,
    RunSpec,
)
from agent.runtime.fake import FakeContainer, FakeRuntime
from agent.worker import Worker
from common.model import Task, TaskState, TaskStatus
from tests.unit.builders import IMAGE, SERVICE_ID, SERVICE_NAME, task
from tests.waiting import eventually

NODE = "node-a"


async def settle() -> None:
    """Let every reconcile coroutine the worker spawned run to completion.

    The fake runtime never blocks, so a few passes of the loop drain them; used only before
    asserting that something did *not* happen, never as the wait for an expected report.
    """
    for _ in range(20):
        await asyncio.sleep(0)


@dataclass
class Harness:
    runtime: FakeRuntime = field(default_factory=FakeRuntime)
    reports: list[tuple[str, TaskStatus]] = field(default_factory=list)
    worker: Worker = field(init=False)

    def __post_init__(self) -> None:
        self.worker = Worker(NODE, self.runtime, lambda tid, st: self.reports.append((tid, st)))

    def statuses(self, task_id: str) -> list[TaskStatus]:
        return [status for tid, status in self.reports if tid == task_id]

    def states(self, task_id: str) -> list[TaskState]:
        return [status.state for status in self.statuses(task_id)]

    def last(self, task_id: str) -> TaskStatus:
        return self.statuses(task_id)[-1]

    async def reported(self, task_id: str, state: TaskState) -> TaskStatus:
        """Wait for task_id to be reported in state; that report."""
        await eventually(lambda: state in self.states(task_id), f"{task_id} reported {state.name}")
        return next(s for s in self.statuses(task_id) if s.state == state)

    def container_of(self, task_id: str) -> FakeContainer | None:
        found = [
            c
            for c in self.runtime.containers_by_id.values()
            if c.spec.labels.get(TASK_LABEL) == task_id
        ]
        assert len(found) <= 1, f"{len(found)} containers for {task_id}"
        return found[0] if found else None

    def adopt(self, task_id: str, *, running: bool = True, exit_code: int = 0) -> FakeContainer:
        """Put a container of ours for task_id in the engine, as if a previous agent ran it."""
        labels = {
            NODE_LABEL: NODE,
            SERVICE_ID_LABEL: SERVICE_ID,
            SERVICE_NAME_LABEL: SERVICE_NAME,
            TASK_LABEL: task_id,
            SLOT_LABEL: "1",
        }
        spec = RunSpec(name=f"{SERVICE_NAME}.1.{task_id}", image=IMAGE, labels=labels)
        c = FakeContainer(id=f"c-{task_id}", spec=spec, running=running, exit_code=exit_code)
        self.runtime.containers_by_id[c.id] = c
        return c

    def engine_calls(self, verb: str) -> list[str]:
        return [c for c in self.runtime.calls if c.startswith(verb + " ")]


def assigned(
    task_id: str,
    *,
    slot: int = 1,
    image: str = IMAGE,
    state: TaskState = TaskState.ASSIGNED,
    desired: TaskState = TaskState.RUNNING,
    container_id: str = "",
) -> Task:
    """A task as the manager hands it to NODE."""
    return task(
        task_id,
        slot,
        node_id=NODE,
        image=image,
        state=state,
        desired=desired,
        container_id=container_id,
    )


async def running_task(h: Harness, task_id: str = "t1") -> tuple[Task, FakeContainer]:
    """Assign task_id and wait until it runs; the task and its container."""
    t = assigned(task_id)
    h.worker.assign([t], [], full=True)
    await h.reported(task_id, TaskState.RUNNING)
    c = h.container_of(task_id)
    assert c is not None
    return t, c
