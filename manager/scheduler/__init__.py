"""Placement, as a pure function: (pending tasks, nodes) -> a node per task, or why not.

Each filter can check a node and explain, in counted words, the nodes it excluded, so a task that
cannot be placed says why instead of sitting silently in PENDING.

Tasks that the filters cannot tell apart (same service, same reservations) form a group, which
judges the static filters once per node and keeps the nodes that pass in heaps ordered by the
placement key. Placing a task then costs a few heap steps instead of a pass over every node, so a
batch costs about tasks x log(nodes), plus one pass over the nodes per group.
"""

from manager.scheduler.filters import (
    NODE_NOT_IN_CLUSTER,
    SPREAD_PREFIX,
    Demand,
    Filter,
    demand_of,
    filters_for,
    unplaceable_reason,
)
from manager.scheduler.network_room import NetworkRoom
from manager.scheduler.nodes import HostPort, NodeInfo, host_ports
from manager.scheduler.schedule import Schedule, schedule

__all__ = [
    "NODE_NOT_IN_CLUSTER",
    "SPREAD_PREFIX",
    "Demand",
    "Filter",
    "HostPort",
    "NetworkRoom",
    "NodeInfo",
    "Schedule",
    "demand_of",
    "filters_for",
    "host_ports",
    "schedule",
    "unplaceable_reason",
]
