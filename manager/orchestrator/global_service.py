"""What a global service's tasks should become: one task on every node that can take it.

A node takes the service when it is not down, not drained, and meets the service's constraints.
A paused node keeps the task it has but gets no new one; a drained node, or one that stops meeting
the constraints, has its task stopped. A node's task is created pinned to it and still passes the
scheduler's filters there, so a node without room for it shows a pending task that says why.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from datetime import datetime

from common.constraints import parse as parse_constraint
from common.model import Availability, Node, NodeState, Service, Task
from common.taskstate import is_live
from manager.orchestrator.restart import SlotKey
from manager.orchestrator.slots import (
    SlotPlan,
    latest_per_slot,
    new_task,
    orphan_lost,
    replacement_decision,
    reruns,
    settle_exits,
    stop,
    surplus,
    trim_history,
)


def reconcile_global(
    service: Service,
    tasks: Iterable[Task],
    nodes: Sequence[Node],
    held_slots: AbstractSet[SlotKey],
    at: datetime,
    lost_nodes: Mapping[str, str] | None = None,
) -> SlotPlan:
    """Plan the writes that give each eligible node one task of service, and no other node any.

    held_slots names the nodes whose restart is being delayed; lost_nodes maps the nodes that are
    down or gone to why, and their unfinished tasks are orphaned.
    """
    plan = SlotPlan()
    lost = lost_nodes or {}
    constraints = [parse_constraint(c) for c in service.spec.placement.constraints]
    by_id = {n.id: n for n in nodes}

    def may_keep(node: Node | None) -> bool:
        return (
            node is not None
            and node.availability != Availability.DRAIN
            and all(c.matches(node) for c in constraints)
        )

    tasks = orphan_lost(tasks, lost, at)
    live = [t for t in tasks if is_live(t)]
    extra = {t.id for t in surplus(service, live)}
    kept: set[str] = set()
    for task in live:
        if task.id in extra or reruns(service, task) or not may_keep(by_id.get(task.node_id)):
            plan.shutdown.append(stop(task))
        else:
            kept.add(task.node_id)
    settle_exits(tasks, service.spec.restart, plan)

    stopping = {t.id: t for t in plan.shutdown}
    latest = latest_per_slot(stopping.get(t.id, t) for t in tasks)
    for node in sorted(nodes, key=lambda n: n.id):
        wanted = (
            node.state != NodeState.DOWN
            and node.availability == Availability.ACTIVE
            and may_keep(node)
        )
        if not wanted or node.id in kept or node.id in lost or node.id in held_slots:
            continue
        before = latest.get(node.id)
        if before is not None and before.finished and not reruns(service, before):
            continue
        after = replacement_decision(before, service.spec.restart)
        plan.create.append(new_task(service, 0, at, after, node_id=node.id))

    plan.delete = trim_history(
        tasks, set(stopping), forget=lambda t: t.node_id not in by_id and t.id not in stopping
    )
    return plan
