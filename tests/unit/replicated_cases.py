"""What the replicated orchestrator's tests share: the clock, a reconcile pass, and tasks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from common.model import Service, Task
from manager.orchestrator.replicated import reconcile_service
from manager.orchestrator.slots import SlotPlan
from tests.unit.builders import at, task

NOW = at(1000)


def reconcile(
    svc: Service,
    tasks: Iterable[Task],
    *,
    load: Mapping[str, int] | None = None,
    held: set[int] | None = None,
) -> SlotPlan:
    return reconcile_service(svc, list(tasks), load or {}, held or set(), NOW)


def ids(tasks: Iterable[Task]) -> set[str]:
    return {t.id for t in tasks}


def slots(tasks: Iterable[Task]) -> list[int]:
    return sorted(t.slot for t in tasks)


def running(task_id: str, slot: int, node_id: str = "n1") -> Task:
    return task(task_id, slot, node_id=node_id)
