"""Keeps the manager's gauges of nodes, tasks and services in step with the store.

Counted once at start, then moved by each watch event (the old object's labels down, the new
one's up), so a scrape costs nothing and a large cluster no recount. The gauges are written on
the event loop and read by the metrics server's thread through prometheus_client's own locks.
"""

from __future__ import annotations

from prometheus_client import Gauge

from common.model import Node, NodeState, Service, StoredObject, Task, TaskState
from manager.metrics import ManagerMetrics
from manager.store import Action, Event, StateStore


def _name(value: object) -> str:
    return str(getattr(value, "name", value)).lower()


def unplaceable(task: Task) -> bool:
    """Pending with the scheduler's reason why no node can take it."""
    return (
        task.desired_state == TaskState.RUNNING
        and task.status.state == TaskState.PENDING
        and bool(task.status.err)
    )


class ClusterGauges:
    def __init__(self, store: StateStore, metrics: ManagerMetrics) -> None:
        self._store = store
        self._metrics = metrics
        # The tasks gauge's child per state: labels() takes 2 us, and a task's every write
        # moves it twice.
        self._tasks: dict[TaskState, Gauge] = {}

    async def run(self) -> None:
        # Counted and subscribed with no await between: no event is missed or counted twice.
        counted: list[StoredObject] = [
            *self._store.objects(Node),
            *self._store.objects(Task),
            *self._store.objects(Service),
        ]
        for obj in counted:
            self._count(obj, 1)
        watch = self._store.watch()
        try:
            while True:
                for event in await watch.next_batch():
                    self._apply(event)
        finally:
            watch.close()

    def _apply(self, event: Event) -> None:
        if event.old is not None:
            self._count(event.old, -1)
        if event.action is not Action.DELETE:
            self._count(event.obj, 1)
        old, new = event.old, event.obj
        if (
            isinstance(new, Node)
            and event.action is not Action.DELETE
            and new.state is NodeState.DOWN
            and (not isinstance(old, Node) or old.state is not NodeState.DOWN)
        ):
            self._metrics.nodes_down.inc()

    def _count(self, obj: StoredObject, step: int) -> None:
        m = self._metrics
        if isinstance(obj, Node):
            m.nodes.labels(_name(obj.state), _name(obj.availability)).inc(step)
        elif isinstance(obj, Task):
            state = obj.status.state
            child = self._tasks.get(state)
            if child is None:
                child = self._tasks[state] = m.tasks.labels(_name(state))
            child.inc(step)
            if unplaceable(obj):
                m.unplaceable.inc(step)
        elif isinstance(obj, Service):
            m.services.labels(_name(obj.spec.mode)).inc(step)
            m.updates.labels(_name(obj.update_status.state)).inc(step)
