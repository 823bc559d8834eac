"""What a service holds in the cluster before its tasks can be placed: its published ports and
its virtual IPs, allocated for its current spec."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace

from common.model import PortConfig, PortProtocol, PublishMode, Service
from manager.allocator.ports import endpoint_ports
from manager.allocator.vips import has_virtual_ips, virtual_ips
from manager.store import ReadView


def _matches(asked: PortConfig, given: PortConfig) -> bool:
    if (asked.target, asked.protocol, asked.mode) != (given.target, given.protocol, given.mode):
        return False
    if asked.published:
        return asked.published == given.published
    # The engine picks a host-mode port with none given; the cluster picks an ingress one.
    return asked.mode is PublishMode.HOST or bool(given.published)


def is_allocated(service: Service) -> bool:
    """Whether the service holds what its current spec asks for."""
    asked, given = service.spec.ports, service.endpoint_ports
    ports_ok = len(asked) == len(given) and all(map(_matches, asked, given))
    return ports_ok and has_virtual_ips(service)


def allocate(
    view: ReadView,
    service: Service,
    services: Collection[Service],
    reserved: Collection[tuple[int, PortProtocol]],
) -> Service:
    """service holding what its spec asks for: the ports and virtual IPs it had where the spec
    still asks for them, new ones elsewhere; InvalidArgument or NotFound when it cannot.
    services: every service, as this transaction has allocated them so far."""
    ports = endpoint_ports(
        service.id, service.spec.ports, service.endpoint_ports, services, reserved
    )
    vips = virtual_ips(view, service, services)
    return replace(service, endpoint_ports=ports, virtual_ips=vips)
