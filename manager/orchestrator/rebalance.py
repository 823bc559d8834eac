"""Which task to move to even a replicated service's spread out: a pure function.

A task is worth moving when some node that may take it would hold fewer of the service (its spread
groups first, then the node itself) than the task's own node holds without it. Moving from the
fullest node to the emptiest, one task at a time, takes the fewest moves.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from common.model import Service, ServiceMode, Task, TaskState
from common.taskstate import is_live
from manager.scheduler import Demand, NodeInfo, filters_for


def best_move(
    service: Service, tasks: Sequence[Task], nodes: Sequence[NodeInfo], demand: Demand
) -> Task | None:
    """The task to move next, or None when no move evens the spread out (or tasks are still
    starting, moving or pending: a rebalance waits for a settled service)."""
    if service.spec.mode != ServiceMode.REPLICATED:
        return None
    live = [t for t in tasks if is_live(t)]
    if any(t.status.state != TaskState.RUNNING for t in live):
        return None
    if len({t.slot for t in live}) != len(live):
        return None
    by_id = {info.node.id: info for info in nodes}
    filters = filters_for(demand)

    def key(info: NodeInfo, counts: list[Counter[str]]) -> tuple[int, ...]:
        groups = (
            c[info.node.labels.get(k, "")] for c, k in zip(counts, demand.spread, strict=True)
        )
        return (*groups, info.tasks_by_service[service.id])

    def spread_counts() -> list[Counter[str]]:
        counts: list[Counter[str]] = []
        for label in demand.spread:
            per_value: Counter[str] = Counter()
            for info in nodes:
                per_value[info.node.labels.get(label, "")] += info.tasks_by_service[service.id]
            counts.append(per_value)
        return counts

    before = spread_counts()
    candidates = sorted(
        (t for t in live if t.node_id in by_id),
        key=lambda t: (key(by_id[t.node_id], before), t.slot),
        reverse=True,
    )
    for task in candidates:
        source = by_id[task.node_id]
        # Judged as if the task had left its node already.
        source.tasks_by_service[service.id] -= 1
        try:
            after = spread_counts()
            targets = [
                info
                for info in nodes
                if info is not source and all(f.check(task, info, demand) for f in filters)
            ]
            if not targets:
                continue
            best = min(targets, key=lambda i: (key(i, after), i.total, i.node.id))
            if key(best, after) < key(source, after):
                return task
        finally:
            source.tasks_by_service[service.id] += 1
    return None
