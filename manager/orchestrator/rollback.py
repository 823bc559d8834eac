"""A rollback, asked for by a client or started by a failed update: one path for both."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace

from common.errors import InvalidArgument, NotFound
from common.model import Network, PortProtocol, Service, UpdateState, UpdateStatus, now
from manager.allocator.ports import check_ports
from manager.store import ReadView


def rolled_back(
    view: ReadView,
    service: Service,
    message: str,
    reserved: Collection[tuple[int, PortProtocol]],
) -> Service:
    """service going back to its previous spec, the update status saying so with message.

    InvalidArgument when it has no previous spec or another service took a port it gave up;
    NotFound when a network of the previous spec was removed meanwhile. The ports and virtual
    IPs it gets back are the allocator's to give.
    """
    spec = service.previous_spec
    if spec is None:
        raise InvalidArgument(f"service {service.spec.name} has no previous spec to roll back to")
    check_ports(service.id, spec.ports, view.objects(Service), reserved)
    for network_id in spec.networks:
        if view.get(Network, network_id) is None:
            raise NotFound(f"network {network_id} of the previous spec was removed")
    status = UpdateStatus(UpdateState.ROLLBACK_STARTED, now(), message=message)
    return replace(service, spec=spec, previous_spec=service.spec, update_status=status)
