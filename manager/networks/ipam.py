"""Address plans of cluster networks. Pure.

A network's subnet is one L2 segment spread over the nodes. It is cut into equal slices: slice 0
holds the services' virtual IPs, and each node that runs a task on the network gets a slice of its
own (its containers' addresses, and its gateway as the first of them). Slices never overlap, so
each node's engine hands out addresses with no coordination, and the manager needs to store only
one small number per node and network.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network

from common.addrcheck import unicast_ipv4
from common.errors import Conflict, InvalidArgument, Unavailable
from common.model import Node

# Where networks created without --subnet get one, a /16 each; far from docker's own defaults
# (172.17.0.0/16 and up, 192.168.0.0/16) and from swarm's 10.0.0.0/8 /24s at its bottom.
DEFAULT_POOL = IPv4Network("10.128.0.0/9")
DEFAULT_PREFIX = 16
# A network smaller than this leaves too few slices (16) to be worth spreading over nodes.
SMALLEST_PREFIX = 24
LARGEST_PREFIX = 8
# A slice is a /24 when the subnet is large enough, else a sixteenth of it.
SLICE_PREFIX = 24
MIN_SLICES_BITS = 4
# VXLAN network identifiers: below this some tools reserve values; the field holds 24 bits.
VNI_BASE = 4096
VNI_MAX = (1 << 24) - 1
# Ranges no cluster network may use: their addresses mean something else to every host.
RESERVED = (
    (IPv4Network("0.0.0.0/8"), "'this network'"),
    (IPv4Network("127.0.0.0/8"), "loopback"),
    (IPv4Network("169.254.0.0/16"), "link-local"),
    (IPv4Network("224.0.0.0/4"), "multicast"),
    (IPv4Network("240.0.0.0/4"), "reserved"),
)


def overlay_address(node: Node) -> str:
    """Where the node's overlay traffic goes; empty (no part in any network) unless it is a
    plain unicast IPv4 address, whatever the store holds."""
    address = node.description.data_addr or node.addr
    return address if unicast_ipv4(address) is not None else ""


def parse_subnet(text: str) -> IPv4Network:
    try:
        subnet = ipaddress.ip_network(text.strip(), strict=True)
    except ValueError as exc:
        raise InvalidArgument(f"invalid subnet {text!r}: {exc}") from None
    if not isinstance(subnet, IPv4Network):
        raise InvalidArgument(f"invalid subnet {text!r}: only IPv4 networks are supported")
    if not LARGEST_PREFIX <= subnet.prefixlen <= SMALLEST_PREFIX:
        raise InvalidArgument(
            f"invalid subnet {text!r}: the prefix must be between /{LARGEST_PREFIX}"
            f" and /{SMALLEST_PREFIX}"
        )
    for reserved, what in RESERVED:
        if subnet.overlaps(reserved):
            raise InvalidArgument(f"invalid subnet {text!r}: it overlaps {reserved}, {what}")
    return subnet


def check_no_host(subnet: IPv4Network, hosts: Iterable[tuple[str, str]]) -> None:
    """InvalidArgument when subnet holds the address of a node (name, address): the node's own
    traffic to that address would go into the network. Addresses that are not IPv4 are skipped."""
    for name, text in hosts:
        try:
            address = IPv4Address(text)
        except ValueError:
            continue
        if address in subnet:
            raise InvalidArgument(f"subnet {subnet} holds the address {address} of node {name}")


def check_free(subnet: IPv4Network, taken: Iterable[tuple[str, IPv4Network]]) -> None:
    """Conflict when subnet overlaps the subnet of a network already there (name, subnet)."""
    for name, other in taken:
        if subnet.overlaps(other):
            raise Conflict(f"subnet {subnet} overlaps {other} of network {name}")


def choose_subnet(taken: Iterable[IPv4Network]) -> IPv4Network:
    """The first /16 of the default pool that overlaps none of taken."""
    used = list(taken)
    for candidate in DEFAULT_POOL.subnets(new_prefix=DEFAULT_PREFIX):
        if not any(candidate.overlaps(other) for other in used):
            return candidate
    raise Unavailable(f"the default address pool {DEFAULT_POOL} is used up: give --subnet")


def slice_prefix(subnet: IPv4Network) -> int:
    return max(SLICE_PREFIX, subnet.prefixlen + MIN_SLICES_BITS)


def slice_count(subnet: IPv4Network) -> int:
    return 1 << (slice_prefix(subnet) - subnet.prefixlen)


def node_slice(subnet: IPv4Network, index: int) -> IPv4Network:
    size = 1 << (32 - slice_prefix(subnet))
    first = int(subnet.network_address) + index * size
    return IPv4Network((first, slice_prefix(subnet)))


def gateway(node_part: IPv4Network) -> IPv4Address:
    """The node's own address on the network: the bridge's, and where its name server listens."""
    return node_part.network_address + 1


def free_slice(subnet: IPv4Network, used: Iterable[int]) -> int:
    """The lowest node slice (slice 0 holds the virtual IPs) no node holds."""
    taken = set(used)
    for index in range(1, slice_count(subnet)):
        if index not in taken:
            return index
    raise Unavailable(f"network subnet {subnet} has no slice left for another node")


def free_vip(subnet: IPv4Network, used: Iterable[str]) -> str:
    """The lowest free virtual IP of slice 0; its first address is left out, as the network's
    would be, so no VIP ends in .0."""
    taken = set(used)
    vips = node_slice(subnet, 0)
    for address in list(vips.hosts())[1:]:
        if str(address) not in taken:
            return str(address)
    raise Unavailable(f"network subnet {subnet} has no virtual IP left for another service")


def free_vni(used: Iterable[int]) -> int:
    taken = set(used)
    for vni in range(VNI_BASE, VNI_MAX + 1):
        if vni not in taken:
            return vni
    raise Unavailable("no VXLAN identifier left")
