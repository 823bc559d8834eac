"""Placement, as a pure function: (pending tasks, nodes) -> a node per task, or why not.

Each filter can check a node and explain, in counted words, the nodes it excluded, so a task that
cannot be placed says why instead of sitting silently in PENDING.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from common.constraints import Constraint
from common.constraints import parse as parse_constraint
from common.model import Availability, Node, NodeState, Placement, Resources, Task


@dataclass
class NodeInfo:
    """A node as the scheduler sees it: the node, the live tasks it carries and what they hold."""

    node: Node
    tasks_by_service: Counter[str] = field(default_factory=Counter)
    reserved: Resources = field(default_factory=Resources)

    @property
    def total(self) -> int:
        return sum(self.tasks_by_service.values())

    @classmethod
    def build(cls, node: Node, tasks: Iterable[Task]) -> NodeInfo:
        tasks = list(tasks)
        reserved = Resources(
            nano_cpus=sum(t.reservations.nano_cpus for t in tasks),
            memory_bytes=sum(t.reservations.memory_bytes for t in tasks),
        )
        return cls(node, Counter(t.service_id for t in tasks), reserved)

    def take(self, task: Task) -> None:
        """Count task as placed here, for the placements after it in the same batch."""
        self.tasks_by_service[task.service_id] += 1
        self.reserved = Resources(
            nano_cpus=self.reserved.nano_cpus + task.reservations.nano_cpus,
            memory_bytes=self.reserved.memory_bytes + task.reservations.memory_bytes,
        )


@dataclass(frozen=True)
class Demand:
    """What a task's service asks of a node beyond room for the task."""

    constraints: tuple[Constraint, ...] = ()
    max_per_node: int = 0
    # Label keys to spread the service's tasks over, outermost first.
    spread: tuple[str, ...] = ()


SPREAD_PREFIX = "node.labels."


def _spread_counts(
    task: Task, nodes: Sequence[NodeInfo], keys: tuple[str, ...]
) -> list[Counter[str]]:
    """Per spread key, the service's tasks on each label value (a node without it: "")."""
    counts: list[Counter[str]] = []
    for key in keys:
        per_value: Counter[str] = Counter()
        for info in nodes:
            per_value[info.node.labels.get(key, "")] += info.tasks_by_service[task.service_id]
        counts.append(per_value)
    return counts


def demand_of(placement: Placement) -> Demand:
    return Demand(
        constraints=tuple(parse_constraint(c) for c in placement.constraints),
        max_per_node=placement.max_replicas_per_node,
        spread=tuple(key.removeprefix(SPREAD_PREFIX) for key in placement.spread),
    )


class Filter(Protocol):
    def check(self, task: Task, info: NodeInfo, demand: Demand) -> bool: ...

    def explain(self, excluded: int) -> str: ...


def _nodes(count: int) -> str:
    return f"{count} node{'s' if count != 1 else ''}"


class ReadyFilter:
    def check(self, task: Task, info: NodeInfo, demand: Demand) -> bool:
        return info.node.state == NodeState.READY

    def explain(self, excluded: int) -> str:
        return f"{_nodes(excluded)} not ready"


class AvailabilityFilter:
    def check(self, task: Task, info: NodeInfo, demand: Demand) -> bool:
        return info.node.availability == Availability.ACTIVE

    def explain(self, excluded: int) -> str:
        return f"{_nodes(excluded)} not available for new tasks"


class ConstraintFilter:
    """One filter per constraint, so the reason names the constraint that excluded nodes."""

    def __init__(self, constraint: Constraint) -> None:
        self.constraint = constraint

    def check(self, task: Task, info: NodeInfo, demand: Demand) -> bool:
        return self.constraint.matches(info.node)

    def explain(self, excluded: int) -> str:
        return f"constraint {self.constraint} excluded {_nodes(excluded)}"


class MemoryFilter:
    def check(self, task: Task, info: NodeInfo, demand: Demand) -> bool:
        want = task.reservations.memory_bytes
        have = info.node.description.resources.memory_bytes - info.reserved.memory_bytes
        return want == 0 or want <= have

    def explain(self, excluded: int) -> str:
        return f"insufficient memory on {_nodes(excluded)}"


class CpuFilter:
    def check(self, task: Task, info: NodeInfo, demand: Demand) -> bool:
        want = task.reservations.nano_cpus
        have = info.node.description.resources.nano_cpus - info.reserved.nano_cpus
        return want == 0 or want <= have

    def explain(self, excluded: int) -> str:
        return f"insufficient cpu on {_nodes(excluded)}"


class MaxPerNodeFilter:
    def check(self, task: Task, info: NodeInfo, demand: Demand) -> bool:
        limit = demand.max_per_node
        return limit == 0 or info.tasks_by_service[task.service_id] < limit

    def explain(self, excluded: int) -> str:
        return f"max replicas per node reached on {_nodes(excluded)}"


DEFAULT_FILTERS: tuple[Filter, ...] = (
    ReadyFilter(),
    AvailabilityFilter(),
    MemoryFilter(),
    CpuFilter(),
    MaxPerNodeFilter(),
)


def filters_for(demand: Demand) -> tuple[Filter, ...]:
    """Readiness first, then the service's constraints, then room on the node."""
    ready, available, *room = DEFAULT_FILTERS
    return (ready, available, *(ConstraintFilter(c) for c in demand.constraints), *room)


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
    demands: Mapping[str, Demand] | None = None,
) -> Decision:
    """Place each task on the eligible node whose label groups (spread preferences) hold the
    fewest tasks of its service, then with the fewest tasks of its service, then overall.

    demands gives, per service ID, its constraints, per-node limit and spread. Tasks are placed
    in order and each placement counts for the next, so a batch spreads evenly. Ties go to the
    node ID, which keeps the result deterministic.
    """
    placements: dict[str, str] = {}
    reasons: dict[str, str] = {}
    for task in pending:
        demand = (demands or {}).get(task.service_id, Demand())
        filters = filters_for(demand)
        spread = _spread_counts(task, nodes, demand.spread)
        best: NodeInfo | None = None
        best_key: tuple[object, ...] | None = None
        excluded: Counter[int] = Counter()
        for info in nodes:
            failed = next(
                (i for i, f in enumerate(filters) if not f.check(task, info, demand)), None
            )
            if failed is not None:
                excluded[failed] += 1
                continue
            groups = tuple(
                c[info.node.labels.get(k, "")] for c, k in zip(spread, demand.spread, strict=True)
            )
            key = (*groups, info.tasks_by_service[task.service_id], info.total, info.node.id)
            if best_key is None or key < best_key:
                best, best_key = info, key
        if best is None:
            reasons[task.id] = unplaceable_reason(excluded, filters, len(nodes))
            continue
        placements[task.id] = best.node.id
        best.take(task)
    return Decision(placements, reasons)
