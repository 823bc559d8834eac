"""Node slices of cluster networks: given in the transaction that assigns a task to its node, so
the node's view holds the network as soon as the task does; freed when the node leaves.

A node keeps its slice while it is in the cluster, so a container that outlives a short gap
between tasks never sees its node's addresses move.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from ipaddress import IPv4Network

from common.errors import Unavailable
from common.model import Network, Node, Task
from manager.networks import ipam
from manager.scheduler import NetworkRoom
from manager.store import Op, Put, ReadView


def rooms(view: ReadView, network_ids: Iterable[str]) -> dict[str, NetworkRoom]:
    """The scheduler's view of each of these networks that exists."""
    found: dict[str, NetworkRoom] = {}
    for network_id in set(network_ids):
        network = view.get(Network, network_id)
        if network is None:
            continue
        holders = {}
        engines = {}
        for node_id in network.slices:
            node = view.get(Node, node_id)
            if node is not None:
                holders[node_id] = ipam.overlay_address(node)
                engines[node_id] = node.description.engine_id
        free = ipam.slice_count(IPv4Network(network.subnet)) - 1 - len(network.slices)
        found[network_id] = NetworkRoom.of(network.name, holders, max(0, free), engines)
    return found


class SliceGrant:
    """The slices one transaction gives, network by network, written once at the end."""

    def __init__(self, view: ReadView) -> None:
        self._view = view
        self._slices: dict[str, dict[str, int]] = {}
        self._networks: dict[str, Network] = {}

    def give(self, task: Task, node_id: str) -> str:
        """Give node_id a slice of each of task's networks it lacks; "" when it holds them all
        then, else why not (and nothing is given)."""
        wanted: list[tuple[str, int]] = []
        for network_id in task.networks:
            network = self._networks.get(network_id) or self._view.get(Network, network_id)
            if network is None:
                return f"network {network_id}: not found"
            self._networks[network_id] = network
            slices = self._slices.setdefault(network_id, dict(network.slices))
            if node_id in slices:
                continue
            try:
                index = ipam.free_slice(IPv4Network(network.subnet), slices.values())
            except Unavailable:
                return f"network {network.name}: no free address slice"
            wanted.append((network_id, index))
        for network_id, index in wanted:
            self._slices[network_id][node_id] = index
        return ""

    def ops(self) -> list[Op]:
        return [
            Put(replace(network, slices=self._slices[network_id]))
            for network_id, network in self._networks.items()
            if self._slices[network_id] != network.slices
        ]


def release(view: ReadView, node_ids: Iterable[str]) -> list[Op]:
    """Free the slices of nodes no longer in the cluster."""
    gone = {n for n in node_ids if view.get(Node, n) is None}
    if not gone:
        return []
    ops: list[Op] = []
    for network in view.objects(Network):
        kept = {node: index for node, index in network.slices.items() if node not in gone}
        if kept != network.slices:
            ops.append(Put(replace(network, slices=kept)))
    return ops
