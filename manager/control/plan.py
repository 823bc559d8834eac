"""What the scheduler would do with a service's spec on the cluster as it is now (service create
and update with --dry-run): read only, nothing is stored."""

from __future__ import annotations

from common.api import control_pb2 as pb
from common.ids import new_id
from common.model import Node, Service, ServiceSpec, now
from manager.allocator import slices
from manager.node_loads import node_infos
from manager.orchestrator.global_service import reconcile_global
from manager.orchestrator.slots import new_task
from manager.scheduler import demand_of, schedule
from manager.store import ReadView


def plan_placement(view: ReadView, spec: ServiceSpec, service_id: str = "") -> list[pb.PlannedTask]:
    """Where the tasks of a new service of spec would go; with service_id, with that service's
    tasks all replaced by tasks of spec."""
    service = Service(id=service_id or new_id(), spec=spec)
    if spec.mode.is_global:
        tasks = reconcile_global(service, [], view.objects(Node), set(), now()).create
    else:
        tasks = [new_task(service, slot, now()) for slot in range(1, spec.replicas + 1)]
    nodes = node_infos(view, without_service=service_id)
    rooms = slices.rooms(view, spec.networks)
    demand = demand_of(spec.placement, spec.ports, (rooms[n] for n in spec.networks if n in rooms))
    decided = schedule(tasks, nodes, {service.id: demand})
    hostnames = {n.id: n.description.hostname for n in view.objects(Node)}
    planned = []
    for task in tasks:
        # A global service's task names its node even when it could not be placed there.
        node_id = decided.placements.get(task.id, task.node_id)
        planned.append(
            pb.PlannedTask(
                slot=task.slot,
                node_id=node_id,
                hostname=hostnames.get(node_id, ""),
                reason=decided.reasons.get(task.id, ""),
            )
        )
    return planned
