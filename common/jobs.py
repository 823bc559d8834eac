"""How far a job (`--mode replicated-job|global-job`) has come, from its tasks: what the manager
lists (`service ls`: `1/2 (3/5 completed)`) and what `service create` waits for."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from common.model import Service, ServiceMode, Task, TaskState
from common.taskstate import is_dirty, is_live


@dataclass(frozen=True)
class JobCounts:
    completed: int
    # Slots given up on: their last task failed and the restart policy starts none again.
    failed: int
    # Completions to reach: the replicas of a replicated job, a global job's slots (nodes).
    total: int
    running: int
    # Tasks that should be running now (docker's "desired").
    active: int

    @property
    def done(self) -> bool:
        return self.completed + self.failed >= self.total > 0 and self.running == 0

    def column(self) -> str:
        """`service ls`'s REPLICAS for a job."""
        return f"{self.running}/{self.active} ({self.completed}/{self.total} completed)"


def job_counts(service: Service, tasks: Iterable[Task]) -> JobCounts:
    """Counts over the tasks made from the job's current spec: a re-run starts from zero."""
    current = [t for t in tasks if not is_dirty(t, service.spec)]
    latest: dict[int | str, Task] = {}
    for task in sorted(current, key=lambda t: t.meta.created_at):
        latest[task.slot or task.node_id] = task
    completed = sum(
        1 for t in latest.values() if t.finished and t.status.state == TaskState.COMPLETE
    )
    failed = sum(1 for t in latest.values() if t.finished and t.status.state != TaskState.COMPLETE)
    live = [t for t in current if is_live(t)]
    running = sum(1 for t in live if t.status.state == TaskState.RUNNING)
    if service.spec.mode == ServiceMode.REPLICATED_JOB:
        total = service.spec.replicas
        active = min(service.spec.concurrency, max(0, total - completed - failed))
    else:
        total = len(latest)
        active = len(live)
    return JobCounts(completed, failed, total, running, active)
