"""Services, tasks and nodes as docker's JSON shows them (Service, Task, Node), and the one
write of a node docker's clients make (NodeSpec)."""

from __future__ import annotations

from typing import Any

from common.model import (
    Availability,
    Meta,
    Node,
    NodeRole,
    NodeState,
    PublishMode,
    Service,
    Task,
    TaskState,
    UpdateState,
    UpdateStatus,
)
from manager.docker_api.shapes.fields import Fields
from manager.docker_api.shapes.service_spec import port_to_json, spec_to_json, task_spec_to_json
from manager.docker_api.shapes.times import timestamp

AVAILABILITY = {
    "active": Availability.ACTIVE,
    "pause": Availability.PAUSE,
    "drain": Availability.DRAIN,
}
ROLE = {"worker": NodeRole.WORKER, "manager": NodeRole.MANAGER}

# Docker knows updates and rollbacks; a rebalance replaces tasks as an update does.
_UPDATE_STATE = {
    UpdateState.UPDATING: "updating",
    UpdateState.PAUSED: "paused",
    UpdateState.COMPLETED: "completed",
    UpdateState.ROLLBACK_STARTED: "rollback_started",
    UpdateState.ROLLBACK_PAUSED: "rollback_paused",
    UpdateState.ROLLBACK_COMPLETED: "rollback_completed",
    UpdateState.REBALANCING: "updating",
    UpdateState.REBALANCED: "completed",
    UpdateState.REBALANCE_PAUSED: "paused",
}


def meta_to_json(id_: str, meta: Meta) -> dict[str, Any]:
    return {
        "ID": id_,
        "Version": {"Index": meta.version},
        "CreatedAt": timestamp(meta.created_at),
        "UpdatedAt": timestamp(meta.updated_at),
    }


def service_to_json(service: Service, status: tuple[int, int] | None = None) -> dict[str, Any]:
    """status: (running, desired) tasks, docker's ServiceStatus, when the client asked."""
    out = meta_to_json(service.id, service.meta) | {
        "Spec": spec_to_json(service.spec),
        "Endpoint": {
            "Spec": spec_to_json(service.spec)["EndpointSpec"],
            "Ports": [port_to_json(p) for p in service.endpoint_ports],
            "VirtualIPs": [
                {"NetworkID": network, "Addr": addr}
                for network, addr in sorted(service.virtual_ips.items())
            ],
        },
    }
    if service.previous_spec is not None:
        out["PreviousSpec"] = spec_to_json(service.previous_spec)
    if service.update_status.state != UpdateState.NONE:
        out["UpdateStatus"] = _update_status(service.update_status)
    if status is not None:
        running, desired = status
        out["ServiceStatus"] = {"RunningTasks": running, "DesiredTasks": desired}
    return out


def _update_status(u: UpdateStatus) -> dict[str, Any]:
    out = {
        "State": _UPDATE_STATE[u.state],
        "StartedAt": timestamp(u.started_at),
        "Message": u.message,
    }
    if u.completed_at > u.started_at:
        out["CompletedAt"] = timestamp(u.completed_at)
    return out


def state_word(state: TaskState) -> str:
    return state.name.lower()


def task_to_json(task: Task) -> dict[str, Any]:
    status = task.status
    # Docker shows a task's own ports only for host-mode publishing; an ingress port's binding
    # on the node is the routing mesh's business.
    host_mode = {(p.target, p.protocol) for p in task.ports if p.mode == PublishMode.HOST}
    return meta_to_json(task.id, task.meta) | {
        "Labels": {},
        "Spec": task_spec_to_json(task.spec, task.reservations, task.networks, task.force_update),
        "ServiceID": task.service_id,
        "Slot": task.slot,
        "NodeID": task.node_id,
        "Status": {
            "Timestamp": timestamp(status.timestamp),
            "State": state_word(status.state),
            "Message": status.message,
            "Err": status.err,
            "ContainerStatus": {
                "ContainerID": status.container_id,
                "ExitCode": status.exit_code,
            },
            "PortStatus": {
                "Ports": [
                    {
                        "Protocol": p.protocol.name.lower(),
                        "TargetPort": p.target,
                        "PublishedPort": p.host_port,
                        "PublishMode": "host",
                    }
                    for p in status.ports
                    if (p.target, p.protocol) in host_mode
                ]
            },
        },
        "DesiredState": state_word(task.desired_state),
        "NetworksAttachments": [
            {"Network": {"ID": network}, "Addresses": [addr]}
            for network, addr in sorted(status.addresses.items())
        ],
    }


def node_to_json(node: Node, leader_id: str) -> dict[str, Any]:
    d = node.description
    # A manager's addr carries its port; an agent's is the bare address of its session.
    host = node.addr.rpartition(":")[0] if node.addr.count(":") == 1 else node.addr
    out = meta_to_json(node.id, node.meta) | {
        "Spec": {
            "Labels": node.labels,
            "Role": node.role.name.lower(),
            "Availability": node.availability.name.lower(),
        },
        "Description": {
            "Hostname": d.hostname,
            "Platform": {"Architecture": d.arch, "OS": d.os},
            "Resources": {
                "NanoCPUs": d.resources.nano_cpus,
                "MemoryBytes": d.resources.memory_bytes,
            },
            "Engine": {"EngineVersion": d.engine_version, "Labels": {}, "Plugins": []},
        },
        "Status": {"State": _node_state(node.state), "Message": node.message, "Addr": host},
    }
    if node.role == NodeRole.MANAGER:
        out["ManagerStatus"] = {
            "Leader": node.id == leader_id,
            "Reachability": "reachable",
            "Addr": node.addr,
        }
    return out


def _node_state(state: NodeState) -> str:
    return state.name.lower()


def node_spec_from_json(body: Any, node: Node) -> tuple[Availability, dict[str, str]]:
    """What a NodeSpec asks: availability and labels; the role and name only as they are."""
    spec = Fields(body, "")
    availability = spec.choice("Availability", AVAILABILITY, node.availability)
    labels = spec.labels("Labels")
    spec.allow("Role", node.role.name.lower())
    spec.allow("Name", node.description.hostname)
    spec.done()
    return availability, labels
