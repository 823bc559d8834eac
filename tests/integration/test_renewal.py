"""Certificates that expire in seconds, renewed while a service runs on a real engine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests.integration.cluster import Cluster, free_port
from tests.waiting import SLEEPER, wait_for


@pytest.fixture(scope="module")
def short_lived(
    engine: docker.APIClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    root: Path = tmp_path_factory.mktemp("short-lived")
    c = Cluster(root=root, port=free_port(), engine=engine, manager_args=["--cert-expiry", "4s"])
    try:
        c.start_manager()
        c.add_agent(1)
        wait_for(lambda: c.all_ready(2), "2 ready nodes")
        yield c
    finally:
        c.stop()


def test_renewal_keeps_sessions_and_containers(short_lived: Cluster) -> None:
    """With 4 s certificates the agent renews several times: its node stays ready, the
    containers keep their IDs, and new connections (the CLI) keep working."""
    c = short_lived
    c.ok(
        "service",
        "create",
        "-d",
        "--name",
        "steady",
        "--replicas",
        "2",
        "local/busybox:latest",
        *SLEEPER,
    )
    before = sorted(x["Id"] for x in wait_for(lambda: c.running("steady", 2), "2 running"))
    cert = c.root / "agent-1" / "cert.pem"
    seen = {cert.read_bytes()}

    def renewed_three_times() -> bool:
        seen.add(cert.read_bytes())
        return len(seen) >= 4

    wait_for(renewed_three_times, "three renewals", 30)
    assert c.all_ready(2)
    assert sorted(x["Id"] for x in c.containers("steady", running=False)) == before
    assert "session established" in c.agents[0].log_text()
    assert c.agents[0].log_text().count("session established") == 1
