"""Checks for the addresses and ports that arrive from elsewhere (a node's report, a view from
the manager) before anything is built from them: a string that is not exactly an address never
reaches a rule, a command line or a DNS answer."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

MAX_PORT = 65535


def unicast_ipv4(text: str) -> IPv4Address | None:
    """The address text spells, when it is one host's IPv4 address, written plainly: no
    whitespace, no leading zeros, and not multicast, broadcast, reserved or unspecified."""
    if not text or len(text) > 15:
        return None
    try:
        address = IPv4Address(text)
    except ValueError:
        return None
    if str(address) != text:
        return None
    if address.is_multicast or address.is_reserved or address.is_unspecified:
        return None
    # 255.255.255.255 is reserved too; 0/8 is "this network", never a destination.
    if address in _THIS_NETWORK:
        return None
    return address


def ipv4_network(text: str) -> IPv4Network | None:
    """text as an IPv4 network written plainly (host bits clear), else None."""
    if not text or len(text) > 18:
        return None
    try:
        network = IPv4Network(text)
    except ValueError:
        return None
    return network if str(network) == text else None


def valid_port(port: int) -> bool:
    return 1 <= port <= MAX_PORT


_THIS_NETWORK = IPv4Network("0.0.0.0/8")
