"""The agent's name server in a process of its own on loopback, with an upstream that never
answers (the costliest case: every forwarded query waits its full time), flooded by one source
while a second source asks a name of ours now and then, as a normal container would. The
integration test runs it briefly; `bench/dns_flood.py` at full size."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.dns_flood import HEADER

REPO = Path(__file__).resolve().parents[1]
SERVER = "127.0.0.1"
NORMAL_SOURCE = "127.0.0.3"
# A name of the normal source's network, and its address.
NAME, ADDRESS = "api", "127.0.0.9"
_CHILD = f"""
import asyncio, sys
from agent.dns.server import NameService
from common.netview import Endpoint, NetworkView, NodeNetwork

async def main():
    service = NameService(upstreams=[("{SERVER}", int(sys.argv[2]))])
    net = NodeNetwork("lo", "lo", "127.0.0.0/8", 4096, "127.0.0.0/8", "{SERVER}", (),
                      (Endpoint("{NAME}", "{ADDRESS}", ()),))
    service.update(NetworkView(networks=(net,)))
    await service.listen("{SERVER}", int(sys.argv[1]))
    print("ready", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


@dataclass(frozen=True)
class Figures:
    sent: int
    flood_answered: int
    seconds: float
    open_files_before: int
    open_files_max: int
    normal_asked: int
    normal_answered: int
    normal_wrong: int


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((SERVER, 0))
        return int(sock.getsockname()[1])


def _open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _ask_name(port: int, qid: int) -> str | None:
    """The address NAME has, asked from NORMAL_SOURCE; None without an answer within a second."""
    label = NAME.encode()
    data = HEADER.pack(qid, 0x0100, 1, 0, 0, 0) + bytes([len(label)]) + label + b"\0\0\1\0\1"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((NORMAL_SOURCE, 0))
        sock.settimeout(1.0)
        sock.sendto(data, (SERVER, port))
        try:
            reply = sock.recv(4096)
        except TimeoutError:
            return None
    if len(reply) < len(data) + 16 or reply[:2] != data[:2]:
        return "malformed"
    return ".".join(str(b) for b in reply[-4:])


def measure(rate: float, seconds: float) -> Figures:
    port = _free_port()
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind((SERVER, 0))
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(port), str(silent.getsockname()[1])],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert child.stdout is not None
        # Its log lines come first; the output ends without "ready" when it fails.
        if not any(line.strip() == "ready" for line in child.stdout):
            raise AssertionError("the name server did not start")
        before = _open_files(child.pid)
        flooder = subprocess.Popen(
            [sys.executable, "-m", "tests.dns_flood", SERVER, str(rate), str(seconds), str(port)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        start = time.monotonic()
        most = before
        asked = answered = wrong = 0
        while flooder.poll() is None:
            most = max(most, _open_files(child.pid))
            asked += 1
            got = _ask_name(port, asked)
            answered += got is not None
            wrong += got not in (None, ADDRESS)
            most = max(most, _open_files(child.pid))
        out, _ = flooder.communicate(timeout=30)
        took = time.monotonic() - start
        counts = json.loads(out)
    finally:
        child.kill()
        child.wait(timeout=30)
        silent.close()
    return Figures(
        sent=counts["sent"],
        flood_answered=counts["answered"],
        seconds=took,
        open_files_before=before,
        open_files_max=most,
        normal_asked=asked,
        normal_answered=answered,
        normal_wrong=wrong,
    )
