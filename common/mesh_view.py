"""The routing mesh as the manager hands it to every node: each published ingress port and the
running tasks behind it, wherever they run."""

from __future__ import annotations

from dataclasses import dataclass

from common.model import PortProtocol


@dataclass(frozen=True)
class IngressBackend:
    """A running task: other nodes reach it at addr:host_port, its own node at
    container_ip:target (container addresses repeat across nodes, so only there)."""

    task_id: str
    node_id: str
    addr: str
    host_port: int
    container_ip: str
    target: int


@dataclass(frozen=True)
class IngressPort:
    service_id: str
    published: int
    protocol: PortProtocol
    backends: tuple[IngressBackend, ...] = ()

    @property
    def key(self) -> str:
        return port_key(self.published, self.protocol)


def port_key(published: int, protocol: PortProtocol) -> str:
    """'8080/tcp': an ingress port is published once in the whole cluster, so this names it."""
    return f"{published}/{protocol.name.lower()}"
