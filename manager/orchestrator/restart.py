"""Whether and when a task that ended gets a replacement in its slot.

Backoff (DESIGN.md): the first restart is immediate, then the policy's delay (1 s by default)
doubling up to 30 s while the slot keeps failing; a task that lived a minute or more (from its
creation to its exit: the task records no separate start time) starts the count again.
max_attempts and window keep docker's meaning: at most that many restarts within the window.
The decision is a pure function of the ended task, which carries its slot's restart record;
only the waiting is kept in memory, so after a manager restart a waiting slot restarts at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from common.model import RestartPolicy, Task
from common.taskstate import ENDED_BY_ITSELF, ended_for_good

FIRST_STEP = timedelta(seconds=1)
MAX_DELAY = timedelta(seconds=30)
RESET_AFTER = timedelta(seconds=60)


# A replicated service's slot number, or for a global service the node its slot is on.
SlotKey = int | str


def slot_key(task: Task) -> SlotKey:
    return task.slot or task.node_id


@dataclass(frozen=True)
class RestartDecision:
    restart: bool
    delay: timedelta = timedelta(0)
    streak: int = 0
    times: tuple[datetime, ...] = ()
    # Why not, for `service ps` when the policy gives up.
    reason: str = ""


def decide(task: Task, policy: RestartPolicy) -> RestartDecision:
    """What to do about task, which ended at task.status.timestamp."""
    state = task.status.state
    if ended_for_good(state, policy.condition):
        return RestartDecision(False)
    if state not in ENDED_BY_ITSELF:
        # Stopped or orphaned by the manager: replaced at once, and it is no failure of the task.
        return RestartDecision(True, timedelta(0), task.restart_streak, task.restart_times)
    ended = task.status.timestamp
    # Differences only, never ended - window: a stored time in year 1 must not overflow, and a
    # restart recorded after this end (a time in year 9999) counts for nothing.
    recent = tuple(
        at
        for at in task.restart_times
        if at <= ended and (policy.window is None or ended - at <= policy.window)
    )
    if policy.max_attempts and len(recent) >= policy.max_attempts:
        return RestartDecision(False, reason=f"gave up after {len(recent)} restarts (max attempts)")
    ran = ended - task.meta.created_at
    streak = 0 if ran >= RESET_AFTER else task.restart_streak
    # Only the last max_attempts restarts can ever matter.
    kept = (*recent, ended)[-policy.max_attempts :] if policy.max_attempts else ()
    return RestartDecision(True, _delay(streak, policy), streak + 1, kept)


def _delay(streak: int, policy: RestartPolicy) -> timedelta:
    if streak == 0:
        return timedelta(0)
    step = policy.delay if policy.delay is not None else FIRST_STEP
    cap = max(MAX_DELAY, step)
    if step <= timedelta(0):
        return timedelta(0)
    # Capped before exponentiation: a slot failing all night must not overflow timedelta.
    doublings = min(streak - 1, int(cap / step).bit_length())
    return min(cap, step * (1 << doublings))


class RestartSupervisor:
    """The slots waiting out a backoff delay, in memory, by service: every pass asks for each
    service's slots, and a scan of every hold for each (100 services of 1,000 replicas all
    replaced at once) was a third of a busy manager's time."""

    def __init__(self) -> None:
        self._until: dict[str, dict[SlotKey, datetime]] = {}
        self._seen: set[str] = set()

    def exited(self, task: Task, delay: timedelta, at: datetime) -> None:
        """Hold task's slot for delay from at; repeated calls for one task count once."""
        if task.id in self._seen:
            return
        self._seen.add(task.id)
        holds = self._until.setdefault(task.service_id, {})
        if delay > timedelta(0):
            holds[slot_key(task)] = at + delay
        else:
            holds.pop(slot_key(task), None)

    def held_slots(self, service_id: str, at: datetime) -> set[SlotKey]:
        holds = self._until.get(service_id, {})
        return {slot for slot, until in holds.items() if until > at}

    def next_release(self, at: datetime) -> datetime | None:
        """The first hold to end after `at`; the holds that ended by then are dropped (the
        orchestrator asks at each pass, with the time it is)."""
        ahead: list[datetime] = []
        for service_id, holds in list(self._until.items()):
            for slot in [slot for slot, until in holds.items() if until <= at]:
                del holds[slot]
            if not holds:
                del self._until[service_id]
            ahead.extend(holds.values())
        return min(ahead, default=None)

    def forget_service(self, service_id: str) -> None:
        self._until.pop(service_id, None)

    def forget_tasks(self, task_ids: set[str]) -> None:
        self._seen -= task_ids
