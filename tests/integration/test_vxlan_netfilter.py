"""SHOAL-NET-VXLAN on the real kernel, in a network namespace of its own: a VXLAN device takes
frames from the view's peers for their network's VNI, and no frame from anyone else, nor from a
peer once the view drops it; removing the rules leaves nothing of ours. No Docker engine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]
LOCAL = "10.251.0.1"
PEER = "10.251.0.2"
STRANGER = "10.251.0.3"
VNI = 4096
DEVICE = "shv-probe"
# Applies the overlay's rules for a view of one network with the peers given as arguments (none:
# the rules removed), with the agent's own code, inside the namespace it runs in.
APPLY = f"""
import asyncio, sys
from agent.overlay import rules
from common.netview import NetworkView, NodeNetwork
peers = tuple(sys.argv[1:])
net = NodeNetwork(id="probe", name="probe", subnet="10.128.0.0/16", vni={VNI},
                  slice="10.128.1.0/24", gateway="10.128.1.1", peers=peers)
asyncio.run(rules.apply(NetworkView(networks=(net,)) if peers else NetworkView()))
"""


def run(*argv: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, cwd=REPO)
    assert done.returncode == 0, f"{' '.join(argv)}: {done.stderr}"
    return done.stdout


@pytest.fixture
def netns() -> Iterator[str]:
    """A namespace with a VXLAN device on LOCAL, and PEER and STRANGER as further local
    addresses to send from."""
    name = f"shoal-it-vxlan-{os.getpid()}"
    run("ip", "netns", "add", name)
    try:
        run("ip", "-n", name, "link", "set", "lo", "up")
        run("ip", "-n", name, "link", "add", "d0", "type", "veth", "peer", "name", "d1")
        for address in (LOCAL, PEER, STRANGER):
            run("ip", "-n", name, "addr", "add", f"{address}/24", "dev", "d0")
        run("ip", "-n", name, "link", "set", "d0", "up")
        run("ip", "-n", name, "link", "set", "d1", "up")
        run(
            "ip", "-n", name, "link", "add", DEVICE, "type", "vxlan", "id", str(VNI),
            "dstport", "4789", "local", LOCAL,
        )  # fmt: skip
        run("ip", "-n", name, "link", "set", DEVICE, "up")
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False, timeout=30)


def inside(netns: str, *argv: str) -> str:
    return run("nsenter", f"--net=/run/netns/{netns}", *argv)


def apply(netns: str, *peers: str) -> None:
    inside(netns, sys.executable, "-c", APPLY, *peers)


def send(netns: str, source: str, vni: int = VNI, count: int = 5) -> None:
    inside(netns, sys.executable, "-m", "tests.vxlan_probe", source, LOCAL, str(vni), str(count))


def received(netns: str) -> int:
    """Frames the VXLAN device has taken in."""
    [link] = json.loads(run("ip", "-n", netns, "-s", "-j", "link", "show", "dev", DEVICE))
    return int(link["stats64"]["rx"]["packets"])


def test_frames_come_only_from_peers_for_their_network(netns: str) -> None:
    send(netns, STRANGER)
    assert wait_for(lambda: received(netns) == 5, "the frames without any rule", 10)

    apply(netns, PEER)
    send(netns, STRANGER)
    send(netns, PEER, vni=VNI + 1)
    send(netns, PEER)
    assert wait_for(lambda: received(netns) == 10, "the peer's frames", 10)
    # The peer's frames came after the others: had those been let in, they would be counted.
    assert received(netns) == 10


def test_a_peer_the_view_drops_is_dropped(netns: str) -> None:
    apply(netns, PEER, STRANGER)
    send(netns, STRANGER)
    assert wait_for(lambda: received(netns) == 5, "the peer's frames", 10)

    apply(netns, PEER)
    send(netns, STRANGER)
    send(netns, PEER)
    assert wait_for(lambda: received(netns) == 10, "the remaining peer's frames", 10)
    assert received(netns) == 10


def test_removing_the_rules_leaves_nothing_of_ours(netns: str) -> None:
    apply(netns, PEER)
    assert "-A INPUT -j SHOAL-NET-VXLAN" in inside(netns, "iptables-save")
    apply(netns)
    assert "SHOAL" not in inside(netns, "iptables-save")
