"""The trust rule at intake: what a node sends is hostile input until checked.

A node reports on its own tasks only, and every field of a report is checked where it arrives,
before the store: each address must be IPv4, on one of the task's networks and inside the
reporting node's slice of it; each port in range; strings capped; and the time is the manager's
own, so no stored timestamp can be years off. A bad field is dropped (and logged) and the rest of
the report kept: a task's state change is news the cluster needs even when a detail is wrong.

A node's description is refused whole when it is out of bounds: that is the node misconfigured or
hostile, and it has to be said at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from ipaddress import IPv4Network

from common.addrcheck import unicast_ipv4, valid_port
from common.errors import InvalidArgument
from common.hostname import hostname_problem
from common.model import Network, NodeDescription, PortBinding, Task, TaskStatus
from manager.networks import ipam

# A status message or error is a line or a few for `service ps`, never a log file.
MAX_TEXT = 1024
# Docker's container IDs are 64 hex digits.
MAX_CONTAINER_ID = 128
MAX_PORT_BINDINGS = 1024
MAX_DESCRIPTION_TEXT = 128
# Generous for any host there is; what is past them is a lie that would skew placement.
MAX_NANO_CPUS = 65536 * 10**9
MAX_MEMORY_BYTES = 1 << 50


def cap(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class Checked:
    """A report made safe to store, and what was dropped from it, for the log."""

    status: TaskStatus
    dropped: tuple[str, ...] = ()


def check_status(
    task: Task,
    node_id: str,
    status: TaskStatus,
    networks: Mapping[str, Network],
    at: datetime,
) -> Checked:
    """status as node_id reported it for task (which must be assigned to node_id), stamped at."""
    dropped: list[str] = []
    ports: list[PortBinding] = []
    for binding in status.ports[:MAX_PORT_BINDINGS]:
        problem = _binding_problem(binding)
        if problem is None:
            ports.append(binding)
        else:
            dropped.append(problem)
    if len(status.ports) > MAX_PORT_BINDINGS:
        dropped.append(f"{len(status.ports) - MAX_PORT_BINDINGS} port bindings past the limit")
    addresses: dict[str, str] = {}
    for network_id, address in status.addresses.items():
        problem = _address_problem(task, node_id, network_id, address, networks)
        if problem is None:
            addresses[network_id] = address
        else:
            dropped.append(problem)
    checked = replace(
        status,
        timestamp=at,
        message=cap(status.message),
        err=cap(status.err),
        container_id=status.container_id[:MAX_CONTAINER_ID],
        ports=tuple(ports),
        addresses=addresses,
    )
    return Checked(checked, tuple(dropped))


def _binding_problem(binding: PortBinding) -> str | None:
    if not valid_port(binding.host_port):
        return f"host port {binding.host_port} out of range"
    if not valid_port(binding.target):
        return f"target port {binding.target} out of range"
    # Used only on the task's own node (container addresses repeat across nodes).
    if binding.container_ip and unicast_ipv4(binding.container_ip) is None:
        return f"container address {binding.container_ip[:40]!r} is not a unicast IPv4 address"
    return None


def _address_problem(
    task: Task, node_id: str, network_id: str, address: str, networks: Mapping[str, Network]
) -> str | None:
    network = networks.get(network_id)
    if network_id not in task.networks or network is None:
        return f"an address on network {network_id[:40]!r}, which the task is not on"
    index = network.slices.get(node_id)
    if index is None:
        return f"an address on network {network.name}, where the node has no slice"
    ip = unicast_ipv4(address)
    part = ipam.node_slice(IPv4Network(network.subnet), index)
    if ip is None or ip not in part or ip == ipam.gateway(part):
        return f"address {address[:40]!r} on network {network.name} is outside the node's slice"
    return None


def check_description(description: NodeDescription, data_addr: str) -> NodeDescription:
    """The description a node sent in its hello, with data_addr, which the manager decides
    (a node sends its overlay traffic from where its session comes, whatever it claims)."""
    problem = hostname_problem(description.hostname)
    if problem is not None:
        raise InvalidArgument(f"invalid hostname {cap(description.hostname, 80)!r}: {problem}")
    resources = description.resources
    if not 0 <= resources.nano_cpus <= MAX_NANO_CPUS:
        raise InvalidArgument(f"invalid CPU count in the node description: {resources.nano_cpus}")
    if not 0 <= resources.memory_bytes <= MAX_MEMORY_BYTES:
        raise InvalidArgument(
            f"invalid memory size in the node description: {resources.memory_bytes}"
        )
    for field, value in (
        ("engine version", description.engine_version),
        ("engine ID", description.engine_id),
        ("os", description.os),
        ("arch", description.arch),
    ):
        if len(value) > MAX_DESCRIPTION_TEXT or not value.isprintable():
            raise InvalidArgument(
                f"invalid {field} in the node description: at most {MAX_DESCRIPTION_TEXT}"
                " printable characters"
            )
    return replace(description, data_addr=data_addr)
