"""Placement, as a pure function: (pending tasks, nodes) -> a node per task, or why not.

Each filter can check a node and explain, in counted words, the nodes it excluded, so a task that
cannot be placed says why instead of sitting silently in PENDING.

Tasks that the filters cannot tell apart (same service, same reservations) form a group, which
judges the static filters once per node and keeps the nodes that pass in heaps ordered by the
placement key. Placing a task then costs a few heap steps instead of a pass over every node, so a
batch costs about tasks x log(nodes), plus one pass over the nodes per group.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from heapq import heapify, heappop, heapreplace
from typing import ClassVar, Protocol

from common.constraints import Constraint
from common.constraints import parse as parse_constraint
from common.model import (
    Availability,
    Node,
    NodeState,
    Placement,
    PortConfig,
    PortProtocol,
    PublishMode,
    Resources,
    Task,
)
from common.publish import protocol_name

# A host-mode port as a node holds it: (published, protocol).
HostPort = tuple[int, PortProtocol]


def host_ports(ports: Iterable[PortConfig]) -> tuple[HostPort, ...]:
    """The node ports a task of these ports binds by number (the engine picks the others)."""
    return tuple(
        (p.published, p.protocol) for p in ports if p.mode is PublishMode.HOST and p.published
    )


@dataclass
class NodeInfo:
    """A node as the scheduler sees it: the node, the live tasks it carries and what they hold."""

    node: Node
    tasks_by_service: Counter[str] = field(default_factory=Counter)
    reserved: Resources = field(default_factory=Resources)
    # Host-mode ports its tasks bind, counted per task.
    host_ports: Counter[HostPort] = field(default_factory=Counter)

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
        # Each task holds the ports it was made with: during a rolling update they may differ.
        bound = Counter(port for t in tasks for port in host_ports(t.ports))
        return cls(node, Counter(t.service_id for t in tasks), reserved, bound)

    def take(self, task: Task, ports: Iterable[HostPort] = ()) -> None:
        """Count task, binding ports, as placed here, for the placements after it in the same
        batch."""
        self.tasks_by_service[task.service_id] += 1
        self.host_ports.update(ports)
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
    # Host-mode ports each task binds on its node, from the service's current spec.
    host_ports: tuple[HostPort, ...] = ()


SPREAD_PREFIX = "node.labels."


def demand_of(placement: Placement, ports: Iterable[PortConfig] = ()) -> Demand:
    return Demand(
        constraints=tuple(parse_constraint(c) for c in placement.constraints),
        max_per_node=placement.max_replicas_per_node,
        spread=tuple(key.removeprefix(SPREAD_PREFIX) for key in placement.spread),
        host_ports=host_ports(ports),
    )


class Filter(Protocol):
    """Whether a node can take a task, and how to count the nodes it turned away.

    The scheduler judges a whole group of tasks at once, so a filter may look at the task only
    through what its group shares (service and reservations), and at the node only through that
    node's own state. A static filter ignores what the batch places: the scheduler checks it once
    per group and node. A dynamic filter reads what the batch adds to a node (tasks, reservations)
    and may turn from pass to fail as the batch goes on but never back, since placements only add:
    the scheduler drops a node a dynamic filter rejects for the rest of the group's tasks.
    """

    dynamic: ClassVar[bool]

    def check(self, task: Task, info: NodeInfo, demand: Demand) -> bool: ...

    def explain(self, excluded: int) -> str: ...


def _nodes(count: int) -> str:
    return f"{count} node{'s' if count != 1 else ''}"


class ReadyFilter:
    dynamic: ClassVar[bool] = False

    def check(self, task: Task, info: NodeInfo, demand: Demand) -> bool:
        return info.node.state == NodeState.READY

    def explain(self, excluded: int) -> str:
        return f"{_nodes(excluded)} not ready"


class AvailabilityFilter:
    dynamic: ClassVar[bool] = False

    def check(self, task: Task, info: NodeInfo, demand: Demand) -> bool:
        return info.node.availability == Availability.ACTIVE

    def explain(self, excluded: int) -> str:
        return f"{_nodes(excluded)} not available for new tasks"


class ConstraintFilter:
    """One filter per constraint, so the reason names the constraint that excluded nodes."""

    dynamic: ClassVar[bool] = False

    def __init__(self, constraint: Constraint) -> None:
        self.constraint = constraint

    def check(self, task: Task, info: NodeInfo, demand: Demand) -> bool:
        return self.constraint.matches(info.node)

    def explain(self, excluded: int) -> str:
        return f"constraint {self.constraint} excluded {_nodes(excluded)}"


class MemoryFilter:
    dynamic: ClassVar[bool] = True

    def check(self, task: Task, info: NodeInfo, demand: Demand) -> bool:
        want = task.reservations.memory_bytes
        have = info.node.description.resources.memory_bytes - info.reserved.memory_bytes
        return want == 0 or want <= have

    def explain(self, excluded: int) -> str:
        return f"insufficient memory on {_nodes(excluded)}"


class CpuFilter:
    dynamic: ClassVar[bool] = True

    def check(self, task: Task, info: NodeInfo, demand: Demand) -> bool:
        want = task.reservations.nano_cpus
        have = info.node.description.resources.nano_cpus - info.reserved.nano_cpus
        return want == 0 or want <= have

    def explain(self, excluded: int) -> str:
        return f"insufficient cpu on {_nodes(excluded)}"


class MaxPerNodeFilter:
    dynamic: ClassVar[bool] = True

    def check(self, task: Task, info: NodeInfo, demand: Demand) -> bool:
        limit = demand.max_per_node
        return limit == 0 or info.tasks_by_service[task.service_id] < limit

    def explain(self, excluded: int) -> str:
        return f"max replicas per node reached on {_nodes(excluded)}"


class HostPortFilter:
    """One filter per host-mode port, so the reason names the port. It reads the port from the
    demand (the service's spec now), not from the task: a rolling update runs tasks of two specs.
    """

    dynamic: ClassVar[bool] = True

    def __init__(self, port: HostPort) -> None:
        self.port = port

    def check(self, task: Task, info: NodeInfo, demand: Demand) -> bool:
        return info.host_ports[self.port] == 0

    def explain(self, excluded: int) -> str:
        number, protocol = self.port
        return f"host port {number}/{protocol_name(protocol)} in use on {_nodes(excluded)}"


DEFAULT_FILTERS: tuple[Filter, ...] = (
    ReadyFilter(),
    AvailabilityFilter(),
    MemoryFilter(),
    CpuFilter(),
    MaxPerNodeFilter(),
)


def filters_for(demand: Demand) -> tuple[Filter, ...]:
    """Readiness first, then the service's constraints, then room on the node, then its ports."""
    ready, available, *room = DEFAULT_FILTERS
    return (
        ready,
        available,
        *(ConstraintFilter(c) for c in demand.constraints),
        *room,
        *(HostPortFilter(p) for p in dict.fromkeys(demand.host_ports)),
    )


@dataclass(frozen=True)
class Decision:
    placements: dict[str, str]
    reasons: dict[str, str]


def unplaceable_reason(counts: Counter[int], filters: Sequence[Filter], nodes: int) -> str:
    if nodes == 0:
        return "no suitable node (no nodes in the cluster)"
    parts = [filters[i].explain(n) for i, n in sorted(counts.items())]
    return f"no suitable node ({'; '.join(parts)})"


NODE_NOT_IN_CLUSTER = "no suitable node (its node is not in the cluster)"


def _first_failing(
    filters: Sequence[Filter], task: Task, info: NodeInfo, demand: Demand
) -> int | None:
    """Where the first filter to reject the node sits: the reason counts the node under it."""
    for i, f in enumerate(filters):
        if not f.check(task, info, demand):
            return i
    return None


class _Batch:
    """The nodes as one schedule call changes them: every placement counts for the next."""

    def __init__(self, nodes: Sequence[NodeInfo], demands: Mapping[str, Demand]) -> None:
        self.nodes = nodes
        # NodeInfo.total sums a Counter; placements keep this copy current instead.
        self.totals = [info.total for info in nodes]
        self.index: dict[str, int] = {}
        for i, info in enumerate(nodes):
            self.index.setdefault(info.node.id, i)
        # Ties go by ID, then position: as one int, so keys are all ints and cheap to compare.
        self.rank = [0] * len(nodes)
        for r, i in enumerate(sorted(range(len(nodes)), key=lambda i: (nodes[i].node.id, i))):
            self.rank[i] = r
        # The node of each placement, in order, so a group's reason can catch up on what changed.
        self.placed: list[int] = []
        self._demands = demands
        self._filters: dict[str, tuple[Filter, ...]] = {}
        # Per service that spreads: per key, its tasks on each label value (no label: "").
        self._spread: dict[str, list[Counter[str]]] = {}

    def demand(self, service_id: str) -> Demand:
        return self._demands.get(service_id, Demand())

    def filters(self, service_id: str) -> tuple[Filter, ...]:
        found = self._filters.get(service_id)
        if found is None:
            found = self._filters[service_id] = filters_for(self.demand(service_id))
        return found

    def spread_counts(self, service_id: str) -> list[Counter[str]]:
        """Counted over every node, as they stand when first asked, then kept current by place."""
        counts = self._spread.get(service_id)
        if counts is None:
            keys = self.demand(service_id).spread
            counts = self._spread[service_id] = [Counter() for _ in keys]
            for info in self.nodes:
                own = info.tasks_by_service[service_id]
                if own:
                    for per_value, key in zip(counts, keys, strict=True):
                        per_value[info.node.labels.get(key, "")] += own
        return counts

    def place(self, task: Task, i: int) -> None:
        info = self.nodes[i]
        info.take(task, self.demand(task.service_id).host_ports)
        self.totals[i] += 1
        self.placed.append(i)
        counts = self._spread.get(task.service_id)
        if counts:
            labels = info.node.labels
            keys = self.demand(task.service_id).spread
            for per_value, key in zip(counts, keys, strict=True):
                per_value[labels.get(key, "")] += 1

    def pinned(self, task: Task) -> int | str:
        """A task made for one node (a global service's) goes there or nowhere."""
        i = self.index.get(task.node_id)
        if i is None:
            return NODE_NOT_IN_CLUSTER
        demand = self.demand(task.service_id)
        filters = self.filters(task.service_id)
        failed = _first_failing(filters, task, self.nodes[i], demand)
        if failed is None:
            return i
        return unplaceable_reason(Counter({failed: 1}), filters, 1)


# A placement key, smallest first: the spread counts from the level it is read at down, then the
# node's tasks of the service, its tasks overall, its rank, and last its index in the nodes.
_Key = tuple[int, ...]


class _Leaf:
    """Eligible nodes with the same value for every spread key: only their own load tells them
    apart, so a plain heap of their keys orders them."""

    def __init__(self, keys: list[_Key]) -> None:
        heapify(keys)
        self.heap = keys

    def floor(self) -> _Key:
        return self.heap[0]

    def best(self, group: _Group, task: Task) -> _Key | None:
        """The smallest key once it is current and its node passes the dynamic filters."""
        heap, nodes, totals = self.heap, group.batch.nodes, group.batch.totals
        while heap:
            own, total, rank, i = heap[0]
            info = nodes[i]
            own_now, total_now = info.tasks_by_service[group.service_id], totals[i]
            if own_now != own or total_now != total:
                heapreplace(heap, (own_now, total_now, rank, i))
            elif all(f.check(task, info, group.demand) for f in group.dynamic):
                return heap[0]
            else:
                heappop(heap)
        return None


class _Branch:
    """Subtrees that differ in the value of one spread key, ordered by the service's tasks on
    that value (over every node), then by their best key."""

    def __init__(self, counts: Counter[str], subtrees: dict[str, _Leaf | _Branch]) -> None:
        self.counts = counts
        self.values = list(subtrees)
        self.subtrees = list(subtrees.values())
        self.heap = [((counts[v], *t.floor()), p) for p, (v, t) in enumerate(subtrees.items())]
        heapify(self.heap)

    def floor(self) -> _Key:
        return self.heap[0][0]

    def best(self, group: _Group, task: Task) -> _Key | None:
        heap = self.heap
        while heap:
            stored, p = heap[0]
            below = self.subtrees[p].best(group, task)
            if below is None:
                heappop(heap)
                continue
            key = (self.counts[self.values[p]], *below)
            if key == stored:
                return key
            heapreplace(heap, (key, p))
        return None


class _Group:
    """Where the tasks of one service with the same reservations can go, kept across the batch.

    The eligible nodes form a tree, one level per spread key, then leaves of nodes alike in every
    spread label. Each level keeps a heap whose entries may lag behind: every count in a key only
    grows during a batch, so an entry is never above its true key. The top entry is brought up to
    date and pushed back until the top is current, and then it is the minimum.
    """

    def __init__(self, batch: _Batch, task: Task) -> None:
        self.batch = batch
        self.service_id = task.service_id
        self.demand = batch.demand(task.service_id)
        self.dynamic = tuple(f for f in batch.filters(task.service_id) if f.dynamic)
        static = tuple(f for f in batch.filters(task.service_id) if not f.dynamic)
        nodes, demand = batch.nodes, self.demand
        # One filter at a time over the nodes still in: cheaper than the whole chain per node.
        eligible: Sequence[int] = range(len(nodes))
        for f in static:
            eligible = [i for i in eligible if f.check(task, nodes[i], demand)]
        self._root = self._tree(list(eligible), 0, True) if eligible else None
        self._failed: list[int | None] | None = None
        self._excluded: Counter[int] = Counter()
        self._seen = 0
        self._reason = ""

    def _tree(self, members: list[int], depth: int, top: bool) -> _Leaf | _Branch:
        nodes, totals, rank = self.batch.nodes, self.batch.totals, self.batch.rank
        keys = self.demand.spread
        if depth == len(keys):
            own = self.service_id
            return _Leaf([(nodes[i].tasks_by_service[own], totals[i], rank[i], i) for i in members])
        by_value: dict[str, list[int]] = {}
        for i in members:
            by_value.setdefault(nodes[i].node.labels.get(keys[depth], ""), []).append(i)
        # A key with one value for every eligible node cannot order them, so the top skips it;
        # below the top, siblings need keys of one length to compare, so every level stays.
        if top and len(by_value) == 1:
            return self._tree(members, depth + 1, top)
        counts = self.batch.spread_counts(self.service_id)[depth]
        return _Branch(counts, {v: self._tree(m, depth + 1, False) for v, m in by_value.items()})

    def place(self, task: Task) -> int | str:
        """The index of the node for task, or why there is none."""
        key = self._root.best(self, task) if self._root is not None else None
        return self._why(task) if key is None else key[-1]

    def _why(self, task: Task) -> str:
        """The counted reason over every node as they stand now. Once worked out, only the nodes
        placed on since can have changed their verdict, so only those are judged again."""
        batch, filters = self.batch, self.batch.filters(self.service_id)
        if self._failed is None:
            self._failed = [
                _first_failing(filters, task, info, self.demand) for info in batch.nodes
            ]
            self._excluded = Counter(i for i in self._failed if i is not None)
        elif self._seen == len(batch.placed):
            return self._reason
        else:
            for n in set(batch.placed[self._seen :]):
                was = self._failed[n]
                now = _first_failing(filters, task, batch.nodes[n], self.demand)
                if now != was:
                    if was is not None:
                        self._excluded[was] -= 1
                    if now is not None:
                        self._excluded[now] += 1
                    self._failed[n] = now
        self._seen = len(batch.placed)
        self._reason = unplaceable_reason(+self._excluded, filters, len(batch.nodes))
        return self._reason


def schedule(
    pending: Sequence[Task],
    nodes: Sequence[NodeInfo],
    demands: Mapping[str, Demand] | None = None,
) -> Decision:
    """Place each task on the eligible node whose label groups (spread preferences) hold the
    fewest tasks of its service, then with the fewest tasks of its service, then overall.

    demands gives, per service ID, its constraints, per-node limit and spread. Tasks are placed
    in order and each placement counts for the next, so a batch spreads evenly. Ties go to the
    node ID, which keeps the result deterministic. A task that already names its node (a global
    service's) can only go there. The NodeInfos are updated with what is placed on them.
    """
    batch = _Batch(nodes, demands or {})
    groups: dict[tuple[str, Resources], _Group] = {}
    placements: dict[str, str] = {}
    reasons: dict[str, str] = {}
    for task in pending:
        if task.node_id:
            verdict = batch.pinned(task)
        else:
            group = groups.get((task.service_id, task.reservations))
            if group is None:
                group = groups[task.service_id, task.reservations] = _Group(batch, task)
            verdict = group.place(task)
        if isinstance(verdict, str):
            reasons[task.id] = verdict
            continue
        batch.place(task, verdict)
        placements[task.id] = nodes[verdict].node.id
    return Decision(placements, reasons)
