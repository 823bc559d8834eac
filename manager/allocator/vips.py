"""Virtual IPs: one per service and network in vip mode, from slice 0 of the network's subnet."""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Network

from common.errors import NotFound
from common.model import EndpointMode, Network, Service
from manager.networks import ipam
from manager.store import ReadView


def virtual_ips(view: ReadView, service: Service, services: Iterable[Service]) -> dict[str, str]:
    """A virtual IP on each of the spec's networks in vip mode: the one the service has there,
    else the lowest free one among services; NotFound for a network removed meanwhile."""
    if service.spec.endpoint_mode != EndpointMode.VIP:
        return {}
    vips: dict[str, str] = {}
    for network_id in service.spec.networks:
        kept = service.virtual_ips.get(network_id)
        if kept is None:
            network = view.get(Network, network_id)
            if network is None:
                raise NotFound(f"network {network_id} not found")
            used = (s.virtual_ips.get(network_id, "") for s in services)
            kept = ipam.free_vip(IPv4Network(network.subnet), used)
        vips[network_id] = kept
    return vips


def has_virtual_ips(service: Service) -> bool:
    """Whether the service holds exactly the virtual IPs its spec asks for."""
    wanted = service.spec.networks if service.spec.endpoint_mode == EndpointMode.VIP else ()
    return set(service.virtual_ips) == set(wanted)
