"""Send crafted VXLAN frames: a VXLAN header with a given VNI around a broadcast Ethernet frame,
from one of the host's own addresses to another host's UDP 4789. Run as a module inside a network
namespace: `nsenter --net=/run/netns/NS python -m tests.vxlan_probe SOURCE DEST VNI [COUNT]`."""

from __future__ import annotations

import socket
import struct
import sys

PORT = 4789
# Flags: the VNI is valid (RFC 7348).
_FLAGS = 0x08000000
# An ARP frame to everyone from a locally administered MAC no real interface has.
_FRAME = b"\xff" * 6 + bytes.fromhex("02005e00ff01") + b"\x08\x06" + bytes(28)


def frame(vni: int) -> bytes:
    return struct.pack("!II", _FLAGS, vni << 8) + _FRAME


def send(source: str, dest: str, vni: int, count: int = 1) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        for _ in range(count):
            sock.sendto(frame(vni), (dest, PORT))


if __name__ == "__main__":
    source, dest, vni = sys.argv[1], sys.argv[2], int(sys.argv[3])
    send(source, dest, vni, int(sys.argv[4]) if len(sys.argv) > 4 else 1)
