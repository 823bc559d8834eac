"""An agent's session on a link that stops carrying packets, on the real kernel in a network
namespace of its own: the session ends within seconds from its own messages going
unacknowledged (TCP_USER_TIMEOUT), not after its next keepalive ping, which comes only every
10 s. No Docker engine involved."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from common.keepalive import SESSION_OPTIONS
from tests.link_probe import INTERVAL

PING_EVERY = dict(SESSION_OPTIONS)["grpc.keepalive_time_ms"] / 1000


def run(*argv: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, f"{' '.join(argv)}: {done.stderr}"


@pytest.fixture
def netns() -> Iterator[str]:
    name = f"shoal-it-link-{os.getpid()}"
    run("ip", "netns", "add", name)
    try:
        run("ip", "-n", name, "link", "set", "lo", "up")
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False, timeout=30)


def test_a_session_whose_link_drops_every_packet_ends_before_its_next_ping(netns: str) -> None:
    inside = ["nsenter", f"--net=/run/netns/{netns}"]
    probe = subprocess.Popen(
        [*inside, sys.executable, "-m", "tests.link_probe"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert probe.stdout is not None
        flowing = probe.stdout.readline().split()
        assert flowing[:1] == ["flowing"], flowing
        cut = ["iptables", "-A", "INPUT", "-p", "tcp", "--dport", flowing[1], "-j", "DROP"]
        run(*inside, *cut)
        start = time.monotonic()
        ended = probe.stdout.readline().split()
        took = time.monotonic() - start
    finally:
        probe.kill()
        probe.wait(timeout=30)
    assert ended == ["ended", "UNAVAILABLE"]
    # The next message goes out within INTERVAL and is given up on 2 s later; a ping would
    # come only after PING_EVERY.
    assert took < INTERVAL + 4 < PING_EVERY, f"the session ended {took:.1f} s after the cut"
