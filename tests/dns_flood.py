"""A DNS query flood, bounded in rate, count and time: random names (none of them cached or known
anywhere) sent to one name server from one source address, answers counted. Run as a module inside
a container's network namespace to flood the agent's name server as a container would:
`nsenter --net=/proc/PID/ns/net python -m tests.dns_flood SERVER RATE SECONDS [PORT]` prints
{"sent": N, "answered": M} as JSON.

It sends RATE x SECONDS queries at RATE a second; on a machine too busy to keep that pace it
goes on sending them for up to SECONDS more, so the flood is whole however busy the machine."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import struct
import sys
import time

# Header: ID, flags (recursion desired), one question.
HEADER = struct.Struct("!HHHHHH")
_TAIL = b"\x07example\x00" + struct.pack("!HH", 1, 1)
# The pace is kept per tick; sleeping less than this is not worth a system call.
_TICK = 0.002


def random_query() -> bytes:
    label = os.urandom(8).hex().encode()
    qid = int.from_bytes(os.urandom(2), "big")
    return HEADER.pack(qid, 0x0100, 1, 0, 0, 0) + bytes([len(label)]) + label + _TAIL


def flood(
    server: str, rate: float, seconds: float, port: int = 53, source: str = ""
) -> dict[str, int]:
    sent = answered = 0
    total = int(rate * seconds)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        sock.setblocking(False)
        start = time.monotonic()
        while sent < total and (elapsed := time.monotonic() - start) < 2 * seconds:
            due = min(int(elapsed * rate) + 1, total)
            while sent < due:
                # A datagram the socket's own buffer had no room for counts as sent: it is the
                # pace that is kept, not a count of what arrived.
                with contextlib.suppress(BlockingIOError, ConnectionRefusedError):
                    sock.sendto(random_query(), (server, port))
                sent += 1
            while True:
                try:
                    sock.recv(4096)
                except (BlockingIOError, ConnectionRefusedError):
                    break
                answered += 1
            time.sleep(_TICK)
    return {"sent": sent, "answered": answered}


if __name__ == "__main__":
    target, per_second, duration = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    where = int(sys.argv[4]) if len(sys.argv) > 4 else 53
    print(json.dumps(flood(target, per_second, duration, where)), flush=True)
