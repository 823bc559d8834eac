"""What a replicated service's tasks should become, as a pure function of the current state.

Slots are numbered from 1; a replacement takes the slot of the task it replaces, and scaling up
fills the lowest free slots first.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import replace
from datetime import datetime

from common.model import Service, Task
from common.taskstate import is_live
from manager.orchestrator.restart import SlotKey
from manager.orchestrator.slots import (
    SlotPlan,
    latest_per_slot,
    live_by_slot,
    new_task,
    orphan_lost,
    replacement_decision,
    reruns,
    settle_exits,
    stop,
    surplus,
    trim_history,
)


def reconcile_service(
    service: Service,
    tasks: Iterable[Task],
    node_load: Mapping[str, int],
    held_slots: AbstractSet[SlotKey],
    at: datetime,
    lost_nodes: Mapping[str, str] | None = None,
    draining: frozenset[str] = frozenset(),
) -> SlotPlan:
    """Plan the writes that bring service's tasks to its spec.

    node_load counts every live task per node (for choosing which replicas to remove when scaling
    down); held_slots are slots whose restart is being delayed: they stay reserved, unfilled.
    lost_nodes maps the nodes that are down or gone to why: their unfinished tasks are orphaned,
    and replaced in the same slots. Tasks on draining nodes are stopped and replaced elsewhere.
    """
    plan = SlotPlan()
    policy = service.spec.restart
    tasks = orphan_lost(tasks, lost_nodes or {}, at)
    live = [t for t in tasks if is_live(t)]
    leaving = {t.id for t in live if t.node_id in draining} | {t.id for t in surplus(service, live)}
    leaving |= {t.id for t in live if reruns(service, t)}
    for task in [t for t in live if t.id in leaving]:
        plan.shutdown.append(stop(task))
        live.remove(task)
    settle_exits(tasks, policy, plan)

    stopping = {t.id: t for t in plan.shutdown}
    latest = latest_per_slot([stopping.get(t.id, t) for t in tasks])
    # Slots whose task ended and, by the policy, stays ended: they count as filled.
    finished = sorted(
        (t for t in latest.values() if t.finished and not reruns(service, t)),
        key=lambda t: -t.slot,
    )
    occupied = live_by_slot(live)
    excess = len(occupied) + len(finished) - service.spec.replicas
    # Scaling down forgets finished slots first, highest first: nothing runs there to stop.
    while excess > 0 and finished:
        done = finished.pop(0)
        plan.shutdown = [t for t in plan.shutdown if t.id != done.id]
        plan.shutdown.append(replace(done, finished=False))
        excess -= 1
    if excess > 0:
        newest = [slot_tasks[0] for slot_tasks in occupied.values()]
        for victim in _pick_for_removal(newest, node_load, excess):
            plan.shutdown.extend(stop(t) for t in occupied[victim.slot])
    elif excess < 0:
        used = {t.slot for t in live} | {t.slot for t in finished}
        slot = 0
        missing = -excess
        if service.spec.mode.is_job:
            # A job's slots are its completions, at most max_concurrent running at once.
            missing = min(missing, max(0, service.spec.concurrency - len(live)))
        for _ in range(missing):
            slot += 1
            while slot in used:
                slot += 1
            if slot in held_slots:
                continue
            after = replacement_decision(latest.get(slot), policy)
            plan.create.append(new_task(service, slot, at, after))

    plan.delete = trim_history(tasks, {t.id for t in plan.shutdown})
    return plan


def _pick_for_removal(live: list[Task], node_load: Mapping[str, int], count: int) -> list[Task]:
    """Unassigned tasks first, then from the nodes with most of this service, then most overall."""
    per_node = Counter(t.node_id for t in live if t.node_id)
    chosen: list[Task] = []
    candidates = list(live)
    for _ in range(count):
        victim = max(
            candidates,
            key=lambda t: (
                not t.node_id,
                per_node[t.node_id],
                node_load.get(t.node_id, 0),
                t.slot,
            ),
        )
        candidates.remove(victim)
        chosen.append(victim)
        if victim.node_id:
            per_node[victim.node_id] -= 1
    return chosen
