"""Network objects in the store: resolving references, creating and removing them, and the
network side of a service (its networks by ID, its virtual IPs). Runs inside store plans."""

from __future__ import annotations

import re
from dataclasses import replace
from ipaddress import IPv4Network

from common.errors import Conflict, InvalidArgument, NotFound
from common.ids import new_id
from common.model import EndpointMode, Network, Node, Service, Task
from common.taskstate import is_live
from manager.networks import ipam
from manager.store import ReadView

# Docker's rule for network names.
_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$")


def resolve_network(view: ReadView, ref: str) -> Network:
    """A network by full ID, then by name, then by unambiguous ID prefix (docker's order)."""
    if not ref:
        raise InvalidArgument("no network given")
    found = view.get(Network, ref)
    if found is not None:
        return found
    networks = view.objects(Network)
    by_name = [n for n in networks if n.name == ref]
    if by_name:
        return by_name[0]
    by_prefix = [n for n in networks if n.id.startswith(ref)]
    if len(by_prefix) == 1:
        return by_prefix[0]
    if len(by_prefix) > 1:
        raise InvalidArgument(f"network {ref} is ambiguous ({len(by_prefix)} matches)")
    raise NotFound(f"network {ref} not found")


def new_network(view: ReadView, name: str, subnet_text: str, labels: dict[str, str]) -> Network:
    if not _NAME.match(name):
        raise InvalidArgument(
            f"invalid network name {name!r}: use 1-63 letters, digits, '_', '.' or '-',"
            " starting with a letter or digit"
        )
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


def with_networks(view: ReadView, service: Service, previous: Service | None) -> Service:
    """service with its spec's network references turned into IDs, and a virtual IP on each
    network in vip mode: the one it had there (previous), else the lowest free one."""
    ids: list[str] = []
    for ref in service.spec.networks:
        network = resolve_network(view, ref)
        if network.id in ids:
            raise InvalidArgument(f"network {network.name} is given more than once")
        ids.append(network.id)
    vips: dict[str, str] = {}
    if service.spec.endpoint_mode == EndpointMode.VIP:
        for network_id in ids:
            kept = previous.virtual_ips.get(network_id) if previous is not None else None
            if kept is None:
                subnet = IPv4Network(resolve_network(view, network_id).subnet)
                used = (s.virtual_ips.get(network_id, "") for s in view.objects(Service))
                kept = ipam.free_vip(subnet, used)
            vips[network_id] = kept
    return replace(service, spec=replace(service.spec, networks=tuple(ids)), virtual_ips=vips)


def rolled_networks(view: ReadView, service: Service, previous: Service) -> Service:
    """with_networks for a rollback the manager starts by itself, which must not fail: with a
    network of the old spec removed meanwhile, the service keeps the virtual IPs it has (its
    tasks are then refused by their nodes, and the rollback pauses as on any failure)."""
    try:
        return with_networks(view, service, previous)
    except NotFound:
        return service
