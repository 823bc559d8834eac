"""The open join port under a flood: nodes keep their heartbeats and a new node still joins."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests.integration.cluster import Cluster, free_port
from tests.waiting import wait_for

CLIENTS = 32
FLOOD_SECONDS = 20.0
JOIN_WITHIN = 10.0


@pytest.fixture(scope="module")
def flooded(
    engine: docker.APIClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    """A manager listening on both loopbacks: agents come over 127.0.0.1, the flood over ::1,
    so the flood is a peer of its own, as an anonymous client on the network would be."""
    root: Path = tmp_path_factory.mktemp("flood")
    port = free_port()
    c = Cluster(root=root, port=port, engine=engine, manager_args=["--listen", f"[::]:{port}"])
    try:
        c.start_manager()
        c.add_agent(1)
        c.add_agent(2)
        wait_for(lambda: c.all_ready(3), "3 ready nodes")
        yield c
    finally:
        c.stop()


def test_getca_flood_downs_no_node_and_a_join_still_succeeds(flooded: Cluster) -> None:
    """32 clients call GetCA in a loop for 20 s: they are limited as one peer, no node leaves
    Ready, and an agent that starts joining during the flood is Ready within 10 s."""
    c = flooded
    flood = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.flood", f"[::1]:{c.port + 1}",
         str(FLOOD_SECONDS), str(CLIENTS)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        seen: set[str] = set()
        start = time.monotonic()
        # Let the flood reach full speed before the newcomer starts.
        while time.monotonic() - start < 3:
            seen |= {n["Status"] for n in c.nodes()}
        c.add_agent(3)
        joined = time.monotonic()

        def newcomer_ready() -> bool:
            nodes = c.nodes()
            seen.update(n["Status"] for n in nodes if n["Hostname"] != "it-agent-3")
            return any(n["Hostname"] == "it-agent-3" and n["Status"] == "Ready" for n in nodes)

        wait_for(newcomer_ready, "the agent joined during the flood to be Ready", JOIN_WITHIN)
        assert time.monotonic() - joined <= JOIN_WITHIN
        while flood.poll() is None:
            seen |= {n["Status"] for n in c.nodes()}
        out, _ = flood.communicate(timeout=30)
    finally:
        if flood.poll() is None:
            flood.kill()
            flood.wait()
    counts = json.loads(out)
    # The flood was answered, and past its burst mostly refused, in one line each.
    assert counts.get("RESOURCE_EXHAUSTED", 0) > counts.get("OK", 0), counts
    assert set(counts) <= {"OK", "RESOURCE_EXHAUSTED"}, counts
    assert seen == {"Ready"}, f"a node left Ready during the flood: {seen} (flood: {counts})"
    assert c.all_ready(4)
