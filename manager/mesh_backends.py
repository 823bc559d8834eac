"""The routing mesh's view, as a pure function of the store: each published ingress port and the
running tasks behind it, with where every node reaches them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from common.mesh_view import IngressBackend, IngressPort
from common.model import Node, NodeState, PublishMode, Service, Task
from common.netaddr import split_host_port
from common.taskstate import is_running


def node_address(node: Node, overrides: Mapping[str, str]) -> str:
    """The address other nodes reach node at: what its session came from (host only), unless
    overridden (the manager's own node, whose session comes over loopback)."""
    found = overrides.get(node.id)
    if found:
        return found
    host, _ = split_host_port(node.addr, 0)
    return host


def is_backend(task: Task) -> bool:
    """Running, and wanted running: a task on its way out leaves the rotation at once. A task
    with a health check runs only once healthy, so RUNNING already means healthy."""
    return is_running(task)


def service_ports(
    service: Service, tasks: Iterable[Task], addresses: Mapping[str, str]
) -> list[IngressPort]:
    """The ingress ports of service with their backends; addresses: node ID -> address, for the
    nodes whose tasks may take traffic (serving_addresses)."""
    ingress = [p for p in service.endpoint_ports if p.mode is PublishMode.INGRESS and p.published]
    if not ingress:
        return []
    live = sorted(
        (t for t in tasks if is_backend(t) and addresses.get(t.node_id)), key=lambda t: t.id
    )
    result = []
    for port in ingress:
        backends = []
        for task in live:
            binding = next(
                (
                    b
                    for b in task.status.ports
                    if (b.target, b.protocol) == (port.target, port.protocol)
                ),
                None,
            )
            if binding is not None:
                backends.append(
                    IngressBackend(
                        task_id=task.id,
                        node_id=task.node_id,
                        addr=addresses[task.node_id],
                        host_port=binding.host_port,
                        container_ip=binding.container_ip,
                        target=binding.target,
                    )
                )
        result.append(IngressPort(service.id, port.published, port.protocol, tuple(backends)))
    return result


# A node whose session is away, not yet declared down, keeps its containers running: after a
# manager restart (UNKNOWN until its session is back) or an agent restart (DISCONNECTED).
_SERVING = (NodeState.READY, NodeState.UNKNOWN, NodeState.DISCONNECTED)


def serving_addresses(nodes: Iterable[Node], overrides: Mapping[str, str]) -> dict[str, str]:
    """Node ID -> address of every node whose tasks may take traffic: a node down (cut off,
    silent, its engine gone) or removed drops out at once, before its tasks are moved."""
    return {
        n.id: address
        for n in nodes
        if n.state in _SERVING and (address := node_address(n, overrides))
    }
