"""What a service asks of a node (its demand), and the filters that check a node against it.

Each filter can check a node and explain, in counted words, the nodes it excluded, so a task that
cannot be placed says why instead of sitting silently in PENDING.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol

from common.constraints import Constraint
from common.constraints import parse as parse_constraint
from common.model import Availability, NodeState, Placement, PortConfig, Task
from common.publish import protocol_name
from manager.scheduler.network_room import NetworkRoom
from manager.scheduler.nodes import HostPort, NodeInfo, host_ports


@dataclass(frozen=True)
class Demand:
    """What a task's service asks of a node beyond room for the task."""

    constraints: tuple[Constraint, ...] = ()
    max_per_node: int = 0
    # Label keys to spread the service's tasks over, outermost first.
    spread: tuple[str, ...] = ()
    # Host-mode ports each task binds on its node, from the service's current spec.
    host_ports: tuple[HostPort, ...] = ()
    # The networks of the service's current spec, each task needing a slice of each.
    networks: tuple[NetworkRoom, ...] = ()


SPREAD_PREFIX = "node.labels."


def demand_of(
    placement: Placement,
    ports: Iterable[PortConfig] = (),
    networks: Iterable[NetworkRoom] = (),
) -> Demand:
    return Demand(
        constraints=tuple(parse_constraint(c) for c in placement.constraints),
        max_per_node=placement.max_replicas_per_node,
        spread=tuple(key.removeprefix(SPREAD_PREFIX) for key in placement.spread),
        host_ports=host_ports(ports),
        networks=tuple(networks),
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


class NetworkAddressFilter:
    """A node with no overlay address cannot take part in a network."""

    dynamic: ClassVar[bool] = False

    def __init__(self, room: NetworkRoom) -> None:
        self.room = room

    def check(self, task: Task, info: NodeInfo, demand: Demand) -> bool:
        return bool(info.address)

    def explain(self, excluded: int) -> str:
        return f"network {self.room.name}: no overlay address on {_nodes(excluded)}"


class NetworkSliceFilter:
    """A node without a slice of the network, when no slice is left to give it."""

    dynamic: ClassVar[bool] = True

    def __init__(self, room: NetworkRoom) -> None:
        self.room = room

    def check(self, task: Task, info: NodeInfo, demand: Demand) -> bool:
        return self.room.free > 0 or self.room.holds(info.node.id)

    def explain(self, excluded: int) -> str:
        return f"network {self.room.name}: no free address slice on {_nodes(excluded)}"


class NetworkEngineFilter:
    """Nodes that share a Docker engine (several agents on one engine, as tests and demos run
    them) cannot each have the network there: the engine keeps one bridge per network, on the
    slice of the node that made it first. Such tasks wait, saying why, rather than fail."""

    dynamic: ClassVar[bool] = True

    def __init__(self, room: NetworkRoom) -> None:
        self.room = room

    def check(self, task: Task, info: NodeInfo, demand: Demand) -> bool:
        return not self.room.engine_taken(info.node.id, info.node.description.engine_id)

    def explain(self, excluded: int) -> str:
        return (
            f"network {self.room.name}: another node on the same Docker engine holds it"
            f" ({_nodes(excluded)})"
        )


DEFAULT_FILTERS: tuple[Filter, ...] = (
    ReadyFilter(),
    AvailabilityFilter(),
    MemoryFilter(),
    CpuFilter(),
    MaxPerNodeFilter(),
)


def filters_for(demand: Demand) -> tuple[Filter, ...]:
    """Readiness first, then the service's constraints, then room on the node, then its ports,
    then its networks."""
    ready, available, *room = DEFAULT_FILTERS
    return (
        ready,
        available,
        *(ConstraintFilter(c) for c in demand.constraints),
        *room,
        *(HostPortFilter(p) for p in dict.fromkeys(demand.host_ports)),
        *(NetworkAddressFilter(r) for r in demand.networks),
        *(NetworkSliceFilter(r) for r in demand.networks),
        *(NetworkEngineFilter(r) for r in demand.networks),
    )


def node_only_key(f: Filter) -> object | None:
    """What a filter that judges the node alone (not the task, nor the batch's placements) is
    known by, so its verdicts serve every service of a batch; None for the others."""
    if isinstance(f, ConstraintFilter):
        return f.constraint
    if isinstance(f, ReadyFilter | AvailabilityFilter):
        return type(f)
    return None


def unplaceable_reason(counts: Counter[int], filters: Sequence[Filter], nodes: int) -> str:
    if nodes == 0:
        return "no suitable node (no nodes in the cluster)"
    parts = [filters[i].explain(n) for i, n in sorted(counts.items())]
    return f"no suitable node ({'; '.join(parts)})"


NODE_NOT_IN_CLUSTER = "no suitable node (its node is not in the cluster)"


def first_failing(
    filters: Sequence[Filter], task: Task, info: NodeInfo, demand: Demand
) -> int | None:
    """Where the first filter to reject the node sits: the reason counts the node under it."""
    for i, f in enumerate(filters):
        if not f.check(task, info, demand):
            return i
    return None
