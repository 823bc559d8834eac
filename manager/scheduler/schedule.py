"""The scheduler's entry point: a batch of pending tasks placed in order, each counting for the
next."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from common.model import Resources, Task
from manager.scheduler.batch import Batch, Unplaceable
from manager.scheduler.filters import Demand
from manager.scheduler.groups import Group
from manager.scheduler.nodes import NodeInfo


@dataclass(frozen=True)
class Schedule:
    """What one schedule call decided: task ID -> node ID, and task ID -> why it stays pending."""

    placements: dict[str, str]
    reasons: dict[str, str]


def schedule(
    pending: Sequence[Task],
    nodes: Sequence[NodeInfo],
    demands: Mapping[str, Demand] | None = None,
) -> Schedule:
    """Place each task on the eligible node whose label groups (spread preferences) hold the
    fewest tasks of its service, then with the fewest tasks of its service, then overall.

    demands gives, per service ID, its constraints, per-node limit and spread. Tasks are placed
    in order and each placement counts for the next, so a batch spreads evenly. Ties go to the
    node ID, which keeps the result deterministic. A task that already names its node (a global
    service's) can only go there. The NodeInfos given are left as they were.
    """
    batch = Batch(nodes, demands or {})
    groups: dict[tuple[str, Resources], Group] = {}
    placements: dict[str, str] = {}
    reasons: dict[str, str] = {}
    for task in pending:
        if task.node_id:
            verdict = batch.pinned(task)
        else:
            group = groups.get((task.service_id, task.reservations))
            if group is None:
                group = groups[task.service_id, task.reservations] = Group(batch, task)
            verdict = group.place(task)
        if isinstance(verdict, Unplaceable):
            reasons[task.id] = verdict.reason
            continue
        batch.place(task, verdict.index)
        placements[task.id] = nodes[verdict.index].node.id
    return Schedule(placements, reasons)
