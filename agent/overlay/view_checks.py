"""What the agent takes from a network view before it builds links, rules and names from it.

Defence in depth: the manager checks what nodes report, and the agent checks again what it is
told. A bad entry (an address with a newline, one outside its network, a peer that is no host)
is skipped and logged, and the rest of the view is made as usual; a network whose own fields
are bad is skipped whole, since nothing of it can be built safely.
"""

from __future__ import annotations

import re
from dataclasses import replace
from ipaddress import IPv4Network

import structlog

from common.addrcheck import ipv4_network, unicast_ipv4
from common.netview import Endpoint, NetworkView, NodeNetwork

log = structlog.get_logger("overlay")

_ID = re.compile(r"[0-9a-z]{1,64}")
# Docker's service names, as the control API takes them.
_SERVICE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
VNI_MAX = (1 << 24) - 1


def checked(view: NetworkView) -> NetworkView:
    networks = []
    for network in view.networks:
        subnet = _network_problem(network)
        if isinstance(subnet, str):
            log.warning("network of the view skipped", network_id=network.id[:64], why=subnet)
            continue
        networks.append(_checked_network(network, subnet))
    foreign = []
    for text in view.foreign_subnets:
        if ipv4_network(text) is None:
            log.warning("foreign subnet of the view skipped", subnet=text[:40])
        else:
            foreign.append(text)
    return NetworkView(networks=tuple(networks), foreign_subnets=tuple(foreign))


def _network_problem(network: NodeNetwork) -> IPv4Network | str:
    """The network's subnet, or why the network cannot be built."""
    if not _ID.fullmatch(network.id):
        return "invalid network ID"
    subnet = ipv4_network(network.subnet)
    part = ipv4_network(network.slice)
    gateway = unicast_ipv4(network.gateway)
    if subnet is None or part is None or not part.subnet_of(subnet):
        return "invalid subnet or slice"
    if gateway is None or gateway not in part:
        return "invalid gateway"
    if not 1 <= network.vni <= VNI_MAX:
        return "invalid VXLAN ID"
    return subnet


def _checked_network(network: NodeNetwork, subnet: IPv4Network) -> NodeNetwork:
    peers = []
    for peer in network.peers:
        address = unicast_ipv4(peer)
        if address is None or address.is_loopback or address in subnet:
            log.warning("peer skipped", network_id=network.id, peer=peer[:40])
        else:
            peers.append(peer)
    endpoints = []
    for endpoint in network.endpoints:
        vip = endpoint.virtual_ip
        if not _SERVICE_NAME.fullmatch(endpoint.service_name) or (vip and not _inside(vip, subnet)):
            log.warning(
                "service of the view skipped",
                network_id=network.id,
                service=endpoint.service_name[:64],
            )
            continue
        addresses = tuple(a for a in endpoint.addresses if _inside(a, subnet))
        if len(addresses) != len(endpoint.addresses):
            log.warning(
                "task addresses skipped",
                network_id=network.id,
                service=endpoint.service_name,
                skipped=[a[:40] for a in endpoint.addresses if not _inside(a, subnet)][:10],
            )
        aliases = tuple(a for a in endpoint.aliases if _SERVICE_NAME.fullmatch(a))
        if len(aliases) != len(endpoint.aliases):
            log.warning(
                "service aliases skipped",
                network_id=network.id,
                service=endpoint.service_name,
                skipped=[a[:64] for a in endpoint.aliases if not _SERVICE_NAME.fullmatch(a)][:10],
            )
        endpoints.append(Endpoint(endpoint.service_name, vip, addresses, aliases))
    return replace(network, peers=tuple(peers), endpoints=tuple(endpoints))


def _inside(text: str, subnet: IPv4Network) -> bool:
    address = unicast_ipv4(text)
    return address is not None and address in subnet
