"""Published ingress ports: one service each in the whole cluster, allocated when not given.

An ingress port answers on every node, so it may be published by one service only; a host-mode
port of the same number would collide with it on whichever node runs that task.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from common.errors import InvalidArgument
from common.model import PortConfig, PortProtocol, PublishMode, Service
from common.publish import protocol_name

# Docker's range for ingress ports the user leaves to the cluster.
ALLOCATION_RANGE = range(30000, 32768)

_Key = tuple[int, PortProtocol]


def check_ports(
    service_id: str,
    ports: Iterable[PortConfig],
    others: Iterable[Service],
    reserved: Collection[_Key] = (),
) -> dict[_Key, tuple[str, PublishMode]]:
    """InvalidArgument when ports asks for a reserved port (common.ports.reserved_ports, which
    an ingress port would take over on every node and a host port on its node) or for one
    another service publishes; else what the others hold: (port, protocol) -> (name, mode).
    others: every service in the store (this one is skipped), with the ports asked in their
    spec as well as those given to them, so a service not yet allocated holds its ports too."""
    ports = tuple(ports)
    for p in ports:
        if p.published and (p.published, p.protocol) in reserved:
            raise InvalidArgument(
                f"port {p.published}/{protocol_name(p.protocol)} is reserved for the cluster's"
                " own use: publish another one"
            )
    used_by: dict[_Key, tuple[str, PublishMode]] = {}
    for other in others:
        if other.id == service_id:
            continue
        for p in (*other.endpoint_ports, *other.spec.ports):
            if p.published:
                key = (p.published, p.protocol)
                # An ingress claim is the stronger one: it is the one to name in an error.
                if key not in used_by or p.mode is PublishMode.INGRESS:
                    used_by[key] = (other.spec.name, p.mode)
    for p in ports:
        if not p.published:
            continue
        claim = used_by.get((p.published, p.protocol))
        if claim is None:
            continue
        name, mode = claim
        if PublishMode.INGRESS in (mode, p.mode):
            raise InvalidArgument(
                f"port {p.published}/{protocol_name(p.protocol)} is already in use by service"
                f" {name} as {'an ingress' if mode is PublishMode.INGRESS else 'a host'} port"
            )
    return used_by


def endpoint_ports(
    service_id: str,
    ports: Iterable[PortConfig],
    current: Iterable[PortConfig],
    others: Iterable[Service],
    reserved: Collection[_Key] = (),
) -> tuple[PortConfig, ...]:
    """ports with every ingress port's published port filled in, or InvalidArgument as
    check_ports says. current: this service's ports as last allocated, so an update keeps the
    ports it was given."""
    ports = tuple(ports)
    used_by = check_ports(service_id, ports, others, reserved)
    asked = {(p.published, p.protocol) for p in ports if p.published}
    # A port given before to an unpublished target stays with it across updates.
    reusable = [
        p
        for p in current
        if p.mode is PublishMode.INGRESS and (p.published, p.protocol) not in asked
    ]
    taken = set(used_by) | asked
    result = []
    for p in ports:
        if p.published or p.mode is PublishMode.HOST:
            result.append(p)
            continue
        again = next(
            (c for c in reusable if (c.target, c.protocol) == (p.target, p.protocol)), None
        )
        if again is not None:
            reusable.remove(again)
            published = again.published
        else:
            published = _free(p.protocol, taken)
        taken.add((published, p.protocol))
        result.append(PortConfig(p.target, published, p.protocol, p.mode))
    return tuple(result)


def _free(protocol: PortProtocol, taken: set[_Key]) -> int:
    for port in ALLOCATION_RANGE:
        if (port, protocol) not in taken:
            return port
    raise InvalidArgument(
        f"no free ingress port left in {ALLOCATION_RANGE.start}-{ALLOCATION_RANGE.stop - 1}"
    )
