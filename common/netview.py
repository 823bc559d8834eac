"""What a node is told about the cluster networks it takes part in (the manager computes it,
the agent makes it so)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Endpoint:
    """A service on a network: virtual_ip is empty in dnsrr mode; addresses are those of its
    running tasks."""

    service_name: str
    virtual_ip: str = ""
    addresses: tuple[str, ...] = ()
    # Other names of the service, resolving as its name does (where no service has the name).
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class NodeNetwork:
    """This node's part of a network: its slice of the subnet, with the slice's gateway as the
    node's own address on it; the data addresses of the other nodes on it; its services."""

    id: str
    name: str
    subnet: str
    vni: int
    slice: str
    gateway: str
    peers: tuple[str, ...] = ()
    endpoints: tuple[Endpoint, ...] = ()


@dataclass(frozen=True)
class NetworkView:
    networks: tuple[NodeNetwork, ...] = ()
    # Every other cluster network's subnet: traffic from this node's networks to them is dropped.
    foreign_subnets: tuple[str, ...] = ()
