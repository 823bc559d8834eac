"""Who may send this node VXLAN frames: UDP 4789 is taken only from the data address of a node
the manager lists as a peer of a network, and only for that network's VXLAN ID. Everything else
sent to the port (a host that is no node, a node removed from the cluster, a peer of one network
speaking for another) is dropped before the kernel's VXLAN socket sees it; otherwise anyone who
reaches the port could put frames on a network's bridge, or teach its forwarding table (learning
is on) to send the network's traffic elsewhere. Pure: rule text for iptables-restore."""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Address

from agent.overlay.links import VXLAN_PORT
from common.netview import NetworkView

CHAIN = "SHOAL-NET-VXLAN"
_PORT = f"-p udp -m udp --dport {VXLAN_PORT}"
# The VNI is the top 24 bits of the VXLAN header's second word, 12 bytes into the UDP header;
# u32 first takes the IP header's length (IHL x 4) from the packet's first byte.
_VNI = '-m u32 --u32 "0>>22&0x3C@12>>8={vni}"'


def rules(view: NetworkView) -> list[str]:
    """The chain's rules: a RETURN (on to the rest of INPUT) per network and peer, then a DROP
    for whatever else comes to the port."""
    lines = [
        f"-A {CHAIN} -s {peer}/32 {_PORT} {_VNI.format(vni=network.vni)} -j RETURN"
        for network in view.networks
        for peer in _addresses(network.peers)
    ]
    lines.append(f"-A {CHAIN} {_PORT} -j DROP")
    return lines


def _addresses(peers: Iterable[str]) -> list[str]:
    """The peers that are IPv4 addresses, in a stable order; anything else is no peer at all
    (and never reaches the rule text)."""
    found = set()
    for peer in peers:
        try:
            found.add(IPv4Address(peer))
        except ValueError:
            continue
    return [str(address) for address in sorted(found)]
