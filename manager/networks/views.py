"""What each node is told about its networks, recomputed from the store as it changes.

A node takes part in a network while a task of the network is assigned to it and has not ended;
its view then holds its slice, the other such nodes (VXLAN peers) and every service on the
network with its virtual IP and running tasks' addresses (names and load balancing).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from ipaddress import IPv4Network

from common.addrcheck import unicast_ipv4
from common.model import EndpointMode, Network, Node, Service, Task, TaskState
from common.netview import Endpoint, NetworkView, NodeNetwork
from common.taskstate import is_running
from manager.networks import ipam
from manager.store import Event, ReadView, StateStore

EMPTY = NetworkView()


def takes_part(task: Task) -> bool:
    """Whether the task's node needs its networks: from assignment until the task ends."""
    return bool(task.node_id) and TaskState.ASSIGNED <= task.status.state < TaskState.COMPLETE


def in_slice(address: str, network: Network, node_id: str) -> bool:
    """Whether address is one a container of node_id may have on network: its slice's, past
    the gateway. Checked at intake; checked again here, so no stored report from before that
    can reach another node's view."""
    index = network.slices.get(node_id)
    ip = unicast_ipv4(address)
    if index is None or ip is None:
        return False
    part = ipam.node_slice(IPv4Network(network.subnet), index)
    return ip in part and ip != ipam.gateway(part)


def compute(view: ReadView) -> dict[str, NetworkView]:
    """The view of every node that takes part in a network; other nodes' views are empty."""
    networks = view.objects(Network)
    if not networks:
        return {}
    members: dict[str, set[str]] = defaultdict(set)
    addresses: dict[tuple[str, str], list[str]] = defaultdict(list)
    by_id = {n.id: n for n in networks}
    for task in view.objects(Task):
        if not task.networks:
            continue
        if takes_part(task):
            for network_id in task.networks:
                members[network_id].add(task.node_id)
        if is_running(task):
            for network_id, address in task.status.addresses.items():
                network = by_id.get(network_id)
                if network is not None and in_slice(address, network, task.node_id):
                    addresses[(task.service_id, network_id)].append(address)
    services = view.objects(Service)
    node_addrs = {n.id: ipam.overlay_address(n) for n in view.objects(Node)}
    parts: dict[str, list[NodeNetwork]] = defaultdict(list)
    for network in networks:
        endpoints = tuple(
            Endpoint(
                service_name=s.spec.name,
                virtual_ip=s.virtual_ips.get(network.id, "")
                if s.spec.endpoint_mode == EndpointMode.VIP
                else "",
                addresses=tuple(sorted(addresses.get((s.id, network.id), []))),
                aliases=s.spec.aliases,
            )
            for s in sorted(services, key=lambda s: s.spec.name)
            if network.id in s.spec.networks
        )
        subnet = IPv4Network(network.subnet)
        # Only nodes the allocator has given a slice to, and that are still in the cluster.
        present = sorted(
            n for n in members.get(network.id, ()) if n in network.slices and node_addrs.get(n)
        )
        for node_id in present:
            part = ipam.node_slice(subnet, network.slices[node_id])
            parts[node_id].append(
                NodeNetwork(
                    id=network.id,
                    name=network.name,
                    subnet=network.subnet,
                    vni=network.vni,
                    slice=str(part),
                    gateway=str(ipam.gateway(part)),
                    peers=tuple(sorted({node_addrs[p] for p in present if p != node_id})),
                    endpoints=endpoints,
                )
            )
    all_subnets = {n.id: n.subnet for n in networks}
    views: dict[str, NetworkView] = {}
    for node_id, own in parts.items():
        mine = {n.id for n in own}
        foreign = tuple(sorted(s for net, s in all_subnets.items() if net not in mine))
        views[node_id] = NetworkView(networks=tuple(own), foreign_subnets=foreign)
    return views


def _matters(event: Event) -> bool:
    """Whether an event can change any node's view; tasks without networks never do."""
    if isinstance(event.obj, Task):
        old = event.old if isinstance(event.old, Task) else None
        return bool(event.obj.networks or (old is not None and old.networks))
    return isinstance(event.obj, Network | Service | Node)


class NetworkViews:
    """The current view of each node, and a way for a session to wait for its node's to change."""

    def __init__(self, store: StateStore) -> None:
        self._store = store
        self._views: dict[str, NetworkView] = compute(store)
        self._changed = asyncio.Condition()

    def current(self, node_id: str) -> NetworkView:
        return self._views.get(node_id, EMPTY)

    async def changed(self, node_id: str, sent: NetworkView | None) -> NetworkView:
        """The node's view once it differs from sent; at once when nothing was sent yet."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.current(node_id) != sent)
            return self.current(node_id)

    async def run(self) -> None:
        watch = self._store.watch()
        try:
            # Whatever changed between the constructor and the watch.
            await self._refresh()
            while True:
                batch = await watch.next_batch()
                if any(_matters(event) for event in batch):
                    await self._refresh()
        finally:
            watch.close()

    async def _refresh(self) -> None:
        views = compute(self._store)
        if views != self._views:
            async with self._changed:
                self._views = views
                self._changed.notify_all()
