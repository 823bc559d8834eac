"""Placement, as a pure function: (pending tasks, nodes) -> a node per task, or why not.

Each filter can check a node and explain, in counted words, the nodes it excluded, so a task that
cannot be placed says why instead of sitting silently in PENDING.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from common.model import Availability, Node, NodeState, Task


@dataclass
class NodeInfo:
    """A node as the scheduler sees it: the node and the live tasks it carries."""

    node: Node
    tasks_by_service: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.tasks_by_service.values())

    @classmethod
    def build(cls, node: Node, tasks: Iterable[Task]) -> NodeInfo:
        return cls(node, Counter(t.service_id for t in tasks))


class Filter(Protocol):
    def check(self, task: Task, info: NodeInfo) -> bool: ...

    def explain(self, excluded: int) -> str: ...


def _nodes(count: int) -> str:
    return f"{count} node{'s' if count != 1 else ''}"


class ReadyFilter:
    def check(self, task: Task, info: NodeInfo) -> bool:
        return info.node.state == NodeState.READY

    def explain(self, excluded: int) -> str:
        return f"{_nodes(excluded)} not ready"


class AvailabilityFilter:
    def check(self, task: Task, info: NodeInfo) -> bool:
        return info.node.availability == Availability.ACTIVE

    def explain(self, excluded: int) -> str:
        return f"{_nodes(excluded)} not available for new tasks"


DEFAULT_FILTERS: tuple[Filter, ...] = (ReadyFilter(), AvailabilityFilter())


@dataclass(frozen=True)
class Decision:
    placements: dict[str, str]
    reasons: dict[str, str]


def unplaceable_reason(counts: Counter[int], filters: Sequence[Filter], nodes: int) -> str:
    if nodes == 0:
        return "no suitable node (no nodes in the cluster)"
    parts = [filters[i].explain(n) for i, n in sorted(counts.items())]
    return f"no suitable node ({'; '.join(parts)})"


def schedule(
    pending: Sequence[Task],
    nodes: Sequence[NodeInfo],
    filters: Sequence[Filter] = DEFAULT_FILTERS,
) -> Decision:
    """Place each task on the eligible node with the fewest tasks of its service, then overall.

    Tasks are placed in order and each placement counts for the next, so a batch spreads evenly.
    Ties go to the node ID, which keeps the result deterministic.
    """
    placements: dict[str, str] = {}
    reasons: dict[str, str] = {}
    for task in pending:
        best: NodeInfo | None = None
        best_key: tuple[int, int, str] | None = None
        excluded: Counter[int] = Counter()
        for info in nodes:
            failed = next((i for i, f in enumerate(filters) if not f.check(task, info)), None)
            if failed is not None:
                excluded[failed] += 1
                continue
            key = (info.tasks_by_service[task.service_id], info.total, info.node.id)
            if best_key is None or key < best_key:
                best, best_key = info, key
        if best is None:
            reasons[task.id] = unplaceable_reason(excluded, filters, len(nodes))
            continue
        placements[task.id] = best.node.id
        best.tasks_by_service[task.service_id] += 1
    return Decision(placements, reasons)
