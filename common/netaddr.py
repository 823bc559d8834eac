"""This host's addresses, read from the kernel without sending anything."""

from __future__ import annotations

import fcntl
import socket
import struct
from pathlib import Path

from common.errors import InvalidArgument

_SIOCGIFADDR = 0x8915


def default_route_interface() -> str | None:
    try:
        lines = Path("/proc/net/route").read_text().splitlines()[1:]
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) > 2 and fields[1] == "00000000":
            return fields[0]
    return None


def interface_ipv4(name: str) -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            packed = fcntl.ioctl(
                sock.fileno(), _SIOCGIFADDR, struct.pack("256s", name[:15].encode())
            )
        except OSError:
            return None
    return socket.inet_ntoa(packed[20:24])


def default_address() -> str:
    """The address of the default-route interface; loopback on a host with no route out."""
    name = default_route_interface()
    return (interface_ipv4(name) if name else None) or "127.0.0.1"


def split_host_port(addr: str, default_port: int) -> tuple[str, int]:
    """'h:p', '[v6]:p', 'h' -> (host, port)."""
    if addr.startswith("["):
        host, _, rest = addr[1:].partition("]")
        port = rest.lstrip(":")
    elif addr.count(":") == 1:
        host, _, port = addr.partition(":")
    else:
        host, port = addr, ""
    try:
        return host, int(port) if port else default_port
    except ValueError:
        raise InvalidArgument(f"invalid port in {addr!r}") from None


def join_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def peer_host(peer: str) -> str:
    """gRPC's peer string, 'ipv4:10.0.0.5:4242' or 'ipv6:[::1]:4242' -> the address part."""
    _, _, rest = peer.partition(":")
    host, _, _ = rest.rpartition(":")
    return host.strip("[]")
