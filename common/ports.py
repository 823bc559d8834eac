"""The manager's ports: one for everything authenticated, the next one up for joining."""

from __future__ import annotations

from common.model import PortProtocol
from common.netaddr import join_host_port, split_host_port

DEFAULT_PORT = 7462


def join_addr(manager_addr: str) -> str:
    """Where a manager reached at manager_addr serves joins: the same host, the port above.

    Joining needs a port of its own: gRPC Python can either require a client certificate on a
    port or not ask for one, and a joining node has none yet.
    """
    host, port = split_host_port(manager_addr, DEFAULT_PORT)
    return join_host_port(host, port + 1)


# Ports every node listens on, or that its host's services need: publishing one would take it
# over on the node (host mode) or on every node (ingress). Docker's TLS engine port, the
# overlay's VXLAN, the agent's DNS server, and etcd's client and peer ports.
NODE_PORTS: frozenset[tuple[int, PortProtocol]] = frozenset(
    {
        (2376, PortProtocol.TCP),
        (4789, PortProtocol.UDP),
        (53, PortProtocol.TCP),
        (53, PortProtocol.UDP),
        (2379, PortProtocol.TCP),
        (2380, PortProtocol.TCP),
    }
)


def reserved_ports(
    manager_port: int, metrics_port: int | None = None, docker_api_port: int | None = None
) -> frozenset[tuple[int, PortProtocol]]:
    """The one list of (port, protocol) no service may publish: NODE_PORTS, the manager's own
    ports (configured and default, each with the join port above it), a metrics port and the
    Docker API's port."""
    tcp = {manager_port, manager_port + 1, DEFAULT_PORT, DEFAULT_PORT + 1}
    for extra in (metrics_port, docker_api_port):
        if extra:
            tcp.add(extra)
    return NODE_PORTS | {(port, PortProtocol.TCP) for port in tcp}
