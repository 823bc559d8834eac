"""The Control API's calls on cluster networks, and the network side of a service's spec. The
network helpers run inside store plans."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from ipaddress import IPv4Network
from typing import Any

from common import convert
from common.api import control_pb2 as pb
from common.errors import Conflict, InvalidArgument
from common.grpc_errors import unary_errors
from common.ids import new_id
from common.limits import MAX_NAME, MAX_WORD, check_labels, check_text
from common.model import Network, Node, Service, Task
from common.names import check_name
from common.taskstate import is_live
from manager.control.base import ControlBase
from manager.control.resolve import resolve_network
from manager.networks import ipam
from manager.store import Delete, Op, Put, ReadView


def new_network(view: ReadView, name: str, subnet_text: str, labels: dict[str, str]) -> Network:
    check_name("network", name)
    existing = view.objects(Network)
    if any(n.name == name for n in existing):
        raise Conflict(f"network with name {name} already exists")
    taken = [(n.name, IPv4Network(n.subnet)) for n in existing]
    if subnet_text:
        subnet = ipam.parse_subnet(subnet_text)
        ipam.check_free(subnet, taken)
        ipam.check_no_host(subnet, _node_addresses(view))
    else:
        subnet = ipam.choose_subnet(net for _, net in taken)
    return Network(
        id=new_id(),
        name=name,
        subnet=str(subnet),
        vni=ipam.free_vni(n.vni for n in existing),
        labels=labels,
    )


def _node_addresses(view: ReadView) -> list[tuple[str, str]]:
    """Each node's addresses (name, address): where it is reached, and its overlay's."""
    found = []
    for node in view.objects(Node):
        name = node.description.hostname or node.id
        # A manager's addr carries its port; an agent's is the bare address of its session.
        host = node.addr.rpartition(":")[0] if node.addr.count(":") == 1 else node.addr
        found += [(name, host), (name, node.description.data_addr)]
    return found


def check_unused(view: ReadView, network: Network) -> None:
    """Conflict while a service names the network or a task on it still runs."""
    users = sorted(s.spec.name for s in view.objects(Service) if network.id in s.spec.networks)
    if users:
        raise Conflict(
            f"network {network.name} is in use by service {', '.join(users)}: remove"
            " or update the service first"
        )
    if any(network.id in t.networks and is_live(t) for t in view.objects(Task)):
        raise Conflict(f"network {network.name} still has tasks stopping; try again shortly")


def with_networks(view: ReadView, service: Service) -> Service:
    """service with its spec's network references turned into IDs; its virtual IPs are the
    allocator's to give."""
    ids: list[str] = []
    for ref in service.spec.networks:
        network = resolve_network(view, ref)
        if network.id in ids:
            raise InvalidArgument(f"network {network.name} is given more than once")
        ids.append(network.id)
    return replace(service, spec=replace(service.spec, networks=tuple(ids)))


class NetworkCalls(ControlBase):
    @unary_errors
    async def CreateNetwork(
        self, request: pb.CreateNetworkRequest, context: Any
    ) -> pb.NetworkResponse:
        check_text("network name", request.name, MAX_NAME)
        check_text("subnet", request.subnet, MAX_WORD)
        labels = dict(request.labels)
        check_labels("network label", labels)

        def plan(view: ReadView) -> Sequence[Op]:
            return [Put(new_network(view, request.name, request.subnet, labels))]

        stored = await self._write_one(plan, "network created", name=request.name)
        assert isinstance(stored, Network)
        return pb.NetworkResponse(network=convert.network_to_pb(stored))

    @unary_errors
    async def GetNetwork(self, request: pb.GetNetworkRequest, context: Any) -> pb.NetworkResponse:
        network = resolve_network(self._store, request.ref)
        return pb.NetworkResponse(network=convert.network_to_pb(network))

    @unary_errors
    async def ListNetworks(
        self, request: pb.ListNetworksRequest, context: Any
    ) -> pb.ListNetworksResponse:
        networks = sorted(self._store.objects(Network), key=lambda n: n.name)
        return pb.ListNetworksResponse(networks=[convert.network_to_pb(n) for n in networks])

    @unary_errors
    async def RemoveNetwork(
        self, request: pb.RemoveNetworkRequest, context: Any
    ) -> pb.RemoveNetworkResponse:
        def plan(view: ReadView) -> Sequence[Op]:
            network = resolve_network(view, request.ref)
            check_unused(view, network)
            return [Delete(network)]

        removed = await self._write_one(plan, "network removed")
        return pb.RemoveNetworkResponse(id=removed.id)
