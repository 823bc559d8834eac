"""When a slot whose task ended may get its next task: at once the first time, then backing off.

Delays follow DESIGN.md: the first restart is immediate, then 1 s doubling up to 30 s while the
slot keeps failing; a task that lived a minute or more (from its creation to its exit, as the
task records no separate start time) resets the count. The record is kept in
memory: after a manager restart a failing slot starts again from an immediate restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from common.model import Task

FIRST_STEP = timedelta(seconds=1)
MAX_DELAY = timedelta(seconds=30)
RESET_AFTER = timedelta(seconds=60)


def _steps(failures: int) -> int:
    # Capped before exponentiation: a slot failing all night must not overflow timedelta.
    return min(failures - 2, MAX_DELAY // FIRST_STEP)


@dataclass
class _SlotRecord:
    failures: int
    not_before: datetime


class RestartSupervisor:
    def __init__(self) -> None:
        self._slots: dict[tuple[str, int], _SlotRecord] = {}
        self._seen: set[str] = set()

    def exited(self, task: Task, at: datetime) -> None:
        """Record that task ended while wanted running (seen at at); repeats count once."""
        if task.id in self._seen:
            return
        self._seen.add(task.id)
        key = (task.service_id, task.slot)
        ran = task.status.timestamp - task.meta.created_at
        record = self._slots.get(key)
        failures = 1 if record is None or ran >= RESET_AFTER else record.failures + 1
        delay = (
            timedelta(0) if failures == 1 else min(MAX_DELAY, FIRST_STEP * 2 ** _steps(failures))
        )
        self._slots[key] = _SlotRecord(failures, at + delay)

    def held_slots(self, service_id: str, at: datetime) -> set[int]:
        return {
            slot
            for (sid, slot), record in self._slots.items()
            if sid == service_id and record.not_before > at
        }

    def next_release(self, at: datetime) -> datetime | None:
        pending = [r.not_before for r in self._slots.values() if r.not_before > at]
        return min(pending, default=None)

    def forget_service(self, service_id: str) -> None:
        for key in [k for k in self._slots if k[0] == service_id]:
            del self._slots[key]

    def forget_tasks(self, task_ids: set[str]) -> None:
        self._seen -= task_ids
