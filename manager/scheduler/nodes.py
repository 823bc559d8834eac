"""Nodes as the scheduler sees them: the node, the live tasks it carries and what they hold."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from common.model import Node, PortConfig, PortProtocol, PublishMode, Resources, Task
from manager.networks.ipam import overlay_address

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
    def address(self) -> str:
        """Where the node's overlay traffic goes: what a network's slice holders are told apart
        by."""
        return overlay_address(self.node)

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

    def copy(self) -> NodeInfo:
        """A copy whose counts change apart from this one's."""
        return NodeInfo(
            self.node, Counter(self.tasks_by_service), self.reserved, Counter(self.host_ports)
        )

    def take(self, task: Task, ports: Iterable[HostPort] = ()) -> None:
        """Count task, binding ports, as placed here, for the placements after it in the same
        batch."""
        self.tasks_by_service[task.service_id] += 1
        self.host_ports.update(ports)
        self._reserve(task, 1)

    def count(self, task: Task, sign: int) -> None:
        """Count task as held here (sign 1) or no longer held (-1), with the ports it was made
        with and what it reserves."""
        self.tasks_by_service[task.service_id] += sign
        if not self.tasks_by_service[task.service_id]:
            del self.tasks_by_service[task.service_id]
        for port in host_ports(task.ports):
            self.host_ports[port] += sign
            if not self.host_ports[port]:
                del self.host_ports[port]
        self._reserve(task, sign)

    def _reserve(self, task: Task, sign: int) -> None:
        self.reserved = Resources(
            nano_cpus=self.reserved.nano_cpus + sign * task.reservations.nano_cpus,
            memory_bytes=self.reserved.memory_bytes + sign * task.reservations.memory_bytes,
        )
